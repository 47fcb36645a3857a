"""The webhook answering Airflow's own human-in-the-loop tasks through a HitlBridge (Airflow mocked)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.hitl.bridge import SOURCE, HitlBridge
from airflow_provider_instagram_hil.store import RecipientSpec, RequestStatus
from airflow_provider_instagram_hil.webhook import create_app, get_resources

from .webhook_support import IG_REVIEWER, STRANGER, load_payload, post_signed

API = "http://airflow.test:8080"
DETAIL = f"{API}/api/v2/dags/sales/dagRuns/r1/taskInstances/ship/-1/hitlDetails"


def detail(answered_by=None, chosen=None):
    return {
        "task_instance": {"state": "awaiting_input", "try_number": 1},
        "response_received": answered_by is not None,
        "responded_by_user": {"id": answered_by, "name": answered_by} if answered_by else None,
        "chosen_options": chosen,
    }


@pytest.fixture
def hitl_app(app_config):
    bridge = HitlBridge(API, lambda user: f"token-of-{user}")
    application = create_app({**app_config, "INSTAGRAM_HIL_AIRFLOW_HITL": bridge})
    yield application
    get_resources(application).close()


@pytest.fixture
def hitl_request(hitl_app):
    request, _ = get_resources(hitl_app).store.register_request(
        dag_id="sales",
        run_id="r1",
        task_id="ship",
        recipients=[RecipientSpec(IG_REVIEWER, "instagram", "alice")],
        options=["approve", "reject"],
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
        source=SOURCE,
    )
    return request


def replies_of(app, sender):
    assert get_resources(app).sender.drain(timeout=10)
    return [text for _, text in sender.sent]


def test_a_tap_answers_airflow_and_the_reviewer_is_thanked(hitl_app, hitl_request, sender, requests_mock):
    requests_mock.get(DETAIL, json=detail())
    patch = requests_mock.patch(DETAIL, json={"chosen_options": ["approve"]})

    answer = post_signed(
        hitl_app.test_client(), load_payload("instagram_quick_reply", hitl_request.request_id)
    )

    assert answer.status_code == 200
    assert patch.call_count == 1
    assert patch.last_request.headers["Authorization"] == "Bearer token-of-alice"
    assert replies_of(hitl_app, sender) == ["✅ Recorded: approve. Thank you."]


def test_answered_in_airflow_first_the_tap_is_told_by_whom(hitl_app, hitl_request, sender, requests_mock):
    requests_mock.get(DETAIL, json=detail(answered_by="bob", chosen=["reject"]))

    answer = post_signed(
        hitl_app.test_client(), load_payload("instagram_quick_reply", hitl_request.request_id)
    )

    assert answer.status_code == 200
    assert replies_of(hitl_app, sender) == ["This request was already answered in Airflow by bob: reject."]
    assert get_resources(hitl_app).store.get_request(hitl_request.request_id).chosen_option == "reject"


def test_airflow_down_answers_503_and_the_redelivery_lands_once(
    hitl_app, hitl_request, sender, requests_mock
):
    body = load_payload("instagram_quick_reply", hitl_request.request_id)
    requests_mock.get(DETAIL, status_code=503)

    assert post_signed(hitl_app.test_client(), body).status_code == 503
    assert get_resources(hitl_app).store.get_request(hitl_request.request_id).responses == ()

    requests_mock.get(DETAIL, [{"json": detail()}, {"json": detail(answered_by="alice", chosen=["approve"])}])
    patch = requests_mock.patch(DETAIL, json={"chosen_options": ["approve"]})
    assert post_signed(hitl_app.test_client(), body).status_code == 200
    assert post_signed(hitl_app.test_client(), body).status_code == 200  # Meta delivers twice

    assert patch.call_count == 1
    stored = get_resources(hitl_app).store.get_request(hitl_request.request_id)
    assert (stored.status, len(stored.responses)) == (RequestStatus.DECIDED, 1)
    assert replies_of(hitl_app, sender) == ["✅ Recorded: approve. Thank you."]


def test_a_stranger_is_refused_before_airflow_is_asked(hitl_app, hitl_request, sender, requests_mock):
    body = load_payload("instagram_quick_reply", hitl_request.request_id).replace(
        IG_REVIEWER.encode(), STRANGER.encode()
    )
    answer = post_signed(hitl_app.test_client(), body)
    assert answer.status_code == 200
    assert not requests_mock.called
    assert replies_of(hitl_app, sender) == ["This request is not assigned to you."]
