"""WhatsAppHook: the Cloud API's message shapes, number checks before any call, its own error codes."""

from __future__ import annotations

import pytest
from credentials import TEST_PHONE_NUMBER_ID, TEST_TOKEN

from airflow_provider_instagram_hil.channels.whatsapp import WHATSAPP
from airflow_provider_instagram_hil.exceptions import (
    InstagramApiError,
    InvalidTokenError,
    MessagingWindowClosedError,
    RateLimitedError,
    RecipientUnavailableError,
)
from airflow_provider_instagram_hil.hooks.whatsapp import WhatsAppHook

GRAPH = "https://graph.facebook.com/v25.0"
SEND_URL = f"{GRAPH}/{TEST_PHONE_NUMBER_ID}/messages"
TO = "4915123456789"
RID = "3" * 32


def accepted(wa_id: str = TO, wamid: str = "wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABIYFjNFQjA=") -> dict:
    return {
        "json": {
            "messaging_product": "whatsapp",
            "contacts": [{"input": wa_id, "wa_id": wa_id}],
            "messages": [{"id": wamid}],
        }
    }


def cloud_error(code, message="error", details=None, status=400):
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AtraceW"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"status_code": status, "json": {"error": error}}


@pytest.fixture
def hook(channel_conn_env):
    channel_conn_env("whatsapp")
    made = WhatsAppHook(max_attempts=3, retry_deadline=10)
    made._sleep = lambda seconds: None  # type: ignore[method-assign]
    made._random.uniform = lambda a, b: 0  # type: ignore[method-assign]
    return made


class TestConnection:
    def test_attributes(self, hook):
        assert (WhatsAppHook.conn_type, WhatsAppHook.default_conn_name) == ("whatsapp", "whatsapp_default")
        assert hook.whatsapp_conn_id == "whatsapp_default"
        assert hook.phone_number_id == TEST_PHONE_NUMBER_ID

    @pytest.mark.parametrize(
        ("extra", "match"),
        [
            pytest.param({"phone_number_id": None}, "is required", id="missing"),
            pytest.param({"phone_number_id": "+15550783881"}, "must be a numeric ID", id="a-number"),
            pytest.param({"phone_number_id": "me"}, "must be a numeric ID", id="me"),
        ],
    )
    def test_phone_number_id_is_required_and_numeric(self, channel_conn_env, extra, match):
        channel_conn_env("whatsapp", extra=extra)
        with pytest.raises(
            ValueError, match=f"^WhatsApp connection 'whatsapp_default': extra 'phone_number_id' {match}"
        ):
            _ = WhatsAppHook().account_id

    def test_test_connection_reads_the_phone_number(self, hook, requests_mock):
        requests_mock.get(
            f"{GRAPH}/{TEST_PHONE_NUMBER_ID}",
            json={
                "id": TEST_PHONE_NUMBER_ID,
                "display_phone_number": "+1 555-078-3881",
                "verified_name": "Data Team",
            },
        )
        ok, message = hook.test_connection()
        assert ok
        assert message == (
            f"Connected to the WhatsApp Cloud API v25.0 as Data Team (+1 555-078-3881, phone number ID "
            f"{TEST_PHONE_NUMBER_ID})."
        )

    def test_test_connection_reports_a_bad_token_without_it(self, hook, requests_mock):
        requests_mock.get(f"{GRAPH}/{TEST_PHONE_NUMBER_ID}", **cloud_error(190, "Invalid OAuth access token"))
        ok, message = hook.test_connection()
        assert not ok
        assert "WhatsApp connection is invalid or expired" in message
        assert TEST_TOKEN not in message


class TestSends:
    def test_interactive_body_shape(self, hook, requests_mock):
        requests_mock.post(SEND_URL, **accepted())
        interactive = WHATSAPP.interactive("Deploy?", RID, ["Yes", "No"])
        sent = hook.send_interactive("+49 151 2345 6789", interactive)
        assert sent == {
            "message_id": "wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABIYFjNFQjA=",
            "message_status": None,
            "wa_id": TO,
        }
        body = requests_mock.last_request.json()
        assert body["messaging_product"] == "whatsapp"
        assert body["recipient_type"] == "individual"
        assert body["to"] == TO
        assert body["type"] == "interactive"
        assert body["interactive"] == interactive
        assert requests_mock.last_request.headers["Authorization"] == f"Bearer {TEST_TOKEN}"

    def test_template_body_shape(self, hook, requests_mock):
        requests_mock.post(SEND_URL, **accepted())
        components = WHATSAPP.template_components("Go?", RID, ["Approve", "Reject"])
        hook.send_template(TO, "approval_request", "en_US", components)
        body = requests_mock.last_request.json()
        assert body["type"] == "template"
        assert body["template"] == {
            "name": "approval_request",
            "language": {"code": "en_US"},
            "components": components,
        }

    def test_text_body_shape(self, hook, requests_mock):
        requests_mock.post(SEND_URL, **accepted())
        hook.send_text(TO, "✅ Recorded")
        assert requests_mock.last_request.json()["text"] == {"body": "✅ Recorded", "preview_url": False}

    @pytest.mark.parametrize(
        ("call", "match"),
        [
            pytest.param(
                lambda h: h.send_text("015123456789", "hi"), "international format", id="national-number"
            ),
            pytest.param(lambda h: h.send_text(TO, "x" * 4097), "1 to 4096 characters", id="text-4097"),
            pytest.param(lambda h: h.send_text(TO, " "), "1 to 4096 characters", id="blank-text"),
            pytest.param(
                lambda h: h.send_interactive(TO, {"type": "button", "action": {"buttons": [{}] * 4}}),
                "1 to 3 buttons, got 4",
                id="four-buttons",
            ),
            pytest.param(
                lambda h: h.send_interactive(
                    TO, {"type": "list", "action": {"sections": [{"rows": [{}] * 11}]}}
                ),
                "1 to 10 rows, got 11",
                id="eleven-rows",
            ),
        ],
    )
    def test_refused_before_any_call(self, hook, requests_mock, call, match):
        with pytest.raises(ValueError, match=match):
            call(hook)
        assert requests_mock.call_count == 0

    def test_a_different_wa_id_is_warned_about(self, hook, requests_mock, capfd):
        requests_mock.post(SEND_URL, **accepted(wa_id="5511987654321"))
        assert hook.send_text("+55 11 8765-4321", "hi")["wa_id"] == "5511987654321"
        assert "put 5511987654321 in recipient_id" in capfd.readouterr().out


class TestErrors:
    @pytest.mark.parametrize("code", [131047, 470])
    def test_window_closed_says_to_configure_a_template(self, hook, requests_mock, code):
        requests_mock.post(
            SEND_URL, **cloud_error(code, "(#131047) Re-engagement message", "more than 24 hours have passed")
        )
        with pytest.raises(MessagingWindowClosedError) as info:
            hook.send_text(TO, "hi")
        text = str(info.value)
        assert "template_name and template_language" in text
        assert "more than 24 hours have passed" in text  # error_data.details is kept
        assert info.value.code == code
        assert requests_mock.call_count == 1

    @pytest.mark.parametrize("code", [131026, 131030])
    def test_recipient_codes(self, hook, requests_mock, code):
        requests_mock.post(SEND_URL, **cloud_error(code))
        with pytest.raises(RecipientUnavailableError, match="international format, registered on WhatsApp"):
            hook.send_text(TO, "hi")

    @pytest.mark.parametrize("code", [132000, 132001])
    def test_template_codes(self, hook, requests_mock, code):
        requests_mock.post(SEND_URL, **cloud_error(code, "(#132001) Template name does not exist"))
        with pytest.raises(InstagramApiError, match="check template_name and template_language"):
            hook.send_template(TO, "nope", "en_US", [])

    @pytest.mark.parametrize("code", [130429, 131056])
    def test_throttling_codes_are_retried(self, hook, requests_mock, code):
        requests_mock.post(SEND_URL, [cloud_error(code), accepted()])
        assert hook.send_text(TO, "hi")["message_id"]
        assert requests_mock.call_count == 2

    def test_throttling_gives_up_typed(self, hook, requests_mock):
        requests_mock.post(SEND_URL, **cloud_error(130429))
        with pytest.raises(RateLimitedError, match="Gave up after 3 attempt"):
            hook.send_text(TO, "hi")

    @pytest.mark.parametrize("code", [131000, 131016])
    def test_transient_codes_are_retried(self, hook, requests_mock, code):
        requests_mock.post(SEND_URL, [cloud_error(code, status=500), accepted()])
        assert hook.send_text(TO, "hi")["message_id"]

    def test_invalid_token(self, hook, requests_mock):
        requests_mock.post(SEND_URL, **cloud_error(190))
        with pytest.raises(InvalidTokenError, match="WhatsApp connection is invalid or expired"):
            hook.send_text(TO, "hi")
