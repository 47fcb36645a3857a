"""Registering requests: idempotent per task try, cancelled ones replaced, unguessable ids."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

import pytest

from airflow_provider_instagram_hil.store import RequestStatus, new_request_id
from airflow_provider_instagram_hil.store.store import REQUEST_ID_BYTES

from .store_support import OPTIONS, REVIEWER, T0


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
        assert request.recipients == (REVIEWER,)
        assert request.options == OPTIONS
        assert request.default_option == "reject"
        assert request.channel == "instagram"
        assert request.created_at == T0
        assert request.expires_at == T0 + timedelta(hours=1)
        assert request.expires_at.tzinfo is not None
        assert request.chosen_option is request.responded_by is request.prompt_message_id is None
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
        store.mark_prompt_sent(first.request_id, "mid.prompt-1")

        again, created = _register(store)

        assert not created
        assert again.prompt_message_id == "mid.prompt-1"

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            pytest.param({"recipients": []}, "recipient", id="no-recipients"),
            pytest.param({"default_option": "maybe"}, "default_option", id="default-not-an-option"),
            pytest.param({"expires_at": datetime(2026, 11, 1, 13, 0)}, "timezone-aware", id="naive-deadline"),
        ],
    )
    def test_invalid_arguments_raise_value_error(self, store, overrides, message):
        with pytest.raises(ValueError, match=message):
            _register(store, **overrides)


class TestCancelRequest:
    def test_cancels_only_a_pending_request(self, store):
        request, _ = _register(store)

        assert store.cancel_request(request.request_id)
        assert not store.cancel_request(request.request_id)
        assert store.get_request(request.request_id).status is RequestStatus.CANCELLED

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
