"""One store poller per (store, event loop): every waiting trigger shares one query per read.

A triggerer process may hold thousands of deferred approval tasks. Instead of one query per trigger per
interval, the triggers register their request ids here and one background task reads the state of all
of them with ``DecisionStore.get_states(ids, resolved_only=True)``.

It reads when told: a watcher of the store (``store/watch.py``: PostgreSQL ``LISTEN``, SQLite's
``data_version``) reports closes as they commit, and the poller reads just those requests (PostgreSQL
names them; on SQLite, those closed since the last read, one indexed query), within milliseconds. It also
reads every waiting id every ``poll_interval`` whatever it was told, so a lost notification or a listener
that is down only costs time, never a decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from airflow_provider_instagram_hil.store import DecisionStore, RequestState
from airflow_provider_instagram_hil.store.watch import Change, Watcher, watcher_for

log = logging.getLogger(__name__)

#: Longest pause between two attempts while the store keeps failing.
MAX_BACKOFF_SECONDS = 60.0
#: Reads prompted by the watcher are at least this far apart, so a burst of closes is read in a few
#: queries instead of one per close.
MIN_READ_GAP_SECONDS = 0.02
#: How far before the previous read a "closed since" read looks: covers a commit that waited for a lock
#: after stamping its time (the store's lock timeout is 2 s by default).
RECENT_MARGIN = timedelta(seconds=5)
#: How long the first read waits for the watcher to start watching.
WATCHER_START_SECONDS = 2.0


@dataclass(eq=False)
class Waiter:
    """One trigger waiting for one request; its future receives the request's resolved state."""

    request_id: str
    poll_interval: float
    future: asyncio.Future[RequestState] = field(repr=False)


class StorePoller:
    """Resolve waiters' futures when their requests leave ``pending``.

    Get the shared instance with :meth:`for_store`. The background task starts with the first waiter,
    reads at once (a decision recorded while the triggerer was down is found without delay), then
    whenever the watcher reports a change and at least every ``poll_interval`` (the smallest among the
    waiters); it stops when the last waiter leaves. A failing read is logged and retried with exponential
    backoff; waiters are not failed by it (each trigger owns its own deadline).

    :param store: the decision store to read.
    :param watcher: reports changes as they commit; None polls only. Default: the store's own.
    """

    _instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, StorePoller]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, store: DecisionStore, watcher: Watcher | None = None) -> None:
        self.store = store
        self.watcher = watcher
        self._waiters: dict[str, set[Waiter]] = {}
        self._task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        # What the watcher reported since the last read: ids it named, commits it could not name
        # (``_read_recent``: read what closed since the last read), or anything (``_read_all``).
        self._named: set[str] = set()
        self._read_recent = False
        self._read_all = False
        self._last_read_at: datetime | None = None
        self.ticks = 0
        self.full_reads = 0

    @classmethod
    def for_store(cls, store: DecisionStore) -> StorePoller:
        """Return the poller of ``store``'s URL in the running event loop, creating it on first use."""
        loop = asyncio.get_running_loop()
        pollers = cls._instances.setdefault(loop, {})
        poller = pollers.get(store.url)
        if poller is None:
            poller = pollers[store.url] = cls(store, watcher_for(store))
        return poller

    @property
    def waiting_ids(self) -> frozenset[str]:
        """Request ids that have at least one waiter."""
        return frozenset(self._waiters)

    @property
    def running(self) -> bool:
        """Whether the background task is alive."""
        return self._task is not None and not self._task.done()

    def add(self, request_id: str, poll_interval: float) -> Waiter:
        """Register a waiter for ``request_id``; the poller starts if it was idle."""
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}")
        waiter = Waiter(request_id, poll_interval, asyncio.get_running_loop().create_future())
        self._waiters.setdefault(request_id, set()).add(waiter)
        if not self.running:
            loop = asyncio.get_running_loop()
            self._read_all = True
            self._task = loop.create_task(self._run(), name=f"ighil-store-poller:{self.store.display_url}")
            if self.watcher is not None and (self._watch_task is None or self._watch_task.done()):
                self._watch_task = loop.create_task(
                    self.watcher.run(self.changed), name=f"ighil-store-watcher:{self.store.display_url}"
                )
        else:
            self._changed.set()  # a shorter interval may apply from now on
        return waiter

    def remove(self, waiter: Waiter) -> None:
        """Unregister ``waiter`` (idempotent); the poller stops when nobody is left."""
        group = self._waiters.get(waiter.request_id)
        if group is not None:
            group.discard(waiter)
            if not group:
                del self._waiters[waiter.request_id]
        if not waiter.future.done():
            waiter.future.cancel()
        self._changed.set()

    def changed(self, what: str | Change) -> None:
        """The watcher's callback: a request id that may have closed, or a :class:`Change`."""
        if what is Change.ALL:
            self._read_all = True
        elif what is Change.RECENT:
            self._read_recent = True
        elif what in self._waiters:
            self._named.add(what)
        else:
            return  # another triggerer's request
        self._changed.set()

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        last_full = float("-inf")
        if self.watcher is not None:
            # Watch before the first read, so nothing closing in between waits for the next poll.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.watcher.ready.wait(), WATCHER_START_SECONDS)
        try:
            while self._waiters:
                started = loop.time()
                full = self._read_all or started - last_full >= self._interval()
                try:
                    await self._tick(full=full)
                except Exception as exc:
                    failures += 1
                    delay = min(self._interval() * 2**failures, MAX_BACKOFF_SECONDS)
                    log.warning(
                        "Decision store %s: poll of %d request(s) failed (%s, attempt %d); retry in %.1f s",
                        self.store.display_url,
                        len(self._waiters),
                        type(exc).__name__,
                        failures,
                        delay,
                    )
                    self._read_all = True
                    await self._sleep_until(started + delay, backing_off=True, last_read=started)
                    continue
                if failures:
                    log.info(
                        "Decision store %s reachable again after %d failure(s)",
                        self.store.display_url,
                        failures,
                    )
                failures = 0
                if full:
                    last_full = started  # the period is the interval, not the interval plus the read
                await self._sleep_until(last_full + self._interval(), backing_off=False, last_read=started)
        finally:
            self._task = None
            if self._watch_task is not None and not self._waiters:
                self._watch_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._watch_task
                self._watch_task = None

    async def _tick(self, *, full: bool) -> None:
        """Read every waiting id (``full``), or only what the watcher reported since the last read."""
        started = datetime.now(timezone.utc)
        if full or self._read_all:
            self._read_all = self._read_recent = False
            ids, self._named = list(self._waiters), set()
            self.full_reads += 1
            states = await self._states(ids)
        else:
            named, self._named = [i for i in self._named if i in self._waiters], set()
            states = await self._states(named)
            if self._read_recent:
                self._read_recent = False
                since = (self._last_read_at or started) - RECENT_MARGIN
                closed = await asyncio.to_thread(self.store.closed_since, since)
                states.update((rid, state) for rid, state in closed.items() if rid in self._waiters)
        self.ticks += 1
        self._last_read_at = started
        for request_id, state in states.items():
            for waiter in self._waiters.pop(request_id, ()):
                if not waiter.future.done():
                    waiter.future.set_result(state)

    async def _states(self, ids: list[str]) -> dict[str, RequestState]:
        if not ids:
            return {}
        return await asyncio.to_thread(self.store.get_states, ids, resolved_only=True)

    async def _sleep_until(self, deadline: float, *, backing_off: bool, last_read: float) -> None:
        """Sleep until ``deadline``; return early when the watcher reported a change (not while backing
        off), to stop when idle, or when a waiter with a shorter interval moved the deadline closer."""
        loop = asyncio.get_running_loop()
        while self._waiters:
            if not backing_off and (self._named or self._read_recent or self._read_all):
                # Coalesce a burst of closes into a few reads.
                await asyncio.sleep(max(0.0, last_read + MIN_READ_GAP_SECONDS - loop.time()))
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=remaining)
            self._changed.clear()
            if not backing_off:
                # A waiter added meanwhile (even during the read) may poll faster.
                deadline = min(deadline, last_read + self._interval())

    def _interval(self) -> float:
        return min((w.poll_interval for group in self._waiters.values() for w in group), default=1.0)
