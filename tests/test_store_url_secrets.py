"""A store URL's password, in its user info or its query, is refused where stored and masked where shown."""

from __future__ import annotations

import json
import logging
import socket
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.cli import main
from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator
from airflow_provider_instagram_hil.payloads import encode_payload
from airflow_provider_instagram_hil.sandbox.reviewer import quick_reply_event
from airflow_provider_instagram_hil.triggers.instagram import InstagramDecisionTrigger
from airflow_provider_instagram_hil.webhook import WEBHOOK_PATH, WebhookConfigError, create_app, get_resources
from airflow_provider_instagram_hil.webhook.signature import sign_body

PASSWORD = "pg-S3cret-in-url"
SSL_PASSWORD = "key-S3cret-in-url"
APP_SECRET = "url-test-app-secret"

QUERY_SECRET_URLS = [
    pytest.param(f"postgresql://airflow@db/airflow?password={PASSWORD}", id="query-password"),
    pytest.param(f"postgresql://airflow@db/airflow?sslmode=require&sslpassword={PASSWORD}", id="sslpassword"),
    pytest.param(f"postgresql://airflow:{PASSWORD}@db/airflow", id="user-info"),
]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestRefusedWhereStored:
    @pytest.mark.parametrize("url", QUERY_SECRET_URLS)
    def test_operator(self, url):
        with pytest.raises(ValueError, match="store_url must not contain a password") as caught:
            InstagramApprovalOperator(task_id="approve", recipient_id="1784", subject="Go?", store_url=url)
        assert PASSWORD not in str(caught.value)

    @pytest.mark.parametrize("url", QUERY_SECRET_URLS)
    def test_trigger_kwargs(self, url):
        with pytest.raises(ValueError, match="store_url must not contain a password") as caught:
            InstagramDecisionTrigger("0" * 32, datetime.now(timezone.utc), 1.0, store_url=url)
        assert PASSWORD not in str(caught.value)

    def test_trigger_without_secret_keeps_and_shows_its_url(self):
        url = "postgresql://airflow@db/airflow?sslmode=require&passfile=/run/pgpass"
        trigger = InstagramDecisionTrigger("0" * 32, datetime.now(timezone.utc), 1.0, store_url=url)
        assert trigger.serialize()[1]["store_url"] == url
        assert "db/airflow" in repr(trigger)


class TestMaskedWhereShown:
    @pytest.mark.postgres
    def test_store_check_output(self, postgres_url, capsys):
        # Trust authentication ignores passwords: the command works, and must print neither.
        url = f"{postgres_url}&password={PASSWORD}&sslpassword={SSL_PASSWORD}"
        assert main(["store", "init", "--url", url]) == 0
        assert main(["store", "check", "--url", url]) == 0
        captured = capsys.readouterr()
        for secret in (PASSWORD, SSL_PASSWORD):
            assert secret not in captured.out + captured.err
        assert "password=***" in captured.out
        assert "sslpassword=***" in captured.out

    def test_webhook_503_log_line(self, caplog):
        url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test?password={PASSWORD}"
        app = create_app(
            {
                "TESTING": True,
                "INSTAGRAM_HIL_APP_SECRETS": [APP_SECRET],
                "INSTAGRAM_HIL_VERIFY_TOKEN": "v",
                "INSTAGRAM_HIL_STORE_URL": url,
                "INSTAGRAM_HIL_SEND_REPLIES": False,
            }
        )
        body = json.dumps(quick_reply_event(encode_payload("0" * 32, "Approve"), sender_id="1784")).encode()
        try:
            with caplog.at_level(logging.DEBUG):
                response = app.test_client().post(
                    WEBHOOK_PATH, data=body, headers={"X-Hub-Signature-256": sign_body(body, APP_SECRET)}
                )
        finally:
            get_resources(app).close()
        assert response.status_code == 503
        assert PASSWORD not in caplog.text
        assert "password=***" in caplog.text
        assert "is unavailable: refused" in caplog.text

    def test_webhook_start_up_error(self):
        with pytest.raises(WebhookConfigError) as caught:
            create_app(
                {
                    "INSTAGRAM_HIL_APP_SECRETS": [APP_SECRET],
                    "INSTAGRAM_HIL_VERIFY_TOKEN": "v",
                    "INSTAGRAM_HIL_STORE_URL": f"nosuchdriver://u@h/db?sslpassword={PASSWORD}",
                    "INSTAGRAM_HIL_SEND_REPLIES": False,
                }
            )
        assert PASSWORD not in str(caught.value)
        assert "sslpassword=***" in str(caught.value)


def test_a_future_request_stays_reachable():
    # Guard against over-eager masking: a URL without a secret reaches the store as written.
    expires = datetime.now(timezone.utc) + timedelta(hours=1)
    trigger = InstagramDecisionTrigger("0" * 32, expires, 1.0, store_url="sqlite:////tmp/x.db")
    assert trigger.serialize()[1]["store_url"] == "sqlite:////tmp/x.db"
