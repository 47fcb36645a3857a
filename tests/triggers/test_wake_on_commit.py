"""Waking on commit: the store's watcher tells the shared poller what closed, so a decision reaches its
trigger in milliseconds, not at the next poll; and when the watcher fails, polling still finds it."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from airflow_provider_instagram_hil.store.engine import build_engine
from airflow_provider_instagram_hil.store.watch import Change, PostgresWatcher, SqliteWatcher, watcher_for
from airflow_provider_instagram_hil.triggers.poller import StorePoller

from .trigger_support import REVIEWER, wait_until

#: Far longer than any test: whatever resolves did so because the watcher said so.
NEVER = 600.0
#: What waking takes at most here (2 shared cores): the watcher's check, one read, the loop's turn.
WOKEN_WITHIN = 3.0


async def _decide_soon(store, request_id: str, poller: StorePoller, option: str = "Approve") -> float:
    """Record the decision once the poller waits for it: its first read is over (it starts once the
    watcher, if any, is ready), so that read cannot be what finds the decision."""
    await wait_until(lambda: poller.ticks >= 1, timeout=30)
    decided = time.monotonic()
    await asyncio.to_thread(store.record_decision, request_id, option=option, responder_id=REVIEWER)
    return decided


class TestWakeOnCommit:
    def test_a_decision_reaches_the_trigger_without_a_poll(self, store, shared_store, make_request):
        request = make_request(expires_in=NEVER)

        async def scenario():
            poller = StorePoller.for_store(shared_store)
            waiter = poller.add(request.request_id, NEVER)
            decided = await _decide_soon(store, request.request_id, poller)
            state = await asyncio.wait_for(waiter.future, NEVER)
            return state, time.monotonic() - decided, poller.full_reads

        state, waited, full_reads = asyncio.run(scenario())

        assert state.chosen_option == "Approve"
        assert waited < WOKEN_WITHIN
        assert full_reads == 1  # only the first read at start; the decision came by the watcher

    def test_without_a_watcher_polling_still_finds_it(self, store, shared_store, make_request):
        request = make_request(expires_in=NEVER)

        async def scenario():
            poller = StorePoller(shared_store, watcher=None)
            waiter = poller.add(request.request_id, 0.2)
            await _decide_soon(store, request.request_id, poller)
            state = await asyncio.wait_for(waiter.future, 30)
            poller.remove(waiter)
            return state, poller.full_reads

        state, full_reads = asyncio.run(scenario())

        assert state.chosen_option == "Approve"
        assert full_reads >= 2

    def test_a_lost_notification_is_found_at_the_next_poll(
        self, store, shared_store, make_request, monkeypatch
    ):
        # The decision commits, but nothing is announced: as if the notification were lost.
        from airflow_provider_instagram_hil.store import decisions

        monkeypatch.setattr(decisions, "announce_closed", lambda conn, request_id: None)
        request = make_request(expires_in=NEVER)

        async def scenario():
            poller = StorePoller(shared_store, watcher=_Silent())
            waiter = poller.add(request.request_id, 0.5)
            await _decide_soon(store, request.request_id, poller)
            return await asyncio.wait_for(waiter.future, 30)

        assert asyncio.run(scenario()).chosen_option == "Approve"


class _Silent:
    """A watcher that watches and never says anything."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()

    async def run(self, on_change) -> None:
        self.ready.set()
        await asyncio.Event().wait()


class TestSqliteWatcher:
    @pytest.fixture
    def store_url(self, sqlite_url):
        return sqlite_url

    def test_reports_commits_of_other_connections(self, sqlite_url, store):
        store.ensure_schema()
        watcher = watcher_for(store)
        assert isinstance(watcher, SqliteWatcher)

        async def scenario():
            seen: asyncio.Queue = asyncio.Queue()
            task = asyncio.ensure_future(watcher.run(seen.put_nowait))
            await asyncio.wait_for(watcher.ready.wait(), 10)
            assert seen.empty()
            engine = build_engine(sqlite_url)  # another process, say
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS unrelated (x INTEGER)"))
            engine.dispose()
            change = await asyncio.wait_for(seen.get(), 10)
            task.cancel()
            return change

        assert asyncio.run(scenario()) is Change.RECENT


@pytest.mark.postgres
class TestPostgresWatcher:
    @pytest.fixture
    def store_url(self, postgres_url):
        return postgres_url

    def test_names_what_closed_and_survives_a_dropped_connection(self, store, make_request):
        request = make_request(expires_in=NEVER)
        later = make_request(expires_in=NEVER)
        watcher = watcher_for(store)
        assert isinstance(watcher, PostgresWatcher)

        async def scenario():
            seen: asyncio.Queue = asyncio.Queue()
            task = asyncio.ensure_future(watcher.run(seen.put_nowait))
            await asyncio.wait_for(watcher.connected.wait(), 20)
            await asyncio.to_thread(
                store.record_decision, request.request_id, option="Approve", responder_id=REVIEWER
            )
            first = await asyncio.wait_for(seen.get(), 10)
            # Someone (a failover, an admin) drops the listener's connection.
            await asyncio.to_thread(_terminate_listener, store, watcher.channel)
            reconnected = await asyncio.wait_for(seen.get(), 30)
            await asyncio.wait_for(watcher.connected.wait(), 30)
            await asyncio.to_thread(store.cancel_request, later.request_id, "test")
            named = await asyncio.wait_for(_next_id(seen), 10)
            task.cancel()
            return first, reconnected, named

        first, reconnected, named = asyncio.run(scenario())

        assert first == request.request_id
        assert reconnected is Change.ALL  # what closed meanwhile is read in full
        assert named == later.request_id


async def _next_id(seen: asyncio.Queue):
    while True:
        what = await seen.get()
        if isinstance(what, str):
            return what


def _terminate_listener(store, channel: str) -> None:
    with store.engine.connect() as conn:
        ended = conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = :listen"),
            {"listen": f'LISTEN "{channel}"'},
        ).all()
        conn.commit()
    assert len(ended) == 1
