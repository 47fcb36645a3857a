"""kill -9 the real webhook process again and again during a burst of signed decisions.

Senders retry every delivery that did not get a 200, as Meta does, and the webhook comes back on the same
port. Afterwards every request holds exactly the one decision that was tapped, and every redelivery of a
committed tap is a no-op answered as a duplicate.
"""

from __future__ import annotations

import queue
import random
import threading
import time

import pytest
import requests
from sqlalchemy import select

from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.store.schema import requests as requests_table

from .live import Delivery, RetryingSender
from .support import OPTIONS, TapSpec, new_tap, register_requests, scaled, signed_headers, tap_body

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(scaled(300, 1800))]

DECISIONS = scaled(300, 2000)
KILLS = scaled(2, 8)
SENDERS = 6
REDELIVERIES = scaled(40, 300)
LATE_OUTCOMES = (
    "already_decided",
    "expired",
    "cancelled",
    "not_allowed",
    "unknown_request",
    "invalid_option",
)


def _plan(requests_made: list[tuple[str, tuple[str, ...]]], rng: random.Random) -> list[Delivery]:
    """One tap per request, by one of its reviewers, with a random option; 1 to 3 taps per delivery."""
    taps = [new_tap(rid, rng.choice(OPTIONS), rng.choice(recipients)) for rid, recipients in requests_made]
    deliveries: list[Delivery] = []
    while taps:
        size = rng.choice((1, 1, 1, 2, 3))
        deliveries.append(Delivery(taps[:size]))
        del taps[:size]
    return deliveries


def _rows(store) -> dict[str, tuple]:
    columns = requests_table.c
    query = select(
        columns.request_id,
        columns.status,
        columns.chosen_option,
        columns.responded_by,
        columns.decision_mid,
        columns.responded_at,
    )
    with store.engine.connect() as conn:
        return {row.request_id: tuple(row) for row in conn.execute(query)}


def _confirmations(live, store, reviewers: set[str]) -> int:
    """How many "Recorded" replies the burst's reviewers got, once the reply queue has drained.

    A sentinel tap goes last; its reply arriving means the replies queued before it were attempted.
    """
    ((request_id, (sentinel, _other)),) = register_requests(store, 1)
    body = tap_body([new_tap(request_id, "Approve", sentinel)])
    assert requests.post(live.url, data=body, headers=signed_headers(body, live.app_secret), timeout=15).ok
    live.replies_to({sentinel}, 1)
    return sum(m["text"].startswith("✅") for m in live.graph.messages if m["recipient_id"] in reviewers)


class TestKillDuringBurst:
    def test_every_request_gets_exactly_its_one_decision(self, live_webhook, backend, backend_store, figures):
        seed = random.randrange(2**32)
        rng = random.Random(seed)
        outcomes_before = live_webhook.outcome_counts()  # the webhook is shared with other tests
        dropped_before = live_webhook.output().count("Dropped the reply")
        made = register_requests(backend_store, DECISIONS)
        deliveries = _plan(made, rng)
        work: queue.Queue[Delivery] = queue.Queue()
        for delivery in deliveries:
            work.put(delivery)
        server_up = threading.Event()
        server_up.set()
        sender = RetryingSender(live_webhook.url, live_webhook.app_secret, server_up)
        failures: list[BaseException] = []
        in_flight_at_kill: list[int] = []

        def send_all() -> None:
            with requests.Session() as session:
                while True:
                    try:
                        delivery = work.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        sender.deliver(session, delivery)
                    except BaseException as exc:  # surfaced in the main thread
                        failures.append(exc)

        def kill_and_restart() -> None:
            try:
                for k in range(1, KILLS + 1):
                    if not sender.wait_for_acknowledged(DECISIONS * k // (KILLS + 1), timeout=120):
                        raise TimeoutError(f"burst stalled before kill {k}")
                    server_up.clear()
                    in_flight_at_kill.append(sender.in_flight)
                    live_webhook.kill()
                    live_webhook.restart()
                    server_up.set()
            except BaseException as exc:
                failures.append(exc)
                server_up.set()

        started = time.monotonic()
        threads = [threading.Thread(target=send_all, name=f"sender-{n}") for n in range(SENDERS)]
        threads.append(threading.Thread(target=kill_and_restart, name="killer"))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=scaled(240, 1500))
        assert not any(thread.is_alive() for thread in threads), "a sender or the killer hung"
        assert failures == []
        burst_seconds = time.monotonic() - started

        unacknowledged = [d for d in deliveries if d.status != 200]
        assert unacknowledged == [], f"seed {seed}: {unacknowledged[:3]}"
        assert len(in_flight_at_kill) == KILLS

        rows = _rows(backend_store)
        expected: dict[str, TapSpec] = {tap.request_id: tap for d in deliveries for tap in d.taps}
        assert set(rows) >= set(expected)
        wrong = [
            (rid, rows[rid])
            for rid, tap in expected.items()
            if rows[rid][1:5] != (RequestStatus.DECIDED.value, tap.option, tap.sender, tap.mid)
        ]
        assert wrong == [], f"seed {seed}: {len(wrong)} requests hold the wrong decision, e.g. {wrong[:3]}"
        assert backend_store.integrity_problems() == []
        assert backend_store.get_states(list(expected), resolved_only=True).keys() == expected.keys()

        # At-least-once delivery: Meta may send any acknowledged delivery again. Each one is a no-op.
        sample = random.Random(seed).sample(deliveries, min(REDELIVERIES, len(deliveries)))
        before = _rows(backend_store)
        with requests.Session() as session:
            for delivery in sample:
                response = session.post(
                    live_webhook.url,
                    data=delivery.body,
                    headers=signed_headers(delivery.body, live_webhook.app_secret),
                    timeout=15,
                )
                assert response.status_code == 200
                assert response.json() == {"status": "ok", "events": len(delivery.taps), "recorded": 0}
        assert _rows(backend_store) == before

        outcomes = {
            name: count - outcomes_before.get(name, 0)
            for name, count in live_webhook.outcome_counts().items()
            if count > outcomes_before.get(name, 0)
        }
        redelivered_taps = sum(len(d.taps) for d in sample)
        unrecorded_in_acks = sum(len(d.taps) - (d.recorded or 0) for d in deliveries)
        # Every tap of an acknowledged delivery that did not record was a duplicate, never a refusal.
        assert outcomes.get("duplicate", 0) >= unrecorded_in_acks + redelivered_taps
        assert {name: outcomes[name] for name in LATE_OUTCOMES if name in outcomes} == {}
        # A process killed after its commit logs nothing: at most one "recorded" line per decision.
        assert outcomes.get("recorded", 0) <= DECISIONS
        confirmed = _confirmations(live_webhook, backend_store, {tap.sender for tap in expected.values()})

        scope = f"crash[{backend.name}]"
        for name, value in {
            "decisions": DECISIONS,
            "deliveries": len(deliveries),
            "acknowledged": sum(d.status == 200 for d in deliveries),
            "attempts": sum(d.attempts for d in deliveries),
            "retries": sender.retries,
            "kills": KILLS,
            "in_flight_at_kill": sum(in_flight_at_kill),
            "duplicates": outcomes.get("duplicate", 0),
            "dup_in_retries": unrecorded_in_acks,
            "redelivered": len(sample),
            "http_5xx": sum(error.startswith("HTTP 5") for d in deliveries for error in d.errors),
            "replies_dropped": live_webhook.output().count("Dropped the reply") - dropped_before,
            # A tap committed just before a kill is redelivered as a silent duplicate: no "Recorded" reply.
            "unconfirmed": DECISIONS - confirmed,
            "burst_s": round(burst_seconds, 1),
            "seed": seed,
        }.items():
            figures(name, value, scope=scope)
