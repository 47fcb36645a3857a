"""One store poller per (store, event loop): every waiting trigger shares a single query per tick.

A triggerer process may hold thousands of deferred approval tasks. Instead of one query per trigger
per interval, the triggers register their request ids here and one background task reads the state of
all of them with ``DecisionStore.get_states(ids, resolved_only=True)`` every tick.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field

from airflow_provider_instagram_hil.store import DecisionStore, RequestState

log = logging.getLogger(__name__)

#: Longest pause between two attempts while the store keeps failing.
MAX_BACKOFF_SECONDS = 60.0


@dataclass(eq=False)
class Waiter:
    """One trigger waiting for one request; its future receives the request's resolved state."""

    request_id: str
    poll_interval: float
    future: asyncio.Future[RequestState] = field(repr=False)


class StorePoller:
    """Resolve waiters' futures when their requests leave ``pending``, with one query per tick.

    Get the shared instance with :meth:`for_store`. The background task starts with the first waiter,
    ticks at once (a decision recorded while the triggerer was down is found without delay), then every
    ``poll_interval`` (the smallest among the waiters), and stops when the last waiter leaves. A failing
    tick is logged and retried with exponential backoff; waiters are not failed by it (each trigger owns
    its own deadline).

    :param store: the decision store to read.
    """

    _instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, StorePoller]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, store: DecisionStore) -> None:
        self.store = store
        self._waiters: dict[str, set[Waiter]] = {}
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.ticks = 0

    @classmethod
    def for_store(cls, store: DecisionStore) -> StorePoller:
        """Return the poller of ``store``'s URL in the running event loop, creating it on first use."""
        loop = asyncio.get_running_loop()
        pollers = cls._instances.setdefault(loop, {})
        poller = pollers.get(store.url)
        if poller is None:
            poller = pollers[store.url] = cls(store)
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
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"ighil-store-poller:{self.store.display_url}"
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

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while self._waiters:
            delay = self._interval()
            started = loop.time()
            try:
                await self._tick()
            except Exception as exc:
                failures += 1
                delay = min(delay * 2**failures, MAX_BACKOFF_SECONDS)
                log.warning(
                    "Decision store %s: poll of %d request(s) failed (%s, attempt %d); retrying in %.1f s",
                    self.store.display_url,
                    len(self._waiters),
                    type(exc).__name__,
                    failures,
                    delay,
                )
            else:
                if failures:
                    log.info(
                        "Decision store %s reachable again after %d failure(s)",
                        self.store.display_url,
                        failures,
                    )
                failures = 0
            # The period is the interval, not the interval plus the tick: a slow tick eats into the pause.
            await self._sleep(delay, backing_off=failures > 0, since=started)
        self._task = None

    async def _tick(self) -> None:
        ids = list(self._waiters)
        self.ticks += 1
        states = await asyncio.to_thread(self.store.get_states, ids, resolved_only=True)
        for request_id, state in states.items():
            for waiter in self._waiters.pop(request_id, ()):
                if not waiter.future.done():
                    waiter.future.set_result(state)

    async def _sleep(self, delay: float, *, backing_off: bool, since: float) -> None:
        """Sleep until ``delay`` seconds after ``since``; wake early to stop when idle or to adopt a
        shorter interval."""
        loop = asyncio.get_running_loop()
        start = since
        while self._waiters:
            if not backing_off:
                # Re-read on every wake-up: a waiter added meanwhile (even during the tick) may poll faster.
                delay = min(delay, self._interval())
            remaining = start + delay - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=remaining)
            except asyncio.TimeoutError:
                return
            self._changed.clear()

    def _interval(self) -> float:
        return min((w.poll_interval for group in self._waiters.values() for w in group), default=1.0)
