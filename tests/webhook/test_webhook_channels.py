"""One webhook for three channels: every channel connection's secrets and tokens, replies per channel."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.hooks.messenger import MessengerHook
from airflow_provider_instagram_hil.hooks.whatsapp import WhatsAppHook
from airflow_provider_instagram_hil.store import RecipientSpec
from airflow_provider_instagram_hil.webhook import WebhookConfigError, create_app, get_resources
from airflow_provider_instagram_hil.webhook.settings import HookReplies

from .webhook_support import IG_REVIEWER, PAGE_REVIEWER, WA_REVIEWER, WEBHOOK_PATH, load_payload, post_signed

IG_SECRET, PAGE_SECRET, WA_SECRET = "ig-app-secret-1", "page-app-secret-2", "wa-app-secret-3"
IG_TOKEN, PAGE_TOKEN, WA_TOKEN = "ig-verify-1", "page-verify-2", "wa-verify-3"


@pytest.fixture
def store_url(sqlite_url):
    return sqlite_url


@pytest.fixture
def three_connections(instagram_conn_env, channel_conn_env, monkeypatch):
    instagram_conn_env(extra={"app_secret": IG_SECRET, "verify_token": IG_TOKEN})
    channel_conn_env("messenger", extra={"app_secret": PAGE_SECRET, "verify_token": PAGE_TOKEN})
    channel_conn_env("whatsapp", extra={"app_secret": f"{WA_SECRET}, {IG_SECRET}", "verify_token": WA_TOKEN})
    monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__MESSENGER_CONN_ID", "messenger_default")
    monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__WHATSAPP_CONN_ID", "whatsapp_default")


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


@pytest.fixture
def sent(monkeypatch):
    """Record what each channel hook was asked to send (no Graph call)."""
    calls: list[tuple[str, str, str, str]] = []

    def recorder(label, conn_attr):
        def send(self, recipient_id, text, *args, **kwargs):
            calls.append((label, getattr(self, conn_attr), recipient_id, text))
            return {"message_id": f"{label}.{len(calls)}"}

        return send

    monkeypatch.setattr(InstagramHook, "send_message", recorder("instagram-hook", "instagram_conn_id"))
    monkeypatch.setattr(MessengerHook, "send_message", recorder("messenger-hook", "messenger_conn_id"))
    monkeypatch.setattr(WhatsAppHook, "send_text", recorder("whatsapp-hook", "whatsapp_conn_id"))
    return calls


def _register(app):
    request, _ = get_resources(app).store.register_request(
        dag_id="d",
        run_id="r",
        task_id="t",
        recipients=[
            RecipientSpec(IG_REVIEWER, "instagram"),
            RecipientSpec(PAGE_REVIEWER, "messenger"),
            RecipientSpec(WA_REVIEWER, "whatsapp"),
        ],
        options=["approve", "reject"],
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return request


class TestSecretsOfEveryChannel:
    def test_every_connections_secrets_verify_and_tokens_handshake(
        self, make_app, three_connections, store_url
    ):
        app = make_app({"INSTAGRAM_HIL_STORE_URL": store_url, "INSTAGRAM_HIL_SEND_REPLIES": False})
        state = get_resources(app)
        assert state.app_secrets == (IG_SECRET, PAGE_SECRET, WA_SECRET)  # the shared one only once
        assert state.verify_tokens == (IG_TOKEN, PAGE_TOKEN, WA_TOKEN)
        client = app.test_client()
        for token in (IG_TOKEN, PAGE_TOKEN, WA_TOKEN):
            query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"}
            assert client.get(WEBHOOK_PATH, query_string=query).get_data(as_text=True) == "42"
        query = {"hub.mode": "subscribe", "hub.verify_token": "other", "hub.challenge": "42"}
        assert client.get(WEBHOOK_PATH, query_string=query).status_code == 403
        request = _register(app)
        for fixture, secret in (
            ("instagram_quick_reply", IG_SECRET),
            ("messenger_page_quick_reply", PAGE_SECRET),
            ("whatsapp_button_reply", WA_SECRET),
        ):
            assert (
                post_signed(client, load_payload(fixture, request.request_id), secret=secret).status_code
                == 200
            )
        assert (
            post_signed(client, load_payload("instagram_quick_reply", "x"), secret="unknown").status_code
            == 403
        )
        responders = {r.responder_id for r in state.store.get_request(request.request_id).responses}
        assert responders == {IG_REVIEWER}  # the first answer decides; the others were too late

    def test_a_whatsapp_only_webhook_needs_no_instagram_connection(
        self, make_app, channel_conn_env, monkeypatch, store_url, sent
    ):
        channel_conn_env("whatsapp", extra={"app_secret": WA_SECRET, "verify_token": WA_TOKEN})
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__CONN_ID", "no_instagram_here")
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__WHATSAPP_CONN_ID", "whatsapp_default")

        app = make_app({"INSTAGRAM_HIL_STORE_URL": store_url})

        state = get_resources(app)
        assert app.config["INSTAGRAM_HIL_CONN_ID"] is None
        assert state.app_secrets == (WA_SECRET,)
        assert state.reply_channels == {"whatsapp"}
        request = _register(app)
        post_signed(
            app.test_client(), load_payload("whatsapp_button_reply", request.request_id), secret=WA_SECRET
        )
        assert state.sender.drain(timeout=10)
        assert sent == [
            ("whatsapp-hook", "whatsapp_default", WA_REVIEWER, "✅ Recorded: approve. Thank you.")
        ]

    def test_a_named_channel_connection_must_exist(
        self, make_app, instagram_conn_env, monkeypatch, store_url
    ):
        instagram_conn_env()
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__WHATSAPP_CONN_ID", "wa_missing")
        with pytest.raises(WebhookConfigError, match="Cannot read the Airflow connection 'wa_missing'"):
            make_app({"INSTAGRAM_HIL_STORE_URL": store_url})

    def test_no_channel_configured_still_names_the_instagram_connection(self, monkeypatch, store_url):
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__CONN_ID", "nothing_here")
        with pytest.raises(WebhookConfigError, match="Cannot read the Airflow connection 'nothing_here'"):
            create_app({"INSTAGRAM_HIL_STORE_URL": store_url})

    def test_bad_reply_channels(self, store_url):
        config = {
            "INSTAGRAM_HIL_APP_SECRETS": ["s"],
            "INSTAGRAM_HIL_VERIFY_TOKEN": "v",
            "INSTAGRAM_HIL_STORE_URL": store_url,
        }
        with pytest.raises(WebhookConfigError, match="unknown channel"):
            create_app(
                {**config, "INSTAGRAM_HIL_REPLY_SENDER": print, "INSTAGRAM_HIL_REPLY_CHANNELS": ["sms"]}
            )


class TestRepliesPerChannel:
    def test_each_tap_is_answered_on_its_channel_through_its_hook(
        self, make_app, three_connections, store_url, sent
    ):
        app = make_app({"INSTAGRAM_HIL_STORE_URL": store_url})
        state = get_resources(app)
        assert state.reply_channels == {"instagram", "messenger", "whatsapp"}
        client = app.test_client()
        for fixture, secret in (
            ("whatsapp_button_reply", WA_SECRET),
            ("messenger_page_quick_reply", PAGE_SECRET),
            ("instagram_quick_reply", IG_SECRET),
        ):
            request = _register_fresh(app, fixture)
            post_signed(client, load_payload(fixture, request.request_id), secret=secret)
        assert state.sender.drain(timeout=10)
        assert sorted(sent) == [
            ("instagram-hook", "instagram_default", IG_REVIEWER, "✅ Recorded: approve. Thank you."),
            ("messenger-hook", "messenger_default", PAGE_REVIEWER, "✅ Recorded: approve. Thank you."),
            ("whatsapp-hook", "whatsapp_default", WA_REVIEWER, "✅ Recorded: approve. Thank you."),
        ]

    def test_without_a_whatsapp_connection_whatsapp_taps_get_no_reply(
        self, make_app, instagram_conn_env, store_url, sent
    ):
        instagram_conn_env()
        app = make_app({"INSTAGRAM_HIL_STORE_URL": store_url})
        assert get_resources(app).reply_channels == {"instagram", "messenger"}
        request = _register(app)
        response = post_signed(
            app.test_client(),
            load_payload("whatsapp_button_reply", request.request_id),
            secret="test-app-secret-3f9a",
        )
        assert response.get_json()["recorded"] == 1
        assert get_resources(app).sender.drain(timeout=10)
        assert sent == []
        assert get_resources(app).store.outbox.counts() == {}

    def test_messenger_replies_use_the_instagram_connection_without_their_own(self, instagram_conn_env):
        replies = HookReplies("ig_page")
        assert replies.channels == {"instagram", "messenger"}
        assert replies.routes["messenger"] == ("instagram", "ig_page")
        with pytest.raises(WebhookConfigError, match="No connection to reply on whatsapp"):
            replies.send("whatsapp", WA_REVIEWER, "hi")

    @pytest.mark.parametrize(
        ("persistent_buttons", "sent_as"), [(False, "send_message"), (True, "send_buttons")]
    )
    def test_a_kept_prompt_goes_out_in_the_operators_style(
        self, monkeypatch, instagram_conn_env, persistent_buttons, sent_as
    ):
        instagram_conn_env()
        replies = HookReplies("instagram_default")
        calls = []

        class Hook:
            def send_message(self, recipient_id, text, quick_replies=None):
                calls.append("send_message")
                return {"message_id": "m_1"}

            def send_buttons(self, recipient_id, text, buttons):
                calls.append("send_buttons")
                return {"message_id": "m_1"}

        monkeypatch.setattr(replies, "_hook", lambda channel: Hook())
        rid = "0" * 32
        sent = replies.send_prompt(
            "instagram", IG_REVIEWER, "Go?", rid, ["Yes", "No"], persistent_buttons=persistent_buttons
        )
        assert (sent, calls) == ("m_1", [sent_as])

    def test_whatsapp_has_no_was_it_sent_check(self, channel_conn_env):
        channel_conn_env("whatsapp")
        replies = HookReplies(None, whatsapp_conn_id="whatsapp_default")
        assert replies.count_sent("whatsapp", WA_REVIEWER, "hi", datetime.now(timezone.utc)) is None


_RUNS = iter(range(1000))


def _register_fresh(app, fixture):
    """A request only the fixture's sender may answer (each tap then decides its own request)."""
    channel, reviewer = {
        "whatsapp_button_reply": ("whatsapp", WA_REVIEWER),
        "messenger_page_quick_reply": ("messenger", PAGE_REVIEWER),
        "instagram_quick_reply": ("instagram", IG_REVIEWER),
    }[fixture]
    request, _ = get_resources(app).store.register_request(
        dag_id="d",
        run_id=f"r{next(_RUNS)}",
        task_id="t",
        recipients=[RecipientSpec(reviewer, channel)],
        options=["approve", "reject"],
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return request
