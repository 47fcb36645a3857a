"""Replier: texts per outcome, a bounded pool, failures contained, drain without sleeping."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from airflow_provider_instagram_hil.store import ApprovalRequest, DecisionResult, Outcome, RequestStatus
from airflow_provider_instagram_hil.webhook.events import Tap
from airflow_provider_instagram_hil.webhook.replies import Replier, reply_text

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _result(outcome: Outcome, chosen: str | None = "approve") -> DecisionResult:
    request = ApprovalRequest(
        request_id="r1",
        dag_id="d",
        run_id="r",
        task_id="t",
        map_index=-1,
        try_number=1,
        channel="instagram",
        recipients=("u1",),
        options=("approve", "reject"),
        default_option=None,
        created_at=NOW,
        expires_at=NOW,
        status=RequestStatus.DECIDED if chosen else RequestStatus.PENDING,
        prompt_message_id=None,
        chosen_option=chosen,
        responded_by="u1" if chosen else None,
        responded_at=None,
        decision_mid=None,
        timed_out=False,
    )
    return DecisionResult(outcome, request)


class TestReplyText:
    @pytest.mark.parametrize(
        ("outcome", "chosen", "text"),
        [
            (Outcome.RECORDED, "approve", "✅ Recorded: approve. Thank you."),
            (Outcome.ALREADY_DECIDED, "reject", "This request was already answered (reject)."),
            (Outcome.EXPIRED, None, "This request has expired; your answer was not recorded."),
            (Outcome.NOT_ALLOWED, None, "This request is not assigned to you."),
            (Outcome.CANCELLED, None, "This request was cancelled."),
            (Outcome.UNKNOWN_REQUEST, None, None),
            (Outcome.INVALID_OPTION, None, None),
            (Outcome.DUPLICATE, "approve", None),
        ],
    )
    def test_texts(self, outcome, chosen, text):
        assert reply_text(_result(outcome, chosen)) == text

    def test_every_outcome_is_handled(self):
        for outcome in Outcome:
            reply_text(_result(outcome))
            reply_text(DecisionResult(outcome, None))


class TestReplier:
    def test_sends_on_other_threads_and_drains(self):
        main = threading.get_ident()
        calls = []
        replier = Replier(lambda r, t: calls.append((r, t, threading.get_ident())))

        for n in range(20):
            assert replier.submit(f"u{n}", "hi")
        assert replier.drain(timeout=10)

        assert sorted(c[0] for c in calls) == sorted(f"u{n}" for n in range(20))
        assert main not in {c[2] for c in calls}
        replier.shutdown()

    def test_failures_are_contained(self):
        replier = Replier(lambda r, t: 1 / 0)

        assert replier.submit("u1", "hi")
        assert replier.drain(timeout=10)
        replier.shutdown()

    def test_pool_is_bounded_and_overflow_dropped(self):
        release = threading.Event()
        started = threading.Semaphore(0)

        def blocking_send(_recipient, _text):
            started.release()
            release.wait(10)

        replier = Replier(blocking_send, max_workers=2, max_pending=3)
        assert [replier.submit("u", "t") for _ in range(5)] == [True, True, True, False, False]
        assert started.acquire(timeout=10)
        assert started.acquire(timeout=10)
        assert not started.acquire(timeout=0.05)  # only two threads send at once
        assert not replier.drain(timeout=0)

        release.set()
        assert replier.drain(timeout=10)
        replier.shutdown()

    def test_closed_replier_refuses(self):
        replier = Replier(lambda r, t: None)
        replier.shutdown()

        assert not replier.submit("u", "t")

    def test_reply_to_skips_whatsapp_and_silent_outcomes(self):
        sent = []
        replier = Replier(lambda r, t: sent.append((r, t)))
        ig = Tap("instagram", "u1", "r1", "approve", "m1", "quick_reply")
        wa = Tap("whatsapp", "155501", "r1", "approve", "m2", "button_reply")

        assert replier.reply_to(ig, _result(Outcome.RECORDED))
        assert not replier.reply_to(wa, _result(Outcome.RECORDED))
        assert not replier.reply_to(ig, _result(Outcome.DUPLICATE))
        assert replier.drain(timeout=10)

        assert sent == [("u1", "✅ Recorded: approve. Thank you.")]
        replier.shutdown()
