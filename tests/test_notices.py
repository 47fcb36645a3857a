"""A word at every end: the notices queued when a request closes, with the close, in the real store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.notices import closing_messages, quoted_subject
from airflow_provider_instagram_hil.store import Outcome, RecipientSpec

DEADLINE = datetime(2026, 12, 3, 13, 0, tzinfo=timezone.utc)  # a Thursday
BEFORE = DEADLINE - timedelta(hours=1)


@pytest.fixture
def register(store):
    def _register(**overrides):
        args = {
            "dag_id": "d",
            "run_id": "r",
            "task_id": "t",
            "recipients": [
                RecipientSpec("111", "instagram", "alice"),
                RecipientSpec("222", "instagram", "bob"),
                RecipientSpec("333", "instagram"),
            ],
            "options": ["Approve", "Reject"],
            "reject_options": ["Reject"],
            "expires_at": DEADLINE,
            "subject": "Deploy v2 to production",
            "now": BEFORE - timedelta(minutes=5),
        }
        args.update(overrides)
        request, _ = store.register_request(**args)
        for recipient in request.recipients:
            if recipient.recipient_id != "333":  # the third one was never prompted
                who = recipient.recipient_id
                store.mark_prompt_sent(request.request_id, who, f"m-{who}")
        return request

    return _register


def queued(store) -> list[tuple[str, str, str]]:
    items = store.outbox.claim(100, timedelta(minutes=1), now=DEADLINE + timedelta(hours=1))
    return sorted((item.recipient_id, item.kind, item.text) for item in items)


def test_the_others_learn_who_answered_what(store, register):
    request = register()

    result = store.record_decision(
        request.request_id,
        option="Approve",
        responder_id="111",
        now=BEFORE,
        messages=lambda result: closing_messages(result, skip="111"),
    )

    assert (result.outcome, result.closed) == (Outcome.RECORDED, True)
    # bob has the prompt; 333 was never prompted; alice answered and is told by her own reply.
    assert queued(store) == [
        ("222", "notice", "'Deploy v2 to production' was answered by alice: Approve."),
    ]


def test_an_unnamed_reviewer_is_never_named_by_id(store, register):
    request = register(
        recipients=[RecipientSpec("111", "instagram"), RecipientSpec("222", "instagram", "bob")]
    )

    store.record_decision(
        request.request_id, option="Reject", responder_id="111", now=BEFORE, messages=closing_messages
    )

    texts = [text for _, _, text in queued(store)]
    assert "'Deploy v2 to production' was answered by another reviewer: Reject." in texts
    assert not any("111" in text for text in texts)


def test_timeout_with_a_default_says_which_applied_in_the_dags_time_zone(store, register):
    request = register(default_option="Reject", timezone="Europe/Berlin")

    result = store.expire_request(request.request_id, now=DEADLINE, messages=closing_messages)

    assert result.outcome is Outcome.RECORDED
    notice = (
        "'Deploy v2 to production' got no answer by 14:00 CET on Thu 3 Dec: the default, Reject, applied."
    )
    assert queued(store) == [("111", "notice", notice), ("222", "notice", notice)]


def test_timeout_without_a_default_says_the_task_failed(store, register):
    request = register()

    store.expire_request(request.request_id, now=DEADLINE, messages=closing_messages)

    notice = "'Deploy v2 to production' got no answer by 13:00 UTC on Thu 3 Dec: the task failed."
    assert {text for _, _, text in queued(store)} == {notice}


def test_a_cancelled_request_says_so_and_why(store, register):
    request = register()

    assert store.cancel_request(request.request_id, "stopped in Airflow", messages=closing_messages)
    # Cancelling twice notifies once.
    assert not store.cancel_request(request.request_id, "stopped in Airflow", messages=closing_messages)

    notice = "'Deploy v2 to production' was cancelled (stopped in Airflow); no answer is needed any more."
    assert queued(store) == [("111", "notice", notice), ("222", "notice", notice)]


def test_a_pending_request_gets_no_notice(store, register):
    request = register()
    store.record_decision(request.request_id, option="Approve", responder_id="111", now=BEFORE)

    # Already closed: a second answer is late and closes nothing.
    result = store.record_decision(
        request.request_id, option="Approve", responder_id="222", now=BEFORE, messages=closing_messages
    )

    assert result.outcome is Outcome.ALREADY_DECIDED
    assert queued(store) == []


def test_a_long_subject_is_quoted_short(store, register):
    request = register(subject="x" * 200)

    assert quoted_subject(request) == "'" + "x" * 79 + "…'"


class TestReasonRequired:
    def test_a_rejection_without_a_reason_records_nothing(self, store, register):
        request = register(require_reason=True)

        result = store.record_decision(request.request_id, option="Reject", responder_id="111", now=BEFORE)

        assert result.outcome is Outcome.REASON_REQUIRED
        assert store.get_request(request.request_id).responses == ()

    def test_with_a_reason_it_counts_and_keeps_the_reason(self, store, register):
        request = register(require_reason=True)

        result = store.record_decision(
            request.request_id, option="Reject", responder_id="111", reason="numbers look wrong", now=BEFORE
        )

        assert (result.outcome, result.closed) == (Outcome.RECORDED, True)
        (response,) = store.get_request(request.request_id).responses
        assert (response.option, response.reason) == ("Reject", "numbers look wrong")

    def test_an_approval_needs_no_reason(self, store, register):
        request = register(require_reason=True)

        result = store.record_decision(request.request_id, option="Approve", responder_id="111", now=BEFORE)

        assert result.outcome is Outcome.RECORDED
