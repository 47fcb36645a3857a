"""The webhook served by a real ``airflow api-server``: handshake, signed taps (chunked too), UI metadata."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_instagram_hil import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_instagram_hil.payloads import encode_payload
from airflow_provider_instagram_hil.sandbox.reviewer import post_signed, quick_reply_event
from airflow_provider_instagram_hil.store import DecisionStore, RequestStatus
from airflow_provider_instagram_hil.webhook.signature import sign_body

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REVIEWER = "6200000000000042"


@pytest.fixture(scope="module")
def store(api_server) -> Iterator[DecisionStore]:
    decision_store = DecisionStore(api_server.store_url)
    yield decision_store
    decision_store.dispose()


def _pending_request(store: DecisionStore, task_id: str) -> str:
    request, created = store.register_request(
        dag_id="publish_post",
        run_id="manual__2026-01-01T00:00:00+00:00",
        task_id=task_id,
        recipients=[REVIEWER],
        options=["Approve", "Reject"],
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    assert created
    return request.request_id


def _decided(store: DecisionStore, request_id: str):
    """The request as stored: the webhook commits a tap before it answers 200, so no wait is needed."""
    request = store.get_request(request_id)
    assert request is not None
    return request


class TestHandshake:
    def test_answers_the_challenge(self, api_server):
        params = {
            "hub.mode": "subscribe",
            "hub.verify_token": api_server.verify_token,
            "hub.challenge": "1158201444",
        }
        response = requests.get(api_server.webhook_url, params=params, timeout=10)
        assert response.status_code == 200
        assert response.text == "1158201444"

    def test_refuses_a_wrong_verify_token(self, api_server):
        params = {"hub.mode": "subscribe", "hub.verify_token": "not-the-token", "hub.challenge": "1158201444"}
        response = requests.get(api_server.webhook_url, params=params, timeout=10)
        assert response.status_code == 403
        assert "1158201444" not in response.text


class TestSignedTaps:
    def test_tap_records_the_decision(self, api_server, store):
        request_id = _pending_request(store, "approve_plain")
        event = quick_reply_event(encode_payload(request_id, "Approve"), sender_id=REVIEWER)
        response = post_signed(api_server.webhook_url, event, api_server.app_secret)
        assert response.status_code == 200
        decided = _decided(store, request_id)
        assert decided.status is RequestStatus.DECIDED
        assert decided.chosen_option == "Approve"

    def test_chunked_tap_records_the_decision(self, api_server, store):
        request_id = _pending_request(store, "approve_chunked")
        event = quick_reply_event(encode_payload(request_id, "Approve"), sender_id=REVIEWER)
        body = json.dumps(event, separators=(",", ":")).encode()

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 64):
                yield body[start : start + 64]

        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign_body(body, api_server.app_secret),
        }
        response = requests.post(api_server.webhook_url, data=chunks(), headers=headers, timeout=10)
        assert response.request.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in response.request.headers
        assert response.status_code == 200
        decided = _decided(store, request_id)
        assert decided.status is RequestStatus.DECIDED
        assert decided.chosen_option == "Approve"

    @pytest.mark.parametrize(
        "signature",
        [
            pytest.param(None, id="unsigned"),
            pytest.param("sha256=" + "0" * 64, id="bad-signature"),
        ],
    )
    def test_refuses_unsigned_posts(self, api_server, store, signature):
        request_id = _pending_request(store, f"refused_{'none' if signature is None else 'bad'}")
        event = quick_reply_event(encode_payload(request_id, "Approve"), sender_id=REVIEWER)
        headers = {"Content-Type": "application/json"}
        if signature:
            headers["X-Hub-Signature-256"] = signature
        response = requests.post(api_server.webhook_url, data=json.dumps(event), headers=headers, timeout=10)
        assert response.status_code == 403
        request = store.get_request(request_id)
        assert request is not None
        assert request.status is RequestStatus.PENDING


class TestStatusPage:
    def test_shows_the_request(self, api_server, store):
        request_id = _pending_request(store, "status_page")
        response = requests.get(f"{api_server.url}/instagram-hil/requests/{request_id}", timeout=10)
        assert response.status_code == 200
        assert "status_page" in response.text
        assert "Open Instagram conversation" in response.text

    def test_unknown_request_is_404(self, api_server):
        response = requests.get(f"{api_server.url}/instagram-hil/requests/{'0' * 32}", timeout=10)
        assert response.status_code == 404


LINK_DAG_ID = "ighil_link_check"
LINK_DAG = """
from datetime import datetime, timezone

from airflow.sdk import DAG, BaseOperator

from airflow_provider_instagram_hil.links.instagram import REQUEST_ID_XCOM_KEY, InstagramRequestLink


class PushesRequestId(BaseOperator):
    \"\"\"Declares the link and pushes a request id the way the approval operator does.\"\"\"

    operator_extra_links = (InstagramRequestLink(),)

    def __init__(self, *, request_id, **kwargs):
        super().__init__(**kwargs)
        self.request_id = request_id

    def execute(self, context):
        context["ti"].xcom_push(key=REQUEST_ID_XCOM_KEY, value=self.request_id)


with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
    PushesRequestId(task_id="approve", request_id="{request_id}")
"""


class TestExtraLink:
    def test_api_server_shows_the_url_the_worker_stored(self, api_server, store):
        """Serialized DAG -> task run (finalize pushes the URL) -> API server's links endpoint."""
        request_id = _pending_request(store, "approve_link")
        dag_file = api_server.home / "dags" / f"{LINK_DAG_ID}.py"
        dag_file.write_text(LINK_DAG.format(dag_id=LINK_DAG_ID, request_id=request_id))
        result = api_server.run_airflow("dags", "test", LINK_DAG_ID)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]

        runs = requests.get(
            f"{api_server.url}/api/v2/dags/{LINK_DAG_ID}/dagRuns", headers=api_server.auth, timeout=10
        ).json()
        (run,) = runs["dag_runs"]
        run_url = f"{api_server.url}/api/v2/dags/{LINK_DAG_ID}/dagRuns/{run['dag_run_id']}"
        response = requests.get(f"{run_url}/taskInstances/approve/links", headers=api_server.auth, timeout=10)
        assert response.status_code == 200
        url = response.json()["extra_links"]["Instagram request"]
        assert url == f"{api_server.url}/instagram-hil/requests/{request_id}"


class TestAirflowApi:
    def test_api_still_answers_as_before(self, api_server):
        # The plugin adds no middleware and no auth requirement: the REST API behaves as configured.
        assert requests.get(f"{api_server.url}/api/v2/monitor/health", timeout=10).status_code == 200
        version = requests.get(f"{api_server.url}/api/v2/version", timeout=10)
        assert version.status_code == 200
        assert "version" in version.json()

    def test_plugin_listed_with_its_mount(self, api_server):
        response = requests.get(
            f"{api_server.url}/api/v2/plugins", params={"limit": 100}, headers=api_server.auth, timeout=10
        )
        assert response.status_code == 200
        (plugin,) = [p for p in response.json()["plugins"] if p["name"] == "instagram_hil"]
        (mount,) = plugin["fastapi_apps"]
        assert mount["url_prefix"] == "/instagram-hil"
        assert mount["name"] == "instagram_hil"
        assert plugin["operator_extra_links"] == []

    def test_hook_meta_lists_instagram_fields(self, api_server):
        response = requests.get(
            f"{api_server.url}/ui/connections/hook_meta", headers=api_server.auth, timeout=30
        )
        assert response.status_code == 200
        (meta,) = [m for m in response.json() if m["connection_type"] == "instagram"]
        assert meta["hook_name"] == "Instagram"
        standard = meta["standard_fields"]
        for field, label in UI_FIELD_BEHAVIOUR["relabeling"].items():
            assert standard[field]["title"] == label
            assert standard[field]["hidden"] is False
            assert standard[field]["placeholder"] == UI_FIELD_BEHAVIOUR["placeholders"][field]
        for field in ("login", "port"):
            assert standard[field]["hidden"] is True
        assert standard["url_schema"]["hidden"] is True  # "schema" in hidden-fields
        extra = meta["extra_fields"]
        assert set(extra) == set(CONN_FIELDS)
        for name, field in CONN_FIELDS.items():
            assert extra[name]["schema"]["title"] == field["label"]
            assert extra[name]["description"] == field["description"]
        assert extra["app_secret"]["schema"]["format"] == "password"


class TestNothingLeaks:
    def test_secrets_and_credentials_stay_out_of_the_log(self, api_server):
        # Runs last in this module: the log then holds every request above (handshakes carry the token).
        log = api_server.log_text()
        assert "request finished" in log or "/instagram-hil/" in log, "expected an access log to search"
        for secret in (api_server.app_secret, api_server.verify_token, api_server.access_token):
            assert secret not in log
        for header in ("authorization", "bearer ", "x-hub-signature"):
            assert header not in log.lower()
