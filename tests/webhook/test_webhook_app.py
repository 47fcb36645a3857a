"""create_app(): layered config, settings from Airflow, shared state, and no Airflow import of its own."""

from __future__ import annotations

import subprocess
import sys
import threading
import types
from datetime import datetime, timedelta, timezone

import pytest
from credentials import TEST_APP_SECRET, TEST_VERIFY_TOKEN
from sqlalchemy import event

from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.webhook import (
    OutboxSender,
    WebhookConfigError,
    WebhookResources,
    create_app,
    get_resources,
)

from .webhook_support import APP_SECRET, IG_REVIEWER, VERIFY_TOKEN, WEBHOOK_PATH, load_payload, post_signed

# The credentials of the connection fixture (instagram_conn_env).
CONN_APP_SECRET = TEST_APP_SECRET
CONN_VERIFY_TOKEN = TEST_VERIFY_TOKEN


@pytest.fixture
def store_url(sqlite_url):
    return sqlite_url


@pytest.fixture
def make_app():
    apps = []

    def _make(config):
        app = create_app(config)
        apps.append(app)
        return app

    yield _make
    for app in apps:
        get_resources(app).close()


def _register(app):
    request, _ = get_resources(app).store.register_request(
        dag_id="d",
        run_id="r",
        task_id="t",
        recipients=[IG_REVIEWER],
        options=["approve", "reject"],
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return request


class TestConfig:
    def test_state_is_shared_through_extensions(self, app, sender):
        state = app.extensions["instagram_hil"]

        assert isinstance(state, WebhookResources)
        assert state is get_resources(app)
        assert state.app_secrets == (APP_SECRET, "webhook-test-next-secret-0c9e")
        assert state.verify_token == VERIFY_TOKEN
        assert state.max_body_bytes == 1024 * 1024
        assert isinstance(state.sender, OutboxSender)
        assert state.sender.send is sender
        assert state.reply_channels == {"instagram", "messenger"}
        assert "instagram_hil" in app.blueprints

    def test_status_page_is_served_unless_switched_off(self, app, make_app, app_config, pending):
        request = pending()
        page = app.test_client().get(f"/requests/{request.request_id}")

        off = make_app({**app_config, "INSTAGRAM_HIL_STATUS_PAGE": False})

        assert page.status_code == 200
        assert "instagram_hil_status" not in off.blueprints
        assert off.test_client().get(f"/requests/{request.request_id}").status_code == 404

    def test_comma_separated_secrets(self, make_app, app_config):
        app = make_app({**app_config, "INSTAGRAM_HIL_APP_SECRETS": " one, two ,,"})

        assert get_resources(app).app_secrets == ("one", "two")

    def test_replies_off_means_no_sender(self, make_app, app_config):
        app = make_app({**app_config, "INSTAGRAM_HIL_SEND_REPLIES": False})

        assert get_resources(app).sender is None

    def test_reply_threads_and_outbox_poll_interval(self, make_app, app_config):
        app = make_app(
            {**app_config, "INSTAGRAM_HIL_REPLY_THREADS": 3, "INSTAGRAM_HIL_OUTBOX_POLL_INTERVAL": 0.5}
        )

        sender = get_resources(app).sender
        assert (sender.threads, sender.poll_interval) == (3, 0.5)

    def test_closing_the_state_stops_every_thread_and_disposes_the_engine(self, app_config):
        before = set(threading.enumerate())
        state = get_resources(create_app({**app_config, "INSTAGRAM_HIL_REPLY_THREADS": 2}))
        disposed = threading.Event()
        event.listen(state.store.engine, "engine_disposed", lambda engine: disposed.set())
        started = [
            t for t in set(threading.enumerate()) - before if t.name.startswith("instagram-hil-outbox-")
        ]
        assert len(started) == 2

        state.close()

        assert disposed.is_set()
        assert [t.name for t in started if t.is_alive()] == []

    @pytest.mark.parametrize(
        ("override", "message"),
        [
            pytest.param({"INSTAGRAM_HIL_APP_SECRETS": []}, "No app secret configured", id="no-secret"),
            pytest.param({"INSTAGRAM_HIL_APP_SECRETS": " , "}, "No app secret configured", id="blank-secret"),
            pytest.param({"INSTAGRAM_HIL_APP_SECRETS": None}, "No app secret configured", id="none-secret"),
            pytest.param({"INSTAGRAM_HIL_APP_SECRETS": 42}, "app secrets must be", id="secret-number"),
            pytest.param({"INSTAGRAM_HIL_VERIFY_TOKEN": 5}, "VERIFY_TOKEN", id="token-number"),
            pytest.param({"INSTAGRAM_HIL_MAX_BODY_BYTES": 0}, "MAX_BODY_BYTES", id="zero-limit"),
            pytest.param({"INSTAGRAM_HIL_MAX_BODY_BYTES": "1M"}, "MAX_BODY_BYTES", id="text-limit"),
            pytest.param({"INSTAGRAM_HIL_STORE_URL": ""}, "STORE_URL", id="empty-store-url"),
            pytest.param({"INSTAGRAM_HIL_REPLY_SENDER": "hook"}, "REPLY_SENDER", id="sender-string"),
        ],
    )
    def test_bad_settings_are_refused_at_start(self, app_config, override, message):
        with pytest.raises(WebhookConfigError, match=message):
            create_app({**app_config, **override})

    def test_unusable_store_url_hides_its_password(self, app_config):
        with pytest.raises(WebhookConfigError) as info:
            create_app({**app_config, "INSTAGRAM_HIL_STORE_URL": "nosuchdb://admin:pa55w0rd-xyz@db/hil"})

        assert "pa55w0rd-xyz" not in str(info.value)
        assert "store_url" in str(info.value)


class TestSettingsFromAirflow:
    def test_connection_and_config_fill_the_missing_keys(
        self, make_app, instagram_conn_env, monkeypatch, sqlite_url, sender
    ):
        instagram_conn_env(extra={"app_secret": f"{CONN_APP_SECRET}, rotated-secret-2"})
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", sqlite_url)

        app = make_app({"TESTING": True, "INSTAGRAM_HIL_REPLY_SENDER": sender})

        state = get_resources(app)
        assert state.app_secrets == (CONN_APP_SECRET, "rotated-secret-2")
        assert state.verify_token == CONN_VERIFY_TOKEN
        assert state.store.url == sqlite_url
        client = app.test_client()
        handshake = client.get(
            WEBHOOK_PATH,
            query_string={
                "hub.mode": "subscribe",
                "hub.verify_token": CONN_VERIFY_TOKEN,
                "hub.challenge": "7",
            },
        )
        assert handshake.get_data(as_text=True) == "7"
        request = _register(app)
        tap = load_payload("instagram_quick_reply", request.request_id)
        assert post_signed(client, tap, secret="rotated-secret-2").status_code == 200

    def test_conn_id_comes_from_the_config_section(
        self, make_app, instagram_conn_env, monkeypatch, sqlite_url
    ):
        instagram_conn_env("ig_reviews", extra={"app_secret": "secret-of-ig-reviews"})
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__CONN_ID", "ig_reviews")

        app = make_app({"INSTAGRAM_HIL_STORE_URL": sqlite_url})

        assert app.config["INSTAGRAM_HIL_CONN_ID"] == "ig_reviews"
        assert get_resources(app).app_secrets == ("secret-of-ig-reviews",)

    def test_given_keys_win_over_airflow(self, make_app, instagram_conn_env, sqlite_url):
        instagram_conn_env()

        app = make_app({"INSTAGRAM_HIL_APP_SECRETS": ["explicit"], "INSTAGRAM_HIL_STORE_URL": sqlite_url})

        assert get_resources(app).app_secrets == ("explicit",)
        assert get_resources(app).verify_token == CONN_VERIFY_TOKEN

    def test_connection_without_app_secret(self, instagram_conn_env, sqlite_url):
        instagram_conn_env(extra={"app_secret": None})

        with pytest.raises(
            WebhookConfigError, match="app_secret of the Airflow connection 'instagram_default'"
        ):
            create_app({"INSTAGRAM_HIL_STORE_URL": sqlite_url})

    def test_missing_connection(self, monkeypatch, sqlite_url):
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__CONN_ID", "no_such_connection")

        with pytest.raises(
            WebhookConfigError, match="Cannot read the Airflow connection 'no_such_connection'"
        ):
            create_app({"INSTAGRAM_HIL_STORE_URL": sqlite_url})

    def test_replies_go_through_the_instagram_hook(self, make_app, app_config, monkeypatch):
        calls = []

        class FakeInstagramHook:
            def __init__(self, instagram_conn_id, **retries):
                self.conn_id = instagram_conn_id
                self.retries = retries

            def send_message(self, recipient_id, text, quick_replies=None):
                calls.append((self.conn_id, recipient_id, text, quick_replies))
                return {"recipient_id": recipient_id, "message_id": "mid.reply"}

        module = types.ModuleType("airflow_provider_instagram_hil.hooks.instagram")
        module.InstagramHook = FakeInstagramHook
        monkeypatch.setitem(sys.modules, module.__name__, module)
        config = {k: v for k, v in app_config.items() if k != "INSTAGRAM_HIL_REPLY_SENDER"}
        app = make_app({**config, "INSTAGRAM_HIL_CONN_ID": "ig_replies"})
        request = _register(app)

        post_signed(app.test_client(), load_payload("instagram_quick_reply", request.request_id))
        assert get_resources(app).sender.drain(timeout=10)

        assert calls == [("ig_replies", IG_REVIEWER, "✅ Recorded: approve. Thank you.", None)]
        assert get_resources(app).store.get_request(request.request_id).status is RequestStatus.DECIDED


def test_the_webhook_imports_no_airflow_when_fully_configured(sqlite_url):
    code = f"""
import sys
from airflow_provider_instagram_hil.webhook import create_app
app = create_app({{"INSTAGRAM_HIL_APP_SECRETS": ["s"], "INSTAGRAM_HIL_VERIFY_TOKEN": "v",
                  "INSTAGRAM_HIL_STORE_URL": {sqlite_url!r}, "INSTAGRAM_HIL_SEND_REPLIES": False,
                  "INSTAGRAM_HIL_AIRFLOW_HITL": None}})
app.test_client().get("/webhooks/instagram")
loaded = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
print(loaded)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
