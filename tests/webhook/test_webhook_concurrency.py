"""Several reviewers tapping one request at the same moment, through the HTTP endpoint."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from airflow_provider_instagram_hil.store import RequestStatus

from .webhook_support import IG_OTHER_REVIEWER, IG_REVIEWER, load_payload, post_signed

THREADS = 16


def _tap(request_id: str, n: int) -> bytes:
    """Tap ``n``: alternately approve and reject, alternately from two reviewers, each with its own mid."""
    option = ("approve", "reject")[n % 2]
    reviewer = (IG_REVIEWER, IG_OTHER_REVIEWER)[(n // 2) % 2]
    return (
        load_payload("instagram_quick_reply", request_id)
        .replace(f":{request_id}:approve".encode(), f":{request_id}:{option}".encode())
        .replace(IG_REVIEWER.encode(), reviewer.encode())
        .replace(b'"mid": "', f'"mid": "concurrent-{n}-'.encode())
    )


class TestConcurrentTaps:
    def test_exactly_one_recorded(self, app, hil_store, pending, sender, drain):
        request = pending()
        bodies = [_tap(request.request_id, n) for n in range(THREADS)]
        barrier = threading.Barrier(THREADS)

        def deliver(body: bytes):
            client = app.test_client()  # one client per thread, like separate Meta connections
            barrier.wait(timeout=30)
            return post_signed(client, body)

        with ThreadPoolExecutor(THREADS) as pool:
            responses = list(pool.map(deliver, bodies))

        assert [r.status_code for r in responses] == [200] * THREADS
        assert Counter(r.get_json()["recorded"] for r in responses) == {1: 1, 0: THREADS - 1}
        decided = hil_store.get_request(request.request_id)
        assert decided.status is RequestStatus.DECIDED
        (answer,) = decided.responses
        assert answer.mid.startswith("concurrent-")
        assert hil_store.maintenance.integrity_problems() == []
        drain()
        texts = Counter(text for _recipient, text in sender.sent)
        # Half the losing taps are the winner's own later taps, half the other reviewer's.
        assert texts == {
            f"✅ Recorded: {decided.chosen_option}. Thank you.": 1,
            f"You already answered this request: {decided.chosen_option}.": THREADS // 2 - 1,
            f"This request was already answered by another reviewer: {decided.chosen_option}.": THREADS // 2,
        }
        winner = next(recipient for recipient, text in sender.sent if text.startswith("✅"))
        assert winner == decided.responded_by

    def test_simultaneous_redeliveries_record_once(self, app, hil_store, pending, sender, drain):
        request = pending()
        body = load_payload("instagram_quick_reply", request.request_id)
        barrier = threading.Barrier(THREADS)

        def deliver(_n):
            client = app.test_client()
            barrier.wait(timeout=30)
            return post_signed(client, body).get_json()["recorded"]

        with ThreadPoolExecutor(THREADS) as pool:
            recorded = Counter(pool.map(deliver, range(THREADS)))

        assert recorded == {1: 1, 0: THREADS - 1}
        drain()
        assert sender.sent == [(IG_REVIEWER, "✅ Recorded: approve. Thank you.")]
