"""What a reviewer is told after a tap, and the outbox sender that delivers it."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.exceptions import (
    InstagramApiError,
    InvalidTokenError,
    MessagingWindowClosedError,
    RateLimitedError,
    RecipientUnavailableError,
)
from airflow_provider_instagram_hil.store import (
    ApprovalRequest,
    DecisionResult,
    Delivery,
    OutboxMessage,
    Outcome,
    Recipient,
    RecipientRole,
    RequestStatus,
    Response,
)
from airflow_provider_instagram_hil.store.policy import FIRST
from airflow_provider_instagram_hil.webhook.events import Tap
from airflow_provider_instagram_hil.webhook.replies import reply_factory, reply_text
from airflow_provider_instagram_hil.webhook.sender import OutboxSender, is_worth_retrying

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def _recipient(recipient_id: str, name: str | None = None) -> Recipient:
    return Recipient(
        "instagram", recipient_id, name, RecipientRole.REVIEWER, None, None, None, Delivery.SENT, None
    )


def _request(status=RequestStatus.DECIDED, chosen="approve", by="u2", **changes) -> ApprovalRequest:
    fields = {
        "request_id": "r1",
        "dag_id": "d",
        "run_id": "r",
        "task_id": "t",
        "map_index": -1,
        "try_number": 1,
        "source": "operator",
        "subject": "Ship it?",
        "options": ("approve", "reject"),
        "reject_options": ("reject",),
        "default_option": None,
        "policy": FIRST,
        "created_at": NOW,
        "expires_at": NOW + timedelta(hours=1),
        "status": status,
        "chosen_option": chosen,
        "responded_by": by,
        "responded_at": NOW,
        "timed_out": False,
        "closed_reason": None,
        "recipients": (_recipient("u1"), _recipient("u2", "alice")),
    }
    fields.update(changes)
    return ApprovalRequest(**fields)


def _response(option="approve", who="u1") -> Response:
    return Response(who, "instagram", option, None, "m1", NOW, "instagram")


class TestReplyText:
    @pytest.mark.parametrize(
        ("result", "text"),
        [
            pytest.param(
                DecisionResult(Outcome.RECORDED, _request(by="u1"), closed=True, response=_response()),
                "✅ Recorded: approve. Thank you.",
                id="recorded",
            ),
            pytest.param(
                DecisionResult(
                    Outcome.RECORDED,
                    _request(RequestStatus.PENDING, None, None),
                    response=_response(),
                    approvals_missing=2,
                ),
                "✅ Recorded: approve. Waiting for 2 more approvals.",
                id="recorded-waiting-for-two",
            ),
            pytest.param(
                DecisionResult(
                    Outcome.RECORDED,
                    _request(RequestStatus.PENDING, None, None),
                    response=_response("reject"),
                    approvals_missing=0,
                ),
                "✅ Recorded: reject. Waiting for the others.",
                id="recorded-waiting",
            ),
            pytest.param(
                DecisionResult(Outcome.RECORDED, _request(chosen="ship"), closed=True, response=_response()),
                "✅ Recorded: approve. The request is closed: ship.",
                id="recorded-closed-otherwise",
            ),
            pytest.param(
                DecisionResult(
                    Outcome.ALREADY_RESPONDED, _request(RequestStatus.PENDING), response=_response()
                ),
                "You already answered: approve.",
                id="already-responded",
            ),
            pytest.param(
                DecisionResult(Outcome.ALREADY_DECIDED, _request(chosen="reject", by="u2")),
                "This request was already answered by alice: reject.",
                id="already-decided-named",
            ),
            pytest.param(
                DecisionResult(Outcome.ALREADY_DECIDED, _request(chosen="reject", by="u1")),
                "This request was already answered by another reviewer: reject.",
                id="already-decided-unnamed",
            ),
            pytest.param(
                DecisionResult(Outcome.EXPIRED, _request(RequestStatus.EXPIRED, None, None, timed_out=True)),
                "This request expired at 2026-11-01 13:00 UTC; your answer was not recorded.",
                id="expired",
            ),
            pytest.param(
                DecisionResult(Outcome.EXPIRED, _request(chosen="reject", by=None, timed_out=True)),
                "This request expired at 2026-11-01 13:00 UTC and its default, reject, applied. "
                "Your answer was not recorded.",
                id="expired-with-default",
            ),
            pytest.param(
                DecisionResult(
                    Outcome.CANCELLED,
                    _request(RequestStatus.CANCELLED, None, None, closed_reason="the task was cleared"),
                ),
                "This request was cancelled (the task was cleared); your answer was not recorded.",
                id="cancelled",
            ),
            pytest.param(
                DecisionResult(Outcome.SUPERSEDED, _request(RequestStatus.SUPERSEDED, None, None)),
                "This request was replaced by a newer one: please answer the latest message.",
                id="superseded",
            ),
            pytest.param(
                DecisionResult(Outcome.NOT_ALLOWED, _request()),
                "This request is not assigned to you.",
                id="stranger",
            ),
            pytest.param(
                DecisionResult(Outcome.WRONG_CHANNEL, _request()),
                "This request is not assigned to you.",
                id="wrong-channel",
            ),
            pytest.param(DecisionResult(Outcome.DUPLICATE, _request()), None, id="duplicate"),
            pytest.param(DecisionResult(Outcome.INVALID_OPTION, _request()), None, id="invalid-option"),
            pytest.param(DecisionResult(Outcome.UNKNOWN_REQUEST, None), None, id="unknown"),
        ],
    )
    def test_texts(self, result, text):
        assert reply_text(result, "u3") == text

    def test_a_second_tap_by_the_one_who_decided(self):
        result = DecisionResult(Outcome.ALREADY_DECIDED, _request(chosen="reject", by="u1"))

        assert reply_text(result, "u1") == "You already answered this request: reject."

    def test_recorded_never_said_without_a_response(self):
        for outcome in Outcome:
            if outcome is not Outcome.RECORDED:
                text = reply_text(DecisionResult(outcome, _request(), response=_response()))
                assert text is None or "Recorded" not in text


class TestReplyFactory:
    def test_one_reply_on_the_tap_channel(self):
        tap = Tap("messenger", "p1", "r1", "approve", "m1", "postback")
        result = DecisionResult(Outcome.NOT_ALLOWED, _request())

        assert reply_factory(tap, {"instagram", "messenger"})(result) == [
            OutboxMessage(
                "messenger", "p1", "This request is not assigned to you.", kind="reply", request_id="r1"
            )
        ]

    def test_nothing_for_a_channel_without_replies_or_a_silent_outcome(self):
        whatsapp = Tap("whatsapp", "155501", "r1", "approve", "m2", "button_reply")
        instagram = Tap("instagram", "u1", "r1", "approve", "m3", "quick_reply")

        assert reply_factory(whatsapp, {"instagram"})(DecisionResult(Outcome.NOT_ALLOWED, _request())) == []
        assert reply_factory(instagram, {"instagram"})(DecisionResult(Outcome.DUPLICATE, _request())) == []


class TestRetryRules:
    @pytest.mark.parametrize(
        ("error", "retry"),
        [
            pytest.param(RateLimitedError("slow down", code=4), True, id="throttled"),
            pytest.param(InvalidTokenError("expired", code=190), True, id="token-being-renewed"),
            pytest.param(InstagramApiError("unreachable"), True, id="network"),
            pytest.param(InstagramApiError("oops", code=2, status=503), True, id="5xx"),
            pytest.param(
                MessagingWindowClosedError("closed", code=10, status=400), False, id="window-closed"
            ),
            pytest.param(RecipientUnavailableError("gone", code=551, status=400), False, id="unavailable"),
            pytest.param(InstagramApiError("bad", code=100, status=400), False, id="refused"),
            pytest.param(ValueError("text too long"), False, id="bad-input"),
            pytest.param(ConnectionResetError(), True, id="unexpected"),
        ],
    )
    def test_worth_retrying(self, error, retry):
        assert is_worth_retrying(error) is retry


class TestOutboxSender:
    def test_sends_on_its_own_threads_and_marks_sent(self, store):
        main = threading.get_ident()
        calls = []
        store.outbox.add([OutboxMessage("instagram", f"u{n}", f"hi {n}") for n in range(12)])

        sender = OutboxSender(
            store.outbox, lambda c, r, t: calls.append((r, threading.get_ident())) or f"m.{r}", threads=2
        ).start()
        try:
            assert sender.drain(timeout=10)
        finally:
            sender.stop()

        assert sorted(r for r, _ in calls) == sorted(f"u{n}" for n in range(12))
        assert main not in {thread for _, thread in calls}
        assert store.outbox.counts() == {"sent": 12}

    def test_a_failure_is_kept_for_a_retry_and_a_refusal_given_up(self, store):
        store.outbox.add(
            [OutboxMessage("instagram", "throttled", "a"), OutboxMessage("instagram", "closed", "b")]
        )

        def send(_channel, recipient, _text):
            if recipient == "throttled":
                raise RateLimitedError("(#4) Application request limit reached", code=4)
            raise MessagingWindowClosedError("outside the window", code=10, subcode=2534022, status=400)

        sender = OutboxSender(store.outbox, send, threads=1).start()
        try:
            assert sender.drain(timeout=10)
        finally:
            sender.stop()

        assert store.outbox.counts() == {"pending": 1, "failed": 1}
        assert (
            store.outbox.claim(10, timedelta(minutes=1)) == []
        )  # the throttled one is retried later, not now

    def test_stop_leaves_unsent_rows_for_the_next_process(self, store):
        release = threading.Event()
        started = threading.Event()

        def slow(_channel, _recipient, _text):
            started.set()
            release.wait(10)
            return "m"

        store.outbox.add([OutboxMessage("instagram", "u1", "a")])
        sender = OutboxSender(store.outbox, slow, threads=1, batch=1).start()
        assert started.wait(10)
        store.outbox.add([OutboxMessage("instagram", "u2", "b")])
        release.set()
        sender.stop(timeout=10)

        # The row in flight finished; whatever it had not claimed yet is still pending, or sent.
        counts = store.outbox.counts()
        assert counts.get("sent", 0) >= 1
        assert sum(counts.values()) == 2

    def test_rows_another_process_queued_are_found_by_polling(self, store):
        sent = []
        sender = OutboxSender(store.outbox, lambda c, r, t: sent.append(r) or "m", poll_interval=0.05).start()
        try:
            assert sender.drain(timeout=10)
            store.outbox.add([OutboxMessage("instagram", "from-the-triggerer", "x")])  # nobody wakes it
            assert sender.drain(timeout=10)
        finally:
            sender.stop()

        assert sent == ["from-the-triggerer"]

    @pytest.mark.parametrize(
        ("on_meta", "sent_again"),
        [
            pytest.param(1, False, id="reached-meta"),
            pytest.param(0, True, id="never-reached-meta"),
            pytest.param(RuntimeError("403 missing permission"), True, id="cannot-tell"),
        ],
    )
    def test_a_row_left_in_doubt_is_looked_for_before_it_is_sent_again(self, store, on_meta, sent_again):
        # An earlier, identical reply to the same person that was really sent: not taken for this one.
        store.outbox.add([OutboxMessage("instagram", "u1", "✅ Recorded: approve. Thank you.")])
        (earlier,) = store.outbox.claim(1, timedelta(minutes=1))
        store.outbox.mark_sent(earlier.id, "m_earlier")
        store.outbox.add([OutboxMessage("instagram", "u1", "✅ Recorded: approve. Thank you.")])
        store.outbox.claim(1, timedelta(seconds=-1))  # a sender claimed it, then died: the lease is over
        sent, asked = [], []

        def check(channel, recipient, text, since):
            asked.append((channel, recipient, text, since))
            if isinstance(on_meta, Exception):
                raise on_meta
            return 1 + on_meta  # Meta shows the earlier reply, and this one if it got there

        sender = OutboxSender(store.outbox, lambda c, r, t: sent.append(r) or "m", check=check).start()
        try:
            assert sender.drain(timeout=10)
        finally:
            sender.stop()

        assert store.outbox.counts() == {"sent": 2}
        assert sent == (["u1"] if sent_again else [])
        ((channel, recipient, text, since),) = asked
        assert (channel, recipient, text) == ("instagram", "u1", "✅ Recorded: approve. Thank you.")
        assert since < datetime.now(timezone.utc) - timedelta(minutes=9)

    def test_without_a_check_a_row_in_doubt_is_sent_again(self, store, caplog):
        store.outbox.add([OutboxMessage("instagram", "u1", "a")])
        store.outbox.claim(1, timedelta(seconds=-1))
        sent = []

        sender = OutboxSender(store.outbox, lambda c, r, t: sent.append(r) or "m").start()
        try:
            assert sender.drain(timeout=10)
        finally:
            sender.stop()

        assert sent == ["u1"]
        assert "the reviewer may get it twice" in caplog.text

    def _kept_prompt(self, store, reviewer="u1", persistent_buttons=False):
        request, _ = store.register_request(
            dag_id="deploy",
            run_id="manual__1",
            task_id="approve",
            recipients=[reviewer],
            options=["Approve", "Reject"],
            expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
        )
        store.hold_prompt(
            request.request_id, reviewer, "Ship it?", "window closed", persistent_buttons=persistent_buttons
        )
        store.release_prompts("instagram", reviewer, [request.request_id])
        return request.request_id

    @pytest.mark.parametrize("persistent_buttons", [False, True])
    def test_a_kept_prompt_goes_out_with_its_buttons_and_counts_as_the_prompt(
        self, store, persistent_buttons
    ):
        request_id = self._kept_prompt(store, persistent_buttons=persistent_buttons)
        prompts, replies = [], []

        def prompt(channel, recipient, text, request, options, *, persistent_buttons):
            prompts.append((channel, recipient, text, request, list(options), persistent_buttons))
            return "m.prompt"

        sender = OutboxSender(store.outbox, lambda *a: replies.append(a) or "m", prompt=prompt).start()
        try:
            assert sender.drain(timeout=10)
        finally:
            sender.stop()

        assert prompts == [
            ("instagram", "u1", "Ship it?", request_id, ["Approve", "Reject"], persistent_buttons)
        ]
        assert replies == []
        (recipient,) = store.get_request(request_id).recipients
        assert (recipient.delivery, recipient.prompt_message_id) == (Delivery.SENT, "m.prompt")
        assert recipient.prompted_at is not None
        assert store.outbox.counts() == {"sent": 1}

    @pytest.mark.parametrize("closed", [True, False], ids=["request-closed", "no-prompt-sender"])
    def test_a_kept_prompt_that_cannot_or_need_not_go_out_is_closed(self, store, caplog, closed):
        caplog.set_level(logging.INFO, logger="airflow_provider_instagram_hil.webhook")
        request_id = self._kept_prompt(store)
        if closed:
            store.record_decision(request_id, option="Approve", responder_id="u1")
        prompts = []

        sender = OutboxSender(
            store.outbox,
            lambda *a: pytest.fail("a kept prompt is never sent as a plain reply"),
            prompt=(lambda *a, **kw: prompts.append(a) or "m") if closed else None,
        ).start()
        try:
            assert sender.drain(timeout=10)
        finally:
            sender.stop()

        assert prompts == []
        assert store.outbox.counts() == {"failed": 1}
        why = "the request is no longer pending" if closed else "this webhook sends no prompts"
        assert f"Not sending the prompt kept for u1 (request {request_id}): {why}" in caplog.text

    @pytest.mark.parametrize(
        "kwargs", [{"threads": 0}, {"batch": 0}, {"max_attempts": 0}, {"poll_interval": 0}], ids=str
    )
    def test_bad_settings(self, store, kwargs):
        with pytest.raises(ValueError, match="positive"):
            OutboxSender(store.outbox, lambda c, r, t: None, **kwargs)
