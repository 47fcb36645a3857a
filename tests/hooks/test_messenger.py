"""MessengerHook: the Page's Send API with Messenger's limits, errors in Messenger's words."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone

import pytest
from credentials import TEST_APP_SECRET, TEST_TOKEN

from airflow_provider_instagram_hil.exceptions import (
    InvalidTokenError,
    MessagingWindowClosedError,
    RateLimitedError,
    RecipientUnavailableError,
)
from airflow_provider_instagram_hil.hooks.messenger import MessengerHook

GRAPH = "https://graph.facebook.com/v25.0"
SEND_URL = f"{GRAPH}/me/messages"
OK = {"json": {"recipient_id": "7100000000000001", "message_id": "m_1"}}
PROOF = hmac.new(TEST_APP_SECRET.encode(), TEST_TOKEN.encode(), hashlib.sha256).hexdigest()
BUTTONS = [{"type": "postback", "title": "Yes", "payload": "ighil1:r:Yes"}]


def graph_error(code, subcode=None, message="Graph error", status=400):
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AtraceM"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"status_code": status, "json": {"error": error}}


@pytest.fixture
def hook(channel_conn_env):
    channel_conn_env("messenger")
    made = MessengerHook(max_attempts=2, retry_deadline=0)
    made._sleep = lambda seconds: None  # type: ignore[method-assign]
    return made


class TestConnection:
    def test_defaults_and_attributes(self, hook):
        assert (MessengerHook.conn_type, MessengerHook.default_conn_name) == (
            "messenger",
            "messenger_default",
        )
        assert hook.messenger_conn_id == "messenger_default"
        assert (hook.base_url, hook.account_id, hook.api_version) == (
            "https://graph.facebook.com",
            "me",
            "v25.0",
        )
        assert hook.app_secrets == [TEST_APP_SECRET]
        assert repr(hook) == "MessengerHook(messenger_conn_id='messenger_default')"

    def test_page_id_from_the_connection(self, channel_conn_env, requests_mock):
        channel_conn_env("messenger", "page_reviews", extra={"account_id": "100000000000001"})
        requests_mock.post(f"{GRAPH}/100000000000001/messages", **OK)
        MessengerHook("page_reviews").send_message("71", "hi")
        assert requests_mock.call_count == 1

    def test_bad_extra_names_the_messenger_connection(self, channel_conn_env):
        channel_conn_env("messenger", extra={"api_version": "25"})
        with pytest.raises(ValueError, match="Messenger connection 'messenger_default': extra 'api_version'"):
            _ = MessengerHook().base_url

    def test_missing_token(self, channel_conn_env, requests_mock):
        channel_conn_env("messenger", password=None)
        with pytest.raises(
            ValueError, match="Messenger connection 'messenger_default' has no access token: put the Page"
        ):
            MessengerHook().send_message("71", "hi")
        assert requests_mock.call_count == 0

    def test_test_connection(self, hook, requests_mock):
        requests_mock.get(f"{GRAPH}/me", json={"id": "100000000000001", "name": "Data Team Page"})
        assert hook.test_connection() == (
            True,
            "Connected to the Graph API v25.0 as Data Team Page (id 100000000000001).",
        )
        assert requests_mock.last_request.qs["fields"] == ["id,name"]

    def test_test_connection_never_raises(self, hook, requests_mock):
        requests_mock.get(f"{GRAPH}/me", **graph_error(190))
        ok, message = hook.test_connection()
        assert not ok
        assert "Messenger connection is invalid or expired" in message
        assert TEST_TOKEN not in message


class TestSends:
    def test_button_template(self, hook, requests_mock):
        requests_mock.post(SEND_URL, **OK)
        assert hook.send_buttons("7100000000000001", "Deploy?", BUTTONS)["message_id"] == "m_1"
        body = requests_mock.last_request.json()
        assert body["recipient"] == {"id": "7100000000000001"}
        assert body["messaging_type"] == "RESPONSE"
        assert body["message"] == {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "button", "text": "Deploy?", "buttons": BUTTONS},
            }
        }
        assert body["appsecret_proof"] == PROOF
        assert requests_mock.last_request.headers["Authorization"] == f"Bearer {TEST_TOKEN}"
        assert "access_token" not in requests_mock.last_request.url

    def test_quick_replies(self, hook, requests_mock):
        requests_mock.post(SEND_URL, **OK)
        replies = [{"content_type": "text", "title": t, "payload": f"p{t}"} for t in "abcd"]
        hook.send_message("71", "Pick one", replies)
        assert requests_mock.last_request.json()["message"] == {"text": "Pick one", "quick_replies": replies}

    @pytest.mark.parametrize(
        ("call", "match"),
        [
            pytest.param(lambda h: h.send_message("71", "x" * 2001), "2000", id="text-2001"),
            pytest.param(lambda h: h.send_buttons("71", "x" * 641, BUTTONS), "640", id="template-641"),
            pytest.param(
                lambda h: h.send_buttons("71", "x", BUTTONS * 4), "1 to 3 buttons", id="four-buttons"
            ),
            pytest.param(lambda h: h.send_message(" ", "x"), "PSID", id="no-recipient"),
            pytest.param(
                lambda h: h.send_message("71", "x", messaging_type="MESSAGE_TAG"), "messaging_type", id="tag"
            ),
        ],
    )
    def test_limits_are_checked_before_any_call(self, hook, requests_mock, call, match):
        with pytest.raises(ValueError, match=match):
            call(hook)
        assert requests_mock.call_count == 0

    def test_conversations_check_uses_the_messenger_platform(self, hook, requests_mock):
        requests_mock.get(f"{GRAPH}/me/conversations", json={"data": [{"id": "t_1"}]})
        requests_mock.get(
            f"{GRAPH}/t_1",
            json={
                "messages": {
                    "data": [
                        {"message": "ok", "created_time": "2026-12-02T06:30:00+0000", "from": {"id": "p"}}
                    ]
                }
            },
        )
        since = datetime(2026, 12, 1, tzinfo=timezone.utc)
        assert hook.count_sent_since("71", "ok", since) == 1
        assert requests_mock.request_history[0].qs["platform"] == ["messenger"]


class TestErrors:
    def test_window_closed_speaks_of_the_page(self, hook, requests_mock):
        requests_mock.post(SEND_URL, **graph_error(10, 2018278, "(#10) outside of allowed window"))
        with pytest.raises(MessagingWindowClosedError) as info:
            hook.send_message("71", "hi")
        assert "must send a message to the Facebook Page first" in str(info.value)
        assert "Instagram" not in str(info.value)

    def test_no_matching_user_asks_for_a_psid(self, hook, requests_mock):
        requests_mock.post(SEND_URL, **graph_error(100, 2018001, "(#100) No matching user found"))
        with pytest.raises(RecipientUnavailableError, match="PSID"):
            hook.send_message("71", "hi")

    def test_invalid_token(self, hook, requests_mock):
        requests_mock.post(SEND_URL, **graph_error(190, 463))
        with pytest.raises(InvalidTokenError, match="Messenger connection is invalid or expired"):
            hook.send_message("71", "hi")

    def test_throttling_is_retried_then_reported(self, hook, requests_mock):
        requests_mock.post(SEND_URL, [graph_error(613, status=429), graph_error(613, status=429)])
        with pytest.raises(RateLimitedError, match="Gave up after 1 attempt"):
            hook.send_message("71", "hi")
