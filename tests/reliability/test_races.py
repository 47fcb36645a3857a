"""Races: approve and reject for one request from many threads and processes at once, and a tap at the
very instant of the deadline. Exactly one outcome each time, and the reviewers are told the truth."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests

from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.webhook.signature import sign_body

from .support import new_tap, register_requests, scaled, signed_headers, tap_body
from .workers import SPAWN, post_taps, race_deadline, receive, start_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(scaled(240, 1200))]

ROUNDS = scaled(5, 60)
PROCESSES = 2
THREADS_PER_PROCESS = 4
LOCAL_THREADS = 8
TAPS_PER_ROUND = 2 * (PROCESSES * THREADS_PER_PROCESS + LOCAL_THREADS)
DEADLINE_RACES = scaled(200, 2000)


def _post_locally(
    url: str, secret: str, bodies: list[tuple[str, bytes]], go: threading.Event, out: list
) -> None:
    with requests.Session() as session:
        go.wait(timeout=60)
        for mid, body in bodies:
            response = session.post(url, data=body, headers=signed_headers(body, secret), timeout=30)
            recorded = response.json().get("recorded") if response.status_code == 200 else None
            out.append((mid, response.status_code, recorded))


class TestApproveRejectRace:
    def test_one_outcome_and_matching_replies(self, live_webhook, backend, backend_store, figures):
        workers = [start_worker(post_taps, live_webhook.url, THREADS_PER_PROCESS) for _ in range(PROCESSES)]
        outcomes: Counter[str] = Counter()
        try:
            for _process, conn in workers:
                assert receive(conn, timeout=120) == "ready"
            for _round in range(ROUNDS):
                outcomes[self._round(live_webhook, backend_store, workers)] += 1
        finally:
            for process, conn in workers:
                conn.send(None)
                conn.close()
                process.join(timeout=30)
        assert sum(outcomes.values()) == ROUNDS
        scope = f"race_http[{backend.name}]"
        figures("rounds", ROUNDS, scope=scope)
        figures("taps", ROUNDS * TAPS_PER_ROUND, scope=scope)
        figures("processes", PROCESSES + 1, scope=scope)
        for option, count in outcomes.items():
            figures(f"won_{option.lower()}", count, scope=scope)

    @staticmethod
    def _round(live, store, workers) -> str:
        url, secret = live.url, live.app_secret
        ((request_id, reviewers),) = register_requests(store, 1, recipients_per_request=4)
        taps = [
            new_tap(request_id, ("Approve", "Reject")[n % 2], reviewers[n % len(reviewers)])
            for n in range(TAPS_PER_ROUND)
        ]
        by_mid = {tap.mid: tap for tap in taps}
        bodies = [(tap.mid, tap_body([tap])) for tap in taps]
        shares = [bodies[n :: PROCESSES + 1] for n in range(PROCESSES + 1)]  # the last share is ours
        for (_process, conn), share in zip(workers, shares[:-1], strict=True):
            conn.send([(body.decode(), sign_body(body, secret)) for _mid, body in share])
        for _process, conn in workers:
            assert receive(conn, timeout=60) == "ready"
        go, local_results = threading.Event(), []
        threads = [
            threading.Thread(
                target=_post_locally, args=(url, secret, shares[-1][n::LOCAL_THREADS], go, local_results)
            )
            for n in range(LOCAL_THREADS)
        ]
        for thread in threads:
            thread.start()
        for _process, conn in workers:
            conn.send("go")
        go.set()
        results = [tuple(result) for _process, conn in workers for result in receive(conn, timeout=120)]
        for thread in threads:
            thread.join(timeout=120)
        results += local_results

        assert len(results) == TAPS_PER_ROUND
        assert {status for _mid, status, _recorded in results} == {200}
        winners = [by_mid[mid] for mid, _status, recorded in results if recorded == 1]
        assert len(winners) == 1
        assert sum(recorded for *_rest, recorded in results) == 1
        (winner,) = winners
        decided = store.get_request(request_id)
        assert decided.status is RequestStatus.DECIDED
        assert (decided.chosen_option, decided.responded_by, [r.mid for r in decided.responses]) == (
            winner.option,
            winner.sender,
            [winner.mid],
        )

        # Every tap is answered in the chat: the winner with "Recorded", everyone else "already answered".
        replies = live.replies_to(set(reviewers), TAPS_PER_ROUND)
        texts = Counter((m["recipient_id"], m["text"]) for m in replies)
        recorded_texts = [(who, text) for (who, text) in texts.elements() if text.startswith("✅")]
        assert recorded_texts == [(winner.sender, f"✅ Recorded: {winner.option}. Thank you.")]
        others = Counter(text for (who, text) in texts.elements() if not text.startswith("✅"))
        own = sum(1 for who, text in texts.elements() if who == winner.sender and not text.startswith("✅"))
        expected = {
            f"This request was already answered by another reviewer: {winner.option}.": TAPS_PER_ROUND
            - 1
            - own
        }
        if own:
            expected[f"You already answered this request: {winner.option}."] = own
        assert others == {text: n for text, n in expected.items() if n}
        return winner.option


class TestTapAtTheDeadline:
    def test_tap_or_timeout_never_both(self, backend, backend_store, figures):
        store = backend_store
        plain = register_requests(store, DEADLINE_RACES // 2)
        with_default = register_requests(store, DEADLINE_RACES - len(plain), default_option="Hold")
        items = []
        for n, (rid, recipients) in enumerate(plain + with_default):
            request = store.get_request(rid)
            items.append((rid, recipients[0], ("Approve", "Reject")[n % 2], request.expires_at.isoformat()))
        barrier = SPAWN.Barrier(2)
        workers = [start_worker(race_deadline, backend.url, parity, barrier) for parity in (0, 1)]
        try:
            for _process, conn in workers:
                assert receive(conn, timeout=120) == "ready"
            for _process, conn in workers:
                conn.send(items)
            results = [result for _process, conn in workers for result in receive(conn, timeout=600)]
        finally:
            for process, conn in workers:
                conn.close()
                process.join(timeout=30)

        by_request: dict[str, dict[str, str]] = {}
        for rid, kind, outcome in results:
            by_request.setdefault(rid, {})[kind] = outcome
        assert len(by_request) == len(items)
        defaults = {rid for rid, _ in with_default}
        won = Counter()
        for rid, responder, option, _deadline in items:
            outcome = by_request[rid]
            state = store.get_request(rid)
            if outcome["tap"] == "recorded":
                assert outcome["expire"] == "already_decided", (rid, outcome)
                assert (state.status, state.chosen_option, state.responded_by, state.timed_out) == (
                    RequestStatus.DECIDED,
                    option,
                    responder,
                    False,
                )
                won["tap"] += 1
            else:
                assert outcome == {"tap": "expired", "expire": "recorded"}, (rid, outcome)
                assert state.timed_out
                assert state.responded_by is None
                assert state.chosen_option == ("Hold" if rid in defaults else None)
                won["timeout"] += 1
        assert store.maintenance.integrity_problems() == []
        scope = f"race_deadline[{backend.name}]"
        figures("races", len(items), scope=scope)
        figures("tap_won", won["tap"], scope=scope)
        figures("timeout_won", won["timeout"], scope=scope)
