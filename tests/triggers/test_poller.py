"""The shared StorePoller: one query per tick for every waiting trigger, waiters leave on cancel."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time

import pytest
from sqlalchemy import event

from airflow_provider_instagram_hil.exceptions import StoreUnavailableError
from airflow_provider_instagram_hil.triggers.instagram import InstagramDecisionTrigger
from airflow_provider_instagram_hil.triggers.poller import StorePoller

from .trigger_support import REVIEWER, wait_until


def trigger_for(request, store_url, poll_interval: float) -> InstagramDecisionTrigger:
    return InstagramDecisionTrigger(request.request_id, request.expires_at, poll_interval, store_url)


def _ids_asked(parameters) -> set[str]:
    """The request ids one statement asks about: the store sends them as one JSON text (SQLite), one
    array (PostgreSQL) or one placeholder each (other databases)."""
    values = parameters.values() if isinstance(parameters, dict) else parameters
    ids: set[str] = set()
    for value in values:
        if isinstance(value, str) and value.startswith("["):
            ids.update(json.loads(value))
        elif isinstance(value, list):
            ids.update(value)
        elif isinstance(value, str):
            ids.add(value)
    return ids


class TestStorePoller:
    def test_fifty_triggers_share_one_select_per_tick(
        self, store, store_url, shared_store, make_request, first_event
    ):
        requests = [make_request() for _ in range(50)]
        selects: list[int] = []

        @event.listens_for(shared_store.engine, "before_cursor_execute")
        def count(conn, cursor, statement, parameters, context, executemany):
            if "ighil_requests" in statement:
                assert statement.lstrip().upper().startswith("SELECT")
                selects.append(len(_ids_asked(parameters)))

        async def scenario():
            waiting = [
                asyncio.ensure_future(first_event(trigger_for(r, store_url, poll_interval=0.05)))
                for r in requests
            ]
            poller = StorePoller.for_store(shared_store)
            await wait_until(lambda: len(poller.waiting_ids) == 50)
            await wait_until(lambda: poller.ticks >= 5)  # several ticks with all fifty waiting
            for r in requests:
                await asyncio.to_thread(
                    store.record_decision, r.request_id, option="Approve", responder_id=REVIEWER
                )
            payloads = [(await w).payload for w in waiting]
            await wait_until(lambda: not poller.running)
            return poller.ticks, payloads

        try:
            ticks, payloads = asyncio.run(scenario())
        finally:
            event.remove(shared_store.engine, "before_cursor_execute", count)
        assert {p["status"] for p in payloads} == {"decided"}
        assert ticks >= 5
        assert len(selects) == ticks  # one SELECT per tick, whatever the number of waiters
        assert max(selects) >= 50  # ... and that SELECT asks about all of them

    def test_waiters_are_removed_on_cancel_and_the_poller_stops(
        self, store_url, shared_store, make_request, first_event
    ):
        requests = [make_request() for _ in range(5)]

        async def scenario():
            tasks = [
                asyncio.ensure_future(first_event(trigger_for(r, store_url, poll_interval=0.05)))
                for r in requests
            ]
            poller = StorePoller.for_store(shared_store)
            await wait_until(lambda: len(poller.waiting_ids) == 5)
            for task in tasks[:2]:
                task.cancel()
            await asyncio.gather(*tasks[:2], return_exceptions=True)
            assert poller.waiting_ids == {r.request_id for r in requests[2:]}
            assert poller.running
            for task in tasks[2:]:
                task.cancel()
            await asyncio.gather(*tasks[2:], return_exceptions=True)
            assert poller.waiting_ids == frozenset()
            await wait_until(lambda: not poller.running, timeout=1.0)

        asyncio.run(scenario())

    def test_a_shorter_interval_applies_at_once(
        self, store, store_url, shared_store, make_request, first_event
    ):
        slow, fast = make_request(), make_request()

        async def scenario():
            slow_task = asyncio.ensure_future(first_event(trigger_for(slow, store_url, poll_interval=60.0)))
            poller = StorePoller.for_store(shared_store)
            await wait_until(lambda: poller.ticks >= 1)
            fast_task = asyncio.ensure_future(first_event(trigger_for(fast, store_url, poll_interval=0.05)))
            await wait_until(lambda: fast.request_id in poller.waiting_ids)
            store.record_decision(fast.request_id, option="Reject", responder_id=REVIEWER)
            started = time.monotonic()
            payload = (await fast_task).payload
            elapsed = time.monotonic() - started
            slow_task.cancel()
            await asyncio.gather(slow_task, return_exceptions=True)
            return payload, elapsed

        payload, elapsed = asyncio.run(scenario())
        assert payload["chosen_option"] == "Reject"
        assert elapsed < 2.0

    def test_a_waiter_added_during_a_tick_gets_its_shorter_interval(
        self, monkeypatch, store, shared_store, make_request
    ):
        slow, fast = make_request(), make_request()
        in_tick, release = threading.Event(), threading.Event()
        real = shared_store.get_states

        def held(ids, **kwargs):
            in_tick.set()
            release.wait(5.0)
            return real(ids, **kwargs)

        monkeypatch.setattr(shared_store, "get_states", held)

        async def scenario():
            poller = StorePoller.for_store(shared_store)
            poller.add(slow.request_id, 60.0)
            await asyncio.to_thread(in_tick.wait, 5.0)
            fast_waiter = poller.add(fast.request_id, 0.05)  # joins while the first tick is in flight
            release.set()
            # The held tick is over: only a later one, at the new waiter's interval, can see the decision.
            await wait_until(lambda: poller.ticks >= 1)
            store.record_decision(fast.request_id, option="Approve", responder_id=REVIEWER)
            state = await asyncio.wait_for(fast_waiter.future, 2.0)
            for waiter_group in list(poller._waiters.values()):
                for waiter in list(waiter_group):
                    poller.remove(waiter)
            return state

        assert asyncio.run(scenario()).chosen_option == "Approve"

    def test_failing_ticks_back_off_and_recover(self, monkeypatch, caplog, shared_store, make_request, store):
        request = make_request()
        store.record_decision(request.request_id, option="Approve", responder_id=REVIEWER)
        real = shared_store.get_states
        calls: list[float] = []

        def flaky(ids, **kwargs):
            calls.append(time.monotonic())
            if len(calls) <= 3:
                raise StoreUnavailableError("Decision store is unavailable: OperationalError")
            return real(ids, **kwargs)

        monkeypatch.setattr(shared_store, "get_states", flaky)

        async def scenario():
            poller = StorePoller.for_store(shared_store)
            waiter = poller.add(request.request_id, 0.02)
            try:
                return await asyncio.wait_for(waiter.future, 5.0)
            finally:
                poller.remove(waiter)

        state = asyncio.run(scenario())
        assert state.chosen_option == "Approve"
        gaps = [b - a for a, b in itertools.pairwise(calls)]
        assert gaps[1] > gaps[0]  # exponential backoff between failed ticks
        assert "poll of 1 request(s) failed (StoreUnavailableError, attempt 1)" in caplog.text

    def test_one_poller_per_store_and_event_loop(self, shared_store):
        async def pollers():
            return StorePoller.for_store(shared_store), StorePoller.for_store(shared_store)

        first, same = asyncio.run(pollers())
        other, _ = asyncio.run(pollers())
        assert first is same
        assert other is not first

    def test_poll_interval_must_be_positive(self, shared_store):
        async def scenario():
            StorePoller.for_store(shared_store).add("abc", 0)

        with pytest.raises(ValueError, match="poll_interval"):
            asyncio.run(scenario())
