"""Triggers rebuilt from ``serialize()`` after a triggerer was down, in two overlapping triggerer processes.

While no trigger ran, some requests were decided and some passed their deadline. Two processes then
rebuild the same triggers from their serialized kwargs, as Airflow does, and run them at once (as when a
triggerer restarts while the old one is still draining): decisions are found at the first tick, and each
overdue request is closed by exactly one ``expire_request`` while both report the same outcome.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.triggers.events import payload_from_state
from airflow_provider_instagram_hil.triggers.instagram import InstagramDecisionTrigger

from .support import OPTIONS, register_requests, scaled
from .workers import receive, run_trigger_set, start_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(scaled(240, 900))]

PER_KIND = scaled(15, 150)
#: Far beyond the test: whatever resolves did so at the first tick or at its deadline.
POLL_INTERVAL = 60.0
#: Long enough to register the live requests (PostgreSQL under load) before the triggers get them.
LIVE_DEADLINE = timedelta(seconds=scaled(3, 12))
TRIGGERERS = 2
COMPARED = ("status", "chosen_option", "responded_by", "responded_at", "timed_out", "error")


@pytest.fixture(scope="session")
def triggerers():
    """Two triggerer processes, warm (Airflow imported), shared by the SQLite and PostgreSQL runs."""
    workers = [start_worker(run_trigger_set, POLL_INTERVAL - 5) for _ in range(TRIGGERERS)]
    try:
        for _process, conn in workers:
            assert receive(conn, timeout=180) == "ready"
        yield workers
    finally:
        for process, conn in workers:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


class TestTriggererRestart:
    def test_rebuilt_triggers_resolve_each_request_once(self, triggerers, backend, backend_store, figures):
        store, rng, workers = backend_store, random.Random(), triggerers
        kinds = self._prepare(store, rng)
        # Deadlines both triggerers reach at the same instant, a moment after they start.
        live = register_requests(store, PER_KIND, expires_in=LIVE_DEADLINE)
        live_default = register_requests(store, PER_KIND, expires_in=LIVE_DEADLINE, default_option="Hold")
        kinds["live_deadline"] = [rid for rid, _ in live]
        kinds["live_deadline_default"] = [rid for rid, _ in live_default]
        all_ids = [rid for ids in kinds.values() for rid in ids]
        serialized = self._serialized(store, all_ids, backend.url)
        for _process, conn in workers:
            conn.send(serialized)
        sent_at = datetime.now(timezone.utc)
        results = [receive(conn, timeout=POLL_INTERVAL + 30) for _process, conn in workers]

        states = {rid: store.get_request(rid) for rid in all_ids}
        # The live deadlines lay ahead when the triggers got them: they really raced at the deadline.
        assert sent_at < min(states[rid].expires_at for rid in kinds["live_deadline"])
        expected = {rid: {k: payload_from_state(s.state)[k] for k in COMPARED} for rid, s in states.items()}
        expire_recorded: Counter[str] = Counter()
        for result in results:
            events = {event["request_id"]: event for event in result["events"]}
            assert len(result["events"]) == len(all_ids)
            assert events.keys() == set(all_ids)
            # Every event of every triggerer agrees with the store (and so with the other triggerer).
            mismatched = [rid for rid in all_ids if {k: events[rid][k] for k in COMPARED} != expected[rid]]
            assert mismatched == []
            for rid in kinds["decided_while_down"]:
                assert events[rid]["status"] == "decided"
                assert events[rid]["tick"] == 1
                assert events[rid]["elapsed"] < POLL_INTERVAL
            expire_recorded.update(rid for rid, outcome in result["expire_outcomes"] if outcome == "recorded")

        overdue = [
            rid
            for kind, ids in kinds.items()
            if kind not in ("decided_while_down", "decided_then_due")
            for rid in ids
        ]
        assert {rid: expire_recorded[rid] for rid in overdue} == dict.fromkeys(overdue, 1)
        assert not set(expire_recorded) - set(overdue)
        for rid in kinds["decided_while_down"] + kinds["decided_then_due"]:
            assert states[rid].status is RequestStatus.DECIDED
            assert not states[rid].timed_out
        for rid in kinds["due_while_down"] + kinds["live_deadline"]:
            assert states[rid].status is RequestStatus.EXPIRED
            assert states[rid].timed_out
        for rid in kinds["due_with_default"] + kinds["live_deadline_default"]:
            assert states[rid].chosen_option == "Hold"
            assert states[rid].timed_out
        assert store.maintenance.integrity_problems() == []

        scope = f"triggerer_restart[{backend.name}]"
        figures("triggers", len(all_ids) * TRIGGERERS, scope=scope)
        figures("events", sum(len(r["events"]) for r in results), scope=scope)
        figures("expire_calls", sum(len(r["expire_outcomes"]) for r in results), scope=scope)
        figures("expiries", sum(expire_recorded.values()), scope=scope)
        figures("first_tick_decisions", len(kinds["decided_while_down"]) * TRIGGERERS, scope=scope)

    @staticmethod
    def _prepare(store, rng: random.Random) -> dict[str, list[str]]:
        """Requests as a triggerer finds them after an outage."""
        decided = register_requests(store, PER_KIND)
        for rid, recipients in decided:
            store.record_decision(
                rid, option=rng.choice(OPTIONS), responder_id=recipients[-1], mid=f"m-{rid}"
            )
        past = timedelta(seconds=-30)
        decided_then_due = register_requests(store, PER_KIND, expires_in=past)
        for rid, recipients in decided_then_due:
            request = store.get_request(rid)
            assert request is not None
            store.record_decision(
                rid,
                option="Reject",
                responder_id=recipients[0],
                now=request.expires_at - timedelta(seconds=5),
            )
        return {
            "decided_while_down": [rid for rid, _ in decided],
            "decided_then_due": [rid for rid, _ in decided_then_due],
            "due_while_down": [rid for rid, _ in register_requests(store, PER_KIND, expires_in=past)],
            "due_with_default": [
                rid for rid, _ in register_requests(store, PER_KIND, expires_in=past, default_option="Hold")
            ],
        }

    @staticmethod
    def _serialized(store, request_ids: list[str], store_url: str) -> list[tuple[str, dict]]:
        """What Airflow stores for each deferred task: the trigger's ``serialize()`` output."""
        states = store.get_states(request_ids)  # one query: the live deadlines are close
        return [
            InstagramDecisionTrigger(
                request_id=rid,
                timeout_at=states[rid].expires_at,
                poll_interval=POLL_INTERVAL,
                store_url=store_url,
            ).serialize()
            for rid in request_ids
        ]
