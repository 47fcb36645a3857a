"""kill -9 the real webhook process again and again during a burst of signed decisions.

Senders retry every delivery that did not get a 200, as Meta does, and the webhook comes back on the same
port. Afterwards every request holds exactly the one decision that was tapped, and every redelivery of a
committed tap is a no-op answered as a duplicate.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import select

from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.store.schema import requests as requests_table
from airflow_provider_instagram_hil.store.schema import responses as responses_table

from .live import Delivery, RetryingSender
from .support import OPTIONS, TapSpec, new_tap, register_requests, scaled, signed_headers

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(scaled(300, 1800))]

DECISIONS = scaled(300, 2000)
KILLS = scaled(2, 8)
SENDERS = 6
REDELIVERIES = scaled(40, 300)
#: What the webhook logs about a reply whose sender was killed mid-send: found in the conversation...
REACHED = "had reached Meta before its sender stopped"
#: ... or sent again.
RESENT = ("had not reached Meta when its sender stopped", "claimed by a sender that stopped mid-send")
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
    """Each request's status, decision, and the event id of the response that made it."""
    query = select(
        requests_table.c.request_id,
        requests_table.c.status,
        requests_table.c.chosen_option,
        requests_table.c.responded_by,
        responses_table.c.mid,
        requests_table.c.responded_at,
    ).select_from(
        requests_table.outerjoin(responses_table, responses_table.c.request_id == requests_table.c.request_id)
    )
    with store.engine.connect() as conn:
        return {row.request_id: tuple(row) for row in conn.execute(query)}


def _settle_outbox(live, store, timeout: float = 180.0) -> None:
    """Wait until no reply is left to send: every outbox row is sent (or given up).

    Rows a killed process had claimed come back once their lease (one minute) runs out. Each wait is
    for the sandbox's next message, never for a clock.
    """
    deadline = time.monotonic() + timeout
    while store.outbox.counts().get("pending", 0):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"replies still pending after {timeout:g} s: {store.outbox.counts()}")
        with contextlib.suppress(TimeoutError):
            live.graph.wait_for_messages(len(live.graph.messages) + 1, timeout=min(remaining, 5.0))


def _confirmations(live, store, reviewers: set[str]) -> Counter[str]:
    """How many "Recorded" replies each of the burst's reviewers got, once the outbox has settled."""
    _settle_outbox(live, store)
    return Counter(
        m["recipient_id"]
        for m in live.graph.messages
        if m["recipient_id"] in reviewers and m["text"].startswith("✅")
    )


class TestKillDuringBurst:
    def test_every_request_gets_exactly_its_one_decision(self, live_webhook, backend, backend_store, figures):
        seed = random.randrange(2**32)
        rng = random.Random(seed)
        outcomes_before = live_webhook.outcome_counts()  # the webhook is shared with other tests
        before = live_webhook.output()
        reached_before = before.count(REACHED)
        resent_before = sum(before.count(line) for line in RESENT)
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
        assert backend_store.maintenance.integrity_problems() == []
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
        reviewers = {tap.sender for tap in expected.values()}
        confirmations = _confirmations(live_webhook, backend_store, reviewers)
        # Every recorded response is confirmed exactly once, also when the process died after the commit.
        unconfirmed = sorted(reviewers - set(confirmations))
        duplicated = sum(count - 1 for count in confirmations.values())
        output = live_webhook.output()
        reached = output.count(REACHED) - reached_before
        in_doubt = reached + sum(output.count(line) for line in RESENT) - resent_before
        assert unconfirmed == [], (
            f"seed {seed}: {len(unconfirmed)} reviewers never heard their answer counted"
        )
        # A reply whose sender died after Meta took it is found in the conversation, not sent twice.
        assert duplicated == 0, f"seed {seed}: {duplicated} duplicate confirmations ({in_doubt} in doubt)"

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
            "confirmed": len(confirmations),
            "unconfirmed": len(unconfirmed),
            "confirmations_duplicated": duplicated,
            "replies_in_doubt": in_doubt,
            "in_doubt_found_sent": reached,
            "burst_s": round(burst_seconds, 1),
            "seed": seed,
        }.items():
            figures(name, value, scope=scope)
