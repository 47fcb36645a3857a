"""HitlBridge against Airflow's hitlDetails API (requests-mock), through the store's ``elsewhere`` hook."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_instagram_hil.exceptions import AirflowApiUnavailableError
from airflow_provider_instagram_hil.hitl.bridge import SOURCE, HitlBridge, elsewhere_check
from airflow_provider_instagram_hil.store import Outcome, RecipientSpec, RequestStatus

API = "http://airflow.test:8080"
DETAIL = f"{API}/api/v2/dags/sales/dagRuns/manual__2026-12-02T00%3A00%3A00/taskInstances/ship/-1/hitlDetails"
ALICE, BOB, STRANGER = "17841400000000001", "17841400000000002", "17841499999999999"


def detail(*, state="awaiting_input", try_number=1, answered_by=None, chosen=None):
    return {
        "task_instance": {"state": state, "try_number": try_number},
        "response_received": answered_by is not None,
        "responded_by_user": {"id": answered_by, "name": answered_by} if answered_by else None,
        "chosen_options": chosen,
    }


@pytest.fixture
def request_(store):
    request, _ = store.register_request(
        dag_id="sales",
        run_id="manual__2026-12-02T00:00:00",
        task_id="ship",
        recipients=[RecipientSpec(ALICE, "instagram", "alice"), RecipientSpec(BOB, "instagram", "bob")],
        options=["Approve", "Reject"],
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
        source=SOURCE,
    )
    return request


@pytest.fixture
def tokens():
    issued: list[str] = []

    def token_for(user: str) -> str:
        issued.append(user)
        return f"token-of-{user}"

    token_for.issued = issued  # type: ignore[attr-defined]
    return token_for


@pytest.fixture
def bridge(tokens):
    instance = HitlBridge(API, tokens)
    yield instance
    instance.close()


def tap(store, request, bridge, who=ALICE, option="Approve", mid="m1"):
    return store.record_decision(
        request.request_id,
        option=option,
        responder_id=who,
        channel="instagram",
        mid=mid,
        elsewhere=elsewhere_check(bridge),
    )


def test_a_tap_is_written_to_airflow_as_the_reviewers_user(store, request_, bridge, requests_mock):
    requests_mock.get(DETAIL, json=detail())
    patch = requests_mock.patch(DETAIL, json={"chosen_options": ["Approve"]})

    result = tap(store, request_, bridge)

    assert result.outcome is Outcome.RECORDED
    assert patch.last_request.json() == {"chosen_options": ["Approve"], "params_input": {}}
    assert patch.last_request.headers["Authorization"] == "Bearer token-of-alice"
    stored = store.get_request(request_.request_id)
    assert (stored.status, stored.chosen_option, stored.responded_by) == (
        RequestStatus.DECIDED,
        "Approve",
        ALICE,
    )


def test_answered_in_airflow_first_records_that_answer(store, request_, bridge, requests_mock):
    requests_mock.get(DETAIL, json=detail(answered_by="carol", chosen=["Reject"]))
    patch = requests_mock.patch(DETAIL, json={})

    result = tap(store, request_, bridge)

    assert result.outcome is Outcome.ALREADY_DECIDED
    assert not patch.called
    stored = store.get_request(request_.request_id)
    assert (stored.chosen_option, stored.responses[-1].responder_id, stored.responses[-1].source) == (
        "Reject",
        "carol",
        "airflow",
    )


def test_a_conflict_on_patch_reads_who_won(store, request_, bridge, requests_mock):
    requests_mock.get(
        DETAIL,
        [{"json": detail()}, {"json": detail(answered_by="carol", chosen=["Reject"])}],
    )
    requests_mock.patch(DETAIL, status_code=409, json={"detail": "already updated"})

    assert tap(store, request_, bridge).outcome is Outcome.ALREADY_DECIDED
    assert store.get_request(request_.request_id).chosen_option == "Reject"


def test_a_redelivered_tap_already_written_by_us_is_recorded_once(store, request_, bridge, requests_mock):
    requests_mock.get(DETAIL, json=detail(answered_by="alice", chosen=["Approve"]))
    patch = requests_mock.patch(DETAIL, json={})

    assert tap(store, request_, bridge).outcome is Outcome.RECORDED
    assert tap(store, request_, bridge).outcome is Outcome.DUPLICATE
    assert not patch.called
    assert [r.responder_id for r in store.get_request(request_.request_id).responses] == [ALICE]


def test_airflow_refusing_the_user_records_nothing(store, request_, bridge, requests_mock):
    requests_mock.get(DETAIL, json=detail())
    requests_mock.patch(DETAIL, status_code=403, json={"detail": "not a respondent"})

    assert tap(store, request_, bridge).outcome is Outcome.NOT_ALLOWED
    assert store.get_request(request_.request_id).status is RequestStatus.PENDING


def test_an_unmapped_sender_never_reaches_airflow(store, request_, bridge, tokens, requests_mock):
    assert tap(store, request_, bridge, who=STRANGER).outcome is Outcome.NOT_ALLOWED
    assert not requests_mock.called
    assert tokens.issued == []


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        pytest.param(detail(state="failed"), "no longer waits in Airflow: failed", id="ended"),
        pytest.param(detail(try_number=2), "moved on to try 2", id="next-try"),
    ],
)
def test_a_task_that_stopped_waiting_cancels_the_request(
    store, request_, bridge, requests_mock, task, reason
):
    requests_mock.get(DETAIL, json=task)
    patch = requests_mock.patch(DETAIL, json={})

    assert tap(store, request_, bridge).outcome is Outcome.CANCELLED
    assert not patch.called
    stored = store.get_request(request_.request_id)
    assert stored.status is RequestStatus.CANCELLED
    assert reason in stored.closed_reason


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param({"status_code": 503}, id="5xx"),
        pytest.param({"exc": requests.ConnectionError("refused")}, id="unreachable"),
        pytest.param({"status_code": 401}, id="token-refused"),
    ],
)
def test_airflow_unavailable_aborts_and_a_later_tap_succeeds(store, request_, bridge, requests_mock, failure):
    requests_mock.get(DETAIL, **failure)
    with pytest.raises(AirflowApiUnavailableError, match=r"airflow\.test"):
        tap(store, request_, bridge)
    assert store.get_request(request_.request_id).responses == ()

    requests_mock.get(DETAIL, json=detail())
    requests_mock.patch(DETAIL, json={"chosen_options": ["Approve"]})
    assert tap(store, request_, bridge).outcome is Outcome.RECORDED


def test_without_a_bridge_an_airflow_request_is_refused_for_now(store, request_):
    with pytest.raises(AirflowApiUnavailableError, match="airflow_api_url"):
        store.record_decision(
            request_.request_id,
            option="Approve",
            responder_id=ALICE,
            channel="instagram",
            mid="m1",
            elsewhere=elsewhere_check(None),
        )
    assert store.get_request(request_.request_id).status is RequestStatus.PENDING


def test_requests_of_our_own_operator_never_call_airflow(store, bridge, requests_mock):
    request, _ = store.register_request(
        dag_id="d",
        run_id="r",
        task_id="t",
        recipients=[ALICE],
        options=["Approve"],
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    assert tap(store, request, bridge).outcome is Outcome.RECORDED
    assert not requests_mock.called
