"""Registering requests: idempotent per task try, cancelled ones replaced, unguessable ids."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

import pytest

from airflow_provider_instagram_hil.ids import REQUEST_ID_BYTES, new_request_id
from airflow_provider_instagram_hil.store import (
    DecisionPolicy,
    Delivery,
    RecipientRole,
    RecipientSpec,
    RequestStatus,
)
from airflow_provider_instagram_hil.store.policy import FIRST

from .store_support import OPTIONS, OTHER_REVIEWER, REVIEWER, T0


def _register(store, **overrides):
    kwargs = {
        "dag_id": "deploy",
        "run_id": "manual__1",
        "task_id": "approve_release",
        "recipients": [REVIEWER],
        "options": list(OPTIONS),
        "expires_at": T0 + timedelta(hours=1),
        "now": T0,
    }
    kwargs.update(overrides)
    return store.register_request(**kwargs)


class TestRegisterRequest:
    def test_creates_a_pending_request(self, store):
        request, created = _register(store, default_option="reject", map_index=3, try_number=2)

        assert created
        assert request.status is RequestStatus.PENDING
        assert (request.dag_id, request.run_id, request.task_id) == ("deploy", "manual__1", "approve_release")
        assert (request.map_index, request.try_number) == (3, 2)
        assert tuple(r.recipient_id for r in request.recipients) == (REVIEWER,)
        (recipient,) = request.recipients
        assert (recipient.channel, recipient.role, recipient.delivery) == (
            "instagram",
            RecipientRole.REVIEWER,
            Delivery.PENDING,
        )
        assert recipient.prompt_message_id is recipient.prompted_at is None
        assert request.options == OPTIONS
        assert request.default_option == "reject"
        assert request.source == "operator"
        assert request.policy == FIRST
        assert request.responses == ()
        assert request.created_at == T0
        assert request.expires_at == T0 + timedelta(hours=1)
        assert request.expires_at.tzinfo is not None
        assert request.chosen_option is request.responded_by is request.closed_reason is None
        assert not request.timed_out
        assert store.get_request(request.request_id) == request

    def test_same_try_returns_the_existing_request(self, store):
        first, created_first = _register(store)
        again, created_again = _register(store, recipients=["someone-else"], options=["yes", "no"])

        assert created_first
        assert not created_again
        assert again == first

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param({"try_number": 2}, id="next-try"),
            pytest.param({"map_index": 0}, id="other-map-index"),
            pytest.param({"run_id": "manual__2"}, id="other-run"),
            pytest.param({"task_id": "other_task"}, id="other-task"),
            pytest.param({"dag_id": "other_dag"}, id="other-dag"),
        ],
    )
    def test_a_different_try_gets_its_own_request(self, store, change):
        first, _ = _register(store)
        other, created = _register(store, **change)

        assert created
        assert other.request_id != first.request_id

    def test_a_cancelled_request_is_replaced(self, store):
        first, _ = _register(store)
        assert store.cancel_request(first.request_id)

        second, created = _register(store)

        assert created
        assert second.request_id != first.request_id
        assert second.status is RequestStatus.PENDING
        assert store.get_request(first.request_id) is None

    def test_a_decided_request_is_not_replaced(self, store):
        first, _ = _register(store)
        store.record_decision(first.request_id, option="approve", responder_id=REVIEWER, now=T0)

        again, created = _register(store)

        assert not created
        assert again.request_id == first.request_id
        assert again.status is RequestStatus.DECIDED

    def test_prompt_message_id_is_kept_for_a_rerun(self, store):
        first, _ = _register(store)
        store.mark_prompt_sent(first.request_id, REVIEWER, "mid.prompt-1", now=T0)

        again, created = _register(store)

        assert not created
        (recipient,) = again.recipients
        assert (recipient.prompt_message_id, recipient.prompted_at, recipient.delivery) == (
            "mid.prompt-1",
            T0,
            Delivery.SENT,
        )

    def test_a_failed_prompt_is_recorded_for_the_audit_trail(self, store):
        request, _ = _register(store, recipients=[REVIEWER, OTHER_REVIEWER])
        store.mark_prompt_sent(request.request_id, REVIEWER, "mid.ok", now=T0)
        store.mark_prompt_failed(
            request.request_id, OTHER_REVIEWER, "MessagingWindowClosedError " + "x" * 400
        )

        first, second = store.get_request(request.request_id).recipients

        assert (first.delivery, first.delivery_error) == (Delivery.SENT, None)
        assert second.delivery is Delivery.FAILED
        assert second.delivery_error.startswith("MessagingWindowClosedError")
        assert len(second.delivery_error) == 255

    def test_recipients_on_several_channels_with_names(self, store):
        request, _ = _register(
            store,
            recipients=[
                RecipientSpec(REVIEWER, "instagram", name="alice"),
                RecipientSpec("16315551234", "whatsapp", name="bob"),
                RecipientSpec(OTHER_REVIEWER, "instagram", role=RecipientRole.ESCALATION),
            ],
        )

        assert [(r.channel, r.recipient_id, r.name, r.role) for r in request.recipients] == [
            ("instagram", REVIEWER, "alice", RecipientRole.REVIEWER),
            ("whatsapp", "16315551234", "bob", RecipientRole.REVIEWER),
            ("instagram", OTHER_REVIEWER, None, RecipientRole.ESCALATION),
        ]
        assert request.label_of(REVIEWER) == "alice"
        assert request.label_of(OTHER_REVIEWER) == OTHER_REVIEWER

    def test_policy_is_stored(self, store):
        policy = DecisionPolicy.build("quorum", 2, veto=True)
        request, _ = _register(
            store, recipients=[REVIEWER, OTHER_REVIEWER], policy=policy, reject_options=["reject"]
        )

        assert store.get_request(request.request_id).policy == policy
        assert request.reject_options == ("reject",)

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            pytest.param({"recipients": []}, "recipient", id="no-recipients"),
            pytest.param({"default_option": "maybe"}, "default_option", id="default-not-an-option"),
            pytest.param({"expires_at": datetime(2026, 11, 1, 13, 0)}, "timezone-aware", id="naive-deadline"),
            pytest.param({"recipients": [REVIEWER, REVIEWER]}, "only once", id="repeated-recipient"),
            pytest.param({"recipients": ["x" * 65]}, "1 to 64", id="recipient-too-long"),
            pytest.param({"reject_options": ["nope"]}, "reject_options", id="reject-not-an-option"),
            pytest.param(
                {"policy": DecisionPolicy.build("quorum", 2)}, "only 1 reviewer", id="quorum-out-of-reach"
            ),
            pytest.param(
                {"policy": DecisionPolicy.build("all"), "reject_options": list(OPTIONS)},
                "not a rejection",
                id="all-without-approval",
            ),
        ],
    )
    def test_invalid_arguments_raise_value_error(self, store, overrides, message):
        with pytest.raises(ValueError, match=message):
            _register(store, **overrides)


class TestSupersede:
    def test_a_new_try_supersedes_the_pending_request_of_an_older_try(self, store):
        first, _ = _register(store, try_number=1)
        decided, _ = _register(store, try_number=1, map_index=0)
        store.record_decision(decided.request_id, option="approve", responder_id=REVIEWER, now=T0)

        second, created = _register(store, try_number=2, now=T0 + timedelta(minutes=1))
        other_map, _ = _register(store, try_number=2, map_index=0)

        assert created
        old = store.get_request(first.request_id)
        assert old.status is RequestStatus.SUPERSEDED
        assert old.closed_reason == "replaced by try 2"
        assert old.responded_at == T0 + timedelta(minutes=1)
        assert store.get_request(second.request_id).status is RequestStatus.PENDING
        # A decided older try stays as it is; other map indexes are other task instances.
        assert store.get_request(decided.request_id).status is RequestStatus.DECIDED
        assert other_map.status is RequestStatus.PENDING

    def test_an_older_try_registered_late_does_not_supersede_a_newer_one(self, store):
        newer, _ = _register(store, try_number=3)
        older, _ = _register(store, try_number=2)

        assert store.get_request(newer.request_id).status is RequestStatus.PENDING
        assert older.status is RequestStatus.PENDING

    def test_the_newest_try_of_a_task_instance(self, store):
        first, _ = _register(store, try_number=1)
        third, _ = _register(store, try_number=3)
        second, _ = _register(store, try_number=2)
        other_map, _ = _register(store, try_number=4, map_index=0)

        for request in (first, second, third):
            assert store.newest_try_request(request.request_id).request_id == third.request_id
        assert store.newest_try_request(other_map.request_id).request_id == other_map.request_id
        assert store.newest_try_request("0" * len(first.request_id)) is None
        assert store.newest_try_request("not an id") is None


class TestCancelRequest:
    def test_cancels_only_a_pending_request(self, store):
        request, _ = _register(store)

        assert store.cancel_request(request.request_id, "the task was cleared", now=T0)
        assert not store.cancel_request(request.request_id, "again")
        cancelled = store.get_request(request.request_id)
        assert cancelled.status is RequestStatus.CANCELLED
        assert (cancelled.closed_reason, cancelled.responded_at) == ("the task was cleared", T0)

    def test_unknown_request(self, store):
        assert not store.cancel_request(new_request_id())


class TestRequestIds:
    def test_new_ids_carry_at_least_128_random_bits(self):
        request_id = new_request_id()

        assert REQUEST_ID_BYTES * 8 >= 128
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)

    def test_new_ids_are_unique(self):
        ids = {new_request_id() for _ in range(20_000)}

        assert len(ids) == 20_000

    def test_registered_ids_are_unique_and_unguessable(self, store):
        ids = [_register(store, run_id=f"run-{n}")[0].request_id for n in range(50)]

        assert len(set(ids)) == len(ids)
        assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)
        # Not a counter or a timestamp: consecutive ids share no long prefix.
        assert max(len(_common_prefix(a, b)) for a, b in itertools.pairwise(ids)) < 8


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]
