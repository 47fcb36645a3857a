"""GET /webhooks/instagram: Meta's subscription handshake."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_instagram_hil.webhook import create_app, get_resources

from .webhook_support import VERIFY_TOKEN, WEBHOOK_PATH


@pytest.fixture
def store_url(sqlite_url):
    """The handshake never touches the decision store: SQLite is enough."""
    return sqlite_url


def _handshake(client, **params):
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    query.update(params)
    return client.get(WEBHOOK_PATH, query_string={k: v for k, v in query.items() if v is not None})


class TestVerifySubscription:
    def test_matching_token_echoes_the_challenge_as_plain_text(self, client):
        response = _handshake(client)

        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        assert response.get_data(as_text=True) == "1158201444"
        assert response.headers["X-Content-Type-Options"] == "nosniff"

    @pytest.mark.parametrize(
        "params",
        [
            pytest.param({"hub.verify_token": "wrong-token"}, id="wrong-token"),
            pytest.param({"hub.verify_token": VERIFY_TOKEN + "x"}, id="token-prefix"),
            pytest.param({"hub.verify_token": ""}, id="empty-token"),
            pytest.param({"hub.verify_token": None}, id="no-token"),
            pytest.param({"hub.verify_token": "t\u00f6ken-\U0001f511"}, id="non-ascii-token"),
            pytest.param({"hub.mode": "unsubscribe"}, id="wrong-mode"),
            pytest.param({"hub.mode": None}, id="no-mode"),
        ],
    )
    def test_refused(self, client, params):
        response = _handshake(client, **params)

        assert response.status_code == 403
        assert response.is_json
        assert response.get_json() == {"error": "verification failed"}
        assert "1158201444" not in response.get_data(as_text=True)

    def test_missing_challenge(self, client):
        response = _handshake(client, **{"hub.challenge": None})

        assert response.status_code == 400
        assert response.get_json() == {"error": "missing or oversized hub.challenge"}

    @pytest.mark.parametrize("token", [None, ""], ids=["none", "empty"])
    def test_no_verify_token_configured_refuses_everything(self, app_config, token):
        app = create_app({**app_config, "INSTAGRAM_HIL_VERIFY_TOKEN": token})
        try:
            client = app.test_client()
            assert _handshake(client).status_code == 403
            assert _handshake(client, **{"hub.verify_token": ""}).status_code == 403
            assert _handshake(client, **{"hub.verify_token": None}).status_code == 403
        finally:
            get_resources(app).close()

    def test_token_is_never_logged(self, client, caplog):
        with caplog.at_level(logging.DEBUG):
            _handshake(client)
            _handshake(client, **{"hub.verify_token": "guess-123"})

        assert VERIFY_TOKEN not in caplog.text
        assert "guess-123" not in caplog.text
        assert "Answered Meta's webhook verification" in caplog.text
        assert "Refused a webhook verification" in caplog.text
