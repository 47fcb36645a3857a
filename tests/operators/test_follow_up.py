"""Reminders and escalation: the schedule, and the operator sending what is due when its trigger wakes it
(a real decision store on SQLite and PostgreSQL; the Graph call is recorded)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_instagram_hil.exceptions import MessagingWindowClosedError
from airflow_provider_instagram_hil.operators import approval as operator_module
from airflow_provider_instagram_hil.operators import prompting as prompting_module
from airflow_provider_instagram_hil.operators.follow_up import FollowUps
from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator
from airflow_provider_instagram_hil.store import Delivery, RecipientRole, RequestStatus
from airflow_provider_instagram_hil.triggers.events import wake_payload
from airflow_provider_instagram_hil.typed_answers import request_code

ALICE = "6200000000000001"
BOB = "6200000000000002"
CAROL = "6200000000000003"
HOUR = timedelta(hours=1)


def approval(store_url, **overrides):
    kwargs = {
        "task_id": "approve",
        "recipient_id": {"alice": ALICE, "bob": BOB},
        "subject": "Deploy v2",
        "store_url": store_url,
        "poll_interval": 0.5,
        "response_timeout": 4 * HOUR,
        "remind_after": [HOUR, 2 * HOUR],
        "escalate_to": {"carol": CAROL},
        "escalate_after": 3 * HOUR,
    }
    kwargs.update(overrides)
    return InstagramApprovalOperator(**kwargs)


def defer(call) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as info:
        call()
    return info.value


@pytest.fixture
def clock(monkeypatch):
    """The operator's clock, moved by hand: ``clock.at(hours)`` after the first call."""

    class Clock:
        start = datetime.now(timezone.utc)
        now = start

        def at(self, hours: float) -> None:
            self.now = self.start + timedelta(hours=hours)

    clock = Clock()
    monkeypatch.setattr(operator_module, "_utcnow", lambda: clock.now)
    monkeypatch.setattr(prompting_module, "_utcnow", lambda: clock.now)
    return clock


class TestSchedule:
    @pytest.mark.parametrize(
        ("remind_after", "escalate_after", "message"),
        [
            (timedelta(0), None, "remind_after"),
            ([HOUR, 5 * HOUR], None, "remind_after"),
            ("1h", None, "remind_after"),
            (None, 4 * HOUR, "escalate_after"),
        ],
    )
    def test_times_must_fall_inside_the_timeout(self, remind_after, escalate_after, message):
        with pytest.raises(ValueError, match=message):
            FollowUps.build(remind_after, escalate_after, 4 * HOUR)

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"escalate_to": None}, "go together"),
            ({"escalate_after": None}, "go together"),
            ({"decision_policy": "all"}, "only applies to decision_policy 'first'"),
            ({"escalate_to": ""}, "escalate_to is ''"),
        ],
    )
    def test_operator_arguments(self, overrides, message):
        with pytest.raises(ValueError, match=message):
            approval(None, **overrides)


class TestWakeAndSend:
    def test_reminders_then_escalation_then_the_backup_decides(
        self, store, store_url, shared_store, sends, make_context, clock
    ):
        context = make_context()
        operator = approval(store_url)
        operator.render_template_fields(context)

        first = defer(lambda: operator.execute(context))

        # Only the reviewers get the prompt; the trigger wakes at the first reminder.
        assert [m["recipient_id"] for m in sends.messages] == [ALICE, BOB]
        request_id = first.trigger.request_id
        request = store.get_request(request_id)
        assert {r.recipient_id: r.role for r in request.recipients} == {
            ALICE: RecipientRole.REVIEWER,
            BOB: RecipientRole.REVIEWER,
            CAROL: RecipientRole.ESCALATION,
        }
        assert first.trigger.wake_at == request.created_at + HOUR
        # Carol cannot answer before the request is escalated to her: typed answers do not find it.
        assert store.pending_for_sender("instagram", CAROL) == []

        # An hour later nobody has answered: both get the first reminder, with the buttons again.
        clock.at(1.01)
        second = defer(lambda: operator.execute_complete(context, wake_payload(request_id)))
        reminders = sends.messages[2:]
        code = request_code(request_id)
        assert [m["recipient_id"] for m in reminders] == [ALICE, BOB]
        assert reminders[0]["text"].startswith("Reminder: 'Deploy v2' still needs your answer, by ")
        assert reminders[0]["text"].endswith(f"\nReply: Approve / Reject (request {code})")
        assert [q["title"] for q in reminders[0]["quick_replies"]] == ["Approve", "Reject"]
        assert second.trigger.wake_at == request.created_at + 2 * HOUR

        # A second wake at the same time sends nothing twice.
        defer(lambda: operator.execute_complete(context, wake_payload(request_id)))
        assert len(sends.messages) == 4

        # Alice is outside Instagram's window at the second reminder: skipped, the task keeps waiting.
        sends.fail[ALICE] = MessagingWindowClosedError("Outside of allowed window", code=10, subcode=2534022)
        clock.at(2.01)
        third = defer(lambda: operator.execute_complete(context, wake_payload(request_id)))
        assert [m["recipient_id"] for m in sends.messages[4:]] == [BOB]
        assert third.trigger.wake_at == request.created_at + 3 * HOUR

        # Escalation: Carol gets the prompt itself; nothing more is due before the deadline.
        clock.at(3.01)
        fourth = defer(lambda: operator.execute_complete(context, wake_payload(request_id)))
        (escalation,) = sends.messages[5:]
        assert escalation["recipient_id"] == CAROL
        assert escalation["text"].startswith("Deploy v2\n")
        assert fourth.trigger.wake_at is None
        assert store.pending_for_sender("instagram", CAROL)[0].request_id == request_id

        # The backup's answer decides, and the audit trail says she was the backup.
        store.record_decision(request_id, option="Approve", responder_id=CAROL)
        result = operator.execute_complete(context, wake_payload(request_id))
        assert (result["chosen_option"], result["responded_by"]) == ("Approve", CAROL)
        decided = store.get_request(request_id)
        assert decided.status is RequestStatus.DECIDED
        assert decided.recipient(CAROL).role is RecipientRole.ESCALATION

    @pytest.mark.parametrize("on_window_closed", ["wait", "fail"])
    def test_a_backup_outside_the_window_gets_the_prompt_when_they_write(
        self, store, store_url, shared_store, sends, make_context, clock, on_window_closed
    ):
        context = make_context()
        operator = approval(store_url, remind_after=None, on_window_closed=on_window_closed)
        operator.render_template_fields(context)
        request_id = defer(lambda: operator.execute(context)).trigger.request_id
        sends.fail[CAROL] = MessagingWindowClosedError("Outside of allowed window", code=10, subcode=2534022)

        clock.at(3.01)
        woken = defer(lambda: operator.execute_complete(context, wake_payload(request_id)))

        assert woken.trigger.wake_at is None  # nothing is due again: no second attempt at Carol
        carol = store.get_request(request_id).recipient(CAROL)
        assert [m["recipient_id"] for m in sends.messages] == [ALICE, BOB]
        if on_window_closed == "fail":  # not reached, and not kept: she cannot answer
            assert carol.delivery is Delivery.FAILED
            assert store.pending_for_sender("instagram", CAROL) == []
            assert store.outbox.counts() == {}
            return
        # Kept: when Carol writes, the webhook finds the request and releases her prompt.
        assert carol.delivery is Delivery.WAITING
        assert store.outbox.counts() == {"held": 1}
        assert [r.request_id for r in store.pending_for_sender("instagram", CAROL)] == [request_id]
        assert store.release_prompts("instagram", CAROL, [request_id]) == 1
        assert store.outbox.counts() == {"pending": 1}
        # A later wake (a retry of the same try) sends nothing to her either.
        defer(lambda: operator.execute_complete(context, wake_payload(request_id)))
        assert len(sends.messages) == 2

    def test_an_answer_before_the_reminder_means_no_reminder(
        self, store, store_url, shared_store, sends, make_context, clock
    ):
        context = make_context()
        operator = approval(store_url, escalate_to=None, escalate_after=None, decision_policy="all")
        operator.render_template_fields(context)
        request_id = defer(lambda: operator.execute(context)).trigger.request_id
        store.record_decision(request_id, option="Approve", responder_id=ALICE)

        clock.at(1.01)
        defer(lambda: operator.execute_complete(context, wake_payload(request_id)))

        assert [m["recipient_id"] for m in sends.messages[2:]] == [BOB]
