"""record_decision and expire_request: every outcome, duplicates, the deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_instagram_hil.ids import new_request_id
from airflow_provider_instagram_hil.store import (
    OutboxMessage,
    Outcome,
    RecipientSpec,
    RequestStatus,
    Response,
)

from .store_support import OTHER_REVIEWER, REVIEWER, STRANGER, T0

DEADLINE = T0 + timedelta(minutes=30)


@pytest.fixture
def pending(make_request):
    return make_request(expires_at=DEADLINE, now=T0)


class TestRecordDecision:
    def test_recorded(self, store, pending):
        now = T0 + timedelta(minutes=5)

        result = store.record_decision(
            pending.request_id, option="reject", responder_id=OTHER_REVIEWER, mid="mid.1", now=now
        )

        assert result.outcome is Outcome.RECORDED
        request = result.request
        assert request.status is RequestStatus.DECIDED
        assert request.chosen_option == "reject"
        assert request.responded_by == OTHER_REVIEWER
        assert request.responded_at == now
        assert not request.timed_out
        assert result.closed
        assert result.response == Response(
            responder_id=OTHER_REVIEWER,
            channel="instagram",
            option="reject",
            reason=None,
            mid="mid.1",
            received_at=now,
            source="instagram",
        )
        assert request.responses == (result.response,)
        assert store.get_request(pending.request_id) == request

    def test_numeric_responder_id_is_compared_as_text(self, store, pending):
        result = store.record_decision(
            pending.request_id, option="approve", responder_id=int(REVIEWER), now=T0
        )

        assert result.outcome is Outcome.RECORDED
        assert result.request.responded_by == REVIEWER

    def test_duplicate_delivery_of_the_recorded_event(self, store, pending):
        first = store.record_decision(
            pending.request_id, option="approve", responder_id=REVIEWER, mid="m1", now=T0
        )
        again = store.record_decision(
            pending.request_id, option="approve", responder_id=REVIEWER, mid="m1", now=T0
        )

        assert first.outcome is Outcome.RECORDED
        assert again.outcome is Outcome.DUPLICATE
        assert again.request == first.request

    def test_already_decided(self, store, pending):
        store.record_decision(pending.request_id, option="approve", responder_id=REVIEWER, mid="m1", now=T0)

        late = store.record_decision(
            pending.request_id, option="reject", responder_id=OTHER_REVIEWER, mid="m2", now=T0
        )
        no_mid = store.record_decision(pending.request_id, option="reject", responder_id=REVIEWER, now=T0)

        assert late.outcome is Outcome.ALREADY_DECIDED
        assert no_mid.outcome is Outcome.ALREADY_DECIDED
        assert late.request.chosen_option == "approve"
        assert late.request.responded_by == REVIEWER

    @pytest.mark.parametrize(
        "after", [pytest.param(timedelta(0), id="at-deadline"), pytest.param(timedelta(days=1), id="after")]
    )
    def test_expired_once_the_deadline_passed(self, store, pending, after):
        result = store.record_decision(
            pending.request_id, option="approve", responder_id=REVIEWER, now=DEADLINE + after
        )

        assert result.outcome is Outcome.EXPIRED
        assert store.get_request(pending.request_id).status is RequestStatus.PENDING

    def test_expired_after_expire_request(self, store, pending):
        store.expire_request(pending.request_id, now=DEADLINE)

        result = store.record_decision(
            pending.request_id, option="approve", responder_id=REVIEWER, now=DEADLINE
        )

        assert result.outcome is Outcome.EXPIRED
        assert result.request.status is RequestStatus.EXPIRED

    def test_expired_when_the_default_option_was_applied(self, store, make_request):
        request = make_request(expires_at=DEADLINE, default_option="reject")
        store.expire_request(request.request_id, now=DEADLINE)

        result = store.record_decision(
            request.request_id, option="approve", responder_id=REVIEWER, now=DEADLINE
        )

        assert result.outcome is Outcome.EXPIRED
        assert result.request.chosen_option == "reject"

    def test_cancelled(self, store, pending):
        store.cancel_request(pending.request_id, "the task was marked failed")

        result = store.record_decision(pending.request_id, option="approve", responder_id=REVIEWER, now=T0)

        assert result.outcome is Outcome.CANCELLED
        assert result.request.closed_reason == "the task was marked failed"
        assert store.get_request(pending.request_id).responses == ()

    def test_superseded(self, store, pending):
        store.register_request(
            dag_id=pending.dag_id,
            run_id=pending.run_id,
            task_id=pending.task_id,
            try_number=2,
            recipients=[REVIEWER],
            options=["approve", "reject"],
            expires_at=DEADLINE,
        )

        result = store.record_decision(pending.request_id, option="approve", responder_id=REVIEWER, now=T0)

        assert result.outcome is Outcome.SUPERSEDED
        assert result.request.closed_reason == "replaced by try 2"

    def test_a_second_answer_of_the_same_reviewer_while_pending(self, store, make_request):
        from airflow_provider_instagram_hil.store import DecisionPolicy

        request = make_request(
            expires_at=DEADLINE, policy=DecisionPolicy.build("all"), reject_options=["reject"], now=T0
        )
        first = store.record_decision(
            request.request_id, option="approve", responder_id=REVIEWER, mid="a", now=T0
        )
        again = store.record_decision(
            request.request_id, option="reject", responder_id=REVIEWER, mid="b", now=T0
        )

        assert (first.outcome, first.closed) == (Outcome.RECORDED, False)
        assert again.outcome is Outcome.ALREADY_RESPONDED
        assert again.response == first.response
        assert store.get_request(request.request_id).responses == (first.response,)

    def test_wrong_channel(self, store, make_request):
        request = make_request(
            recipients=[RecipientSpec(REVIEWER, "whatsapp"), RecipientSpec(OTHER_REVIEWER, "instagram")],
            expires_at=DEADLINE,
            now=T0,
        )

        on_instagram = store.record_decision(
            request.request_id, option="approve", responder_id=REVIEWER, channel="instagram", now=T0
        )
        on_whatsapp = store.record_decision(
            request.request_id, option="approve", responder_id=REVIEWER, channel="whatsapp", now=T0
        )

        assert on_instagram.outcome is Outcome.WRONG_CHANNEL
        assert on_whatsapp.outcome is Outcome.RECORDED
        assert on_whatsapp.response.channel == on_whatsapp.response.source == "whatsapp"

    def test_reason_and_source_are_kept_and_bounded(self, store, pending):
        result = store.record_decision(
            pending.request_id, option="reject", responder_id=REVIEWER, reason="r" * 900, source="cli", now=T0
        )

        assert result.response.source == "cli"
        assert result.response.reason == "r" * 500
        assert store.get_request(pending.request_id).responses[0].reason == "r" * 500

    def test_not_allowed(self, store, pending):
        result = store.record_decision(pending.request_id, option="approve", responder_id=STRANGER, now=T0)

        assert result.outcome is Outcome.NOT_ALLOWED
        assert store.get_request(pending.request_id).status is RequestStatus.PENDING

    def test_not_allowed_wins_over_every_other_answer(self, store, pending):
        store.record_decision(pending.request_id, option="approve", responder_id=REVIEWER, now=T0)

        result = store.record_decision(pending.request_id, option="approve", responder_id=STRANGER, now=T0)

        assert result.outcome is Outcome.NOT_ALLOWED

    def test_invalid_option(self, store, pending):
        result = store.record_decision(pending.request_id, option="maybe", responder_id=REVIEWER, now=T0)

        assert result.outcome is Outcome.INVALID_OPTION
        assert store.get_request(pending.request_id).status is RequestStatus.PENDING

    @pytest.mark.parametrize(
        "request_id",
        [
            pytest.param(new_request_id(), id="random"),
            pytest.param("", id="empty"),
            pytest.param("a" * 10_000, id="very-long"),
            pytest.param("ab\x00cd", id="nul-byte"),
            pytest.param("ab\ud800cd", id="lone-surrogate"),
        ],
    )
    def test_unknown_request(self, store, pending, request_id):
        result = store.record_decision(request_id, option="approve", responder_id=REVIEWER, mid="m", now=T0)

        assert result.outcome is Outcome.UNKNOWN_REQUEST
        assert result.request is None
        assert store.expire_request(request_id).outcome is Outcome.UNKNOWN_REQUEST
        assert store.get_request(request_id) is None
        assert store.cancel_request(request_id) is False
        store.mark_prompt_sent(request_id, REVIEWER, "mid.prompt")
        assert store.get_states([request_id]) == {}

    @pytest.mark.parametrize(
        "mid",
        [
            pytest.param("m" * 5000, id="very-long"),
            pytest.param("mid\x00with-nul", id="nul-byte"),
            pytest.param("mid\ud800", id="lone-surrogate"),
        ],
    )
    def test_odd_event_ids_still_deduplicate(self, store, pending, mid):
        first = store.record_decision(
            pending.request_id, option="approve", responder_id=REVIEWER, mid=mid, now=T0
        )
        again = store.record_decision(
            pending.request_id, option="approve", responder_id=REVIEWER, mid=mid, now=T0
        )
        other = store.record_decision(
            pending.request_id, option="approve", responder_id=REVIEWER, mid="x", now=T0
        )

        assert (first.outcome, again.outcome, other.outcome) == (
            Outcome.RECORDED,
            Outcome.DUPLICATE,
            Outcome.ALREADY_DECIDED,
        )


class TestMessagesCommitWithTheResult:
    def test_replies_are_queued_in_the_same_transaction(self, store, pending):
        seen = []

        def replies(result):
            seen.append(result.outcome)
            return [
                OutboxMessage("instagram", REVIEWER, f"{result.outcome.value}", request_id=pending.request_id)
            ]

        store.record_decision(
            pending.request_id, option="approve", responder_id=REVIEWER, now=T0, messages=replies
        )
        store.record_decision(
            pending.request_id, option="approve", responder_id=STRANGER, now=T0, messages=replies
        )

        claimed = store.outbox.claim(10, timedelta(minutes=1))
        assert seen == [Outcome.RECORDED, Outcome.NOT_ALLOWED]
        assert [item.text for item in claimed] == ["recorded", "not_allowed"]

    def test_nothing_is_queued_when_the_transaction_fails(self, store, pending):
        def broken(result):
            return [OutboxMessage("instagram", REVIEWER, None)]  # text is NOT NULL: the insert fails

        from airflow_provider_instagram_hil.exceptions import StoreUnavailableError

        with pytest.raises(StoreUnavailableError):
            store.record_decision(
                pending.request_id, option="approve", responder_id=REVIEWER, messages=broken
            )

        assert store.get_request(pending.request_id).status is RequestStatus.PENDING
        assert store.get_request(pending.request_id).responses == ()
        assert store.outbox.counts() == {}


class TestExpireRequest:
    def test_without_default_marks_it_expired(self, store, pending):
        result = store.expire_request(pending.request_id, now=DEADLINE)

        assert result.outcome is Outcome.RECORDED
        request = result.request
        assert request.status is RequestStatus.EXPIRED
        assert request.timed_out
        assert request.chosen_option is None
        assert request.responded_by is None
        assert request.responded_at == DEADLINE

    def test_with_default_decides_the_default(self, store, make_request):
        pending = make_request(expires_at=DEADLINE, default_option="reject")

        result = store.expire_request(pending.request_id, now=DEADLINE)

        assert result.outcome is Outcome.RECORDED
        request = result.request
        assert request.status is RequestStatus.DECIDED
        assert request.chosen_option == "reject"
        assert request.timed_out
        assert request.responded_by is None
        assert store.get_states([pending.request_id])[pending.request_id] == request.state

    @pytest.mark.parametrize(
        ("default_option", "outcome"),
        [
            pytest.param(None, Outcome.EXPIRED, id="no-default"),
            pytest.param("reject", Outcome.ALREADY_DECIDED, id="with-default"),
        ],
    )
    def test_second_expiry_reports_the_first(self, store, make_request, default_option, outcome):
        pending = make_request(expires_at=DEADLINE, default_option=default_option)
        store.expire_request(pending.request_id, now=DEADLINE)

        result = store.expire_request(pending.request_id, now=DEADLINE + timedelta(seconds=1))

        assert result.outcome is outcome
        assert result.request.responded_at == DEADLINE

    def test_after_a_decision_reports_it(self, store, pending):
        store.record_decision(pending.request_id, option="approve", responder_id=REVIEWER, now=T0)

        result = store.expire_request(pending.request_id, now=DEADLINE)

        assert result.outcome is Outcome.ALREADY_DECIDED
        assert result.request.chosen_option == "approve"
        assert not result.request.timed_out

    def test_after_cancel(self, store, pending):
        store.cancel_request(pending.request_id)

        assert store.expire_request(pending.request_id, now=DEADLINE).outcome is Outcome.CANCELLED

    def test_after_supersede(self, store, pending):
        store.register_request(
            dag_id=pending.dag_id,
            run_id=pending.run_id,
            task_id=pending.task_id,
            try_number=2,
            recipients=[REVIEWER],
            options=["approve", "reject"],
            expires_at=DEADLINE,
        )

        assert store.expire_request(pending.request_id, now=DEADLINE).outcome is Outcome.SUPERSEDED
