"""The status page the link opens: ``GET /requests/<request_id>`` of the webhook app."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from flask import Flask

from airflow_provider_instagram_hil.store import DecisionStore
from airflow_provider_instagram_hil.webhook.status import status_blueprint

REVIEWER = "6200000000000001"


@pytest.fixture
def decision_store(sqlite_url):
    store = DecisionStore(sqlite_url)
    yield store
    store.dispose()


def _app(**config) -> Flask:
    app = Flask("status_test")
    app.config.update(config)
    app.register_blueprint(status_blueprint)
    return app


@pytest.fixture
def client(decision_store):
    return _app(INSTAGRAM_HIL_STORE_URL=decision_store.url).test_client()


def _register(store: DecisionStore, **overrides):
    fields = {
        "dag_id": "publish_post",
        "run_id": "manual__2026-01-01T00:00:00+00:00",
        "task_id": "approve",
        "recipients": [REVIEWER],
        "options": ["Approve", "Reject"],
        "expires_at": datetime.now(timezone.utc) + timedelta(hours=1),
    }
    fields.update(overrides)
    request, _ = store.register_request(**fields)
    return request


class TestRequestStatusPage:
    def test_pending_request(self, client, decision_store):
        request = _register(decision_store)
        response = client.get(f"/requests/{request.request_id}")
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        page = response.get_data(as_text=True)
        for text in ("publish_post", "manual__2026-01-01T00:00:00+00:00", "approve", "pending"):
            assert text in page
        assert '<a href="https://www.instagram.com/direct/inbox/"' in page
        assert "Open Instagram conversation" in page

    def test_decided_request_shows_option_and_time(self, client, decision_store):
        request = _register(decision_store)
        result = decision_store.record_decision(
            request.request_id, option="Approve", responder_id=REVIEWER, mid="m1"
        )
        page = client.get(f"/requests/{request.request_id}").get_data(as_text=True)
        assert '<td id="status">decided</td>' in page
        assert '<td id="chosen-option">Approve</td>' in page
        assert result.request is not None
        assert result.request.responded_at is not None
        assert result.request.responded_at.isoformat() in page

    def test_never_shows_who_answered_or_who_was_asked(self, client, decision_store):
        request = _register(decision_store)
        decision_store.record_decision(request.request_id, option="Approve", responder_id=REVIEWER, mid="m2")
        assert REVIEWER not in client.get(f"/requests/{request.request_id}").get_data(as_text=True)

    def test_escapes_ids(self, client, decision_store):
        request = _register(decision_store, task_id="<script>alert(1)</script>")
        page = client.get(f"/requests/{request.request_id}").get_data(as_text=True)
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    def test_capability_headers(self, client, decision_store):
        request = _register(decision_store)
        headers = client.get(f"/requests/{request.request_id}").headers
        assert headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Robots-Tag"].startswith("noindex")

    @pytest.mark.parametrize(
        "request_id",
        [
            pytest.param("0" * 32, id="unknown"),
            pytest.param("not-a-request-id", id="malformed"),
            pytest.param("A" * 32, id="upper-case"),
        ],
    )
    def test_404(self, client, request_id):
        response = client.get(f"/requests/{request_id}")
        assert response.status_code == 404
        assert response.mimetype == "text/plain"

    def test_only_get(self, client, decision_store):
        request = _register(decision_store)
        assert client.post(f"/requests/{request.request_id}").status_code == 405


class TestStoreLookup:
    @pytest.mark.parametrize(
        "extension",
        [
            pytest.param(lambda store: store, id="store-itself"),
            pytest.param(lambda store: SimpleNamespace(store=store), id="object-with-store"),
            pytest.param(lambda store: {"store": store}, id="dict-with-store"),
        ],
    )
    def test_store_from_app_extensions(self, decision_store, extension):
        app = _app()
        app.extensions["instagram_hil"] = extension(decision_store)
        request = _register(decision_store)
        assert app.test_client().get(f"/requests/{request.request_id}").status_code == 200

    def test_503_without_a_store(self):
        response = _app().test_client().get(f"/requests/{'0' * 32}")
        assert response.status_code == 503

    def test_store_from_the_real_webhook_app(self, decision_store):
        from airflow_provider_instagram_hil.webhook import create_app

        app = create_app(
            {
                "INSTAGRAM_HIL_APP_SECRETS": ["secret"],
                "INSTAGRAM_HIL_VERIFY_TOKEN": "token",
                "INSTAGRAM_HIL_STORE_URL": decision_store.url,
                "INSTAGRAM_HIL_SEND_REPLIES": False,
            }
        )
        if "instagram_hil_status" not in app.blueprints:  # until create_app() registers it itself
            app.register_blueprint(status_blueprint)
        request = _register(decision_store)
        response = app.test_client().get(f"/requests/{request.request_id}")
        assert response.status_code == 200
        assert "publish_post" in response.get_data(as_text=True)
