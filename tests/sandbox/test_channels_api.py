"""The sandbox's Messenger and WhatsApp endpoints, and Instagram's button template, over real loopback HTTP,
driven by the real hooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from credentials import TEST_TOKEN

from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM_BUTTONS
from airflow_provider_instagram_hil.channels.messenger import MESSENGER
from airflow_provider_instagram_hil.channels.whatsapp import WHATSAPP
from airflow_provider_instagram_hil.exceptions import InstagramApiError, MessagingWindowClosedError
from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.hooks.messenger import MessengerHook
from airflow_provider_instagram_hil.hooks.whatsapp import WhatsAppHook
from airflow_provider_instagram_hil.payloads import decode_payload
from airflow_provider_instagram_hil.sandbox.graph_answers import SANDBOX_PAGE, SANDBOX_PHONE_NUMBER_ID
from airflow_provider_instagram_hil.sandbox.graph_api import SandboxGraphApi
from airflow_provider_instagram_hil.sandbox.reviewer import tap_event
from airflow_provider_instagram_hil.store import Delivery
from airflow_provider_instagram_hil.webhook.events import Tap, parse_payload
from airflow_provider_instagram_hil.webhook.statuses import status_updates

PAGE_TOKEN = "sandbox-page-token-77"
WA_TOKEN = "sandbox-wa-token-88"
STATUS_SECRET = "status-signing-secret-99"
RID = "4" * 32
PSID = "7100000000000001"
WA_ID = "4915123456789"


@pytest.fixture
def sandbox():
    with SandboxGraphApi(
        token=TEST_TOKEN, page_token=PAGE_TOKEN, whatsapp_token=WA_TOKEN, status_delay=0.01
    ) as api:
        yield api


@pytest.fixture
def page(sandbox, channel_conn_env):
    channel_conn_env("messenger", host=sandbox.url, password=PAGE_TOKEN, extra={"app_secret": None})
    return MessengerHook(max_attempts=1)


@pytest.fixture
def whatsapp(sandbox, channel_conn_env):
    channel_conn_env(
        "whatsapp", host=sandbox.url, password=WA_TOKEN, extra={"phone_number_id": SANDBOX_PHONE_NUMBER_ID}
    )
    return WhatsAppHook(max_attempts=1)


class Receiver:
    """A webhook stand-in on loopback: every POST's body and signature header, in arrival order."""

    def __init__(self) -> None:
        self.posts: queue.Queue[tuple[bytes, str]] = queue.Queue()
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put((body, self.headers.get("X-Hub-Signature-256", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/instagram"

    def next(self, timeout: float = 10) -> dict:
        body, signature = self.posts.get(timeout=timeout)
        expected = "sha256=" + hmac.new(STATUS_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, expected)
        return json.loads(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(sandbox):
    webhook = Receiver()
    response = requests.post(
        f"{sandbox.url}/_sandbox/status_webhook",
        json={"url": webhook.url, "app_secret": STATUS_SECRET},
        timeout=5,
    )
    assert response.json() == {"configured": True}
    yield webhook
    webhook.close()


class TestMessenger:
    def test_button_template_is_recorded_as_messenger(self, sandbox, page):
        MESSENGER.send_prompt(page, PSID, "Deploy?", RID, ["Yes", "No"])
        [message] = sandbox.messages
        assert (message["channel"], message["kind"], message["text"]) == (
            "messenger",
            "button_template",
            "Deploy?",
        )
        assert [o["title"] for o in message["options"]] == ["Yes", "No"]
        assert decode_payload(message["options"][0]["payload"]) == (RID, "Yes")
        assert message["authorization_ok"] is True

    def test_quick_replies(self, sandbox, page):
        MESSENGER.send_prompt(page, PSID, "Pick", RID, list("abcd"))
        [message] = sandbox.messages
        assert (message["kind"], [o["title"] for o in message["options"]]) == ("quick_replies", list("abcd"))

    def test_the_page_token_reads_the_page(self, page):
        ok, text = page.test_connection()
        assert ok
        assert SANDBOX_PAGE["name"] in text

    def test_window_closed_is_messengers_code(self, sandbox, page):
        sandbox.set_window(PSID, open_=False)
        with pytest.raises(MessagingWindowClosedError) as info:
            page.send_message(PSID, "hi")
        assert (info.value.code, info.value.subcode) == (10, 2018278)
        assert "Facebook Page" in str(info.value)
        assert sandbox.messages == []

    def test_instagram_window_is_instagrams_code(self, sandbox, instagram_conn_env):
        instagram_conn_env(host=sandbox.url, password=TEST_TOKEN, extra={"app_secret": None})
        sandbox.set_window("6200000000000001", open_=False)
        with pytest.raises(MessagingWindowClosedError) as info:
            InstagramHook(max_attempts=1).send_message("6200000000000001", "hi")
        assert (info.value.code, info.value.subcode) == (10, 2534022)

    def test_messenger_text_limit(self, sandbox):
        response = requests.post(
            f"{sandbox.url}/v25.0/me/messages",
            json={"recipient": {"id": PSID}, "message": {"text": "x" * 2001}},
            headers={"Authorization": f"Bearer {PAGE_TOKEN}"},
            timeout=5,
        )
        assert response.status_code == 400
        assert "2000" in response.json()["error"]["message"]


IGSID = "6200000000000001"


class TestInstagramButtonTemplate:
    def test_recorded_and_tapped_as_an_instagram_postback(self, sandbox, instagram_conn_env):
        instagram_conn_env(host=sandbox.url, password=TEST_TOKEN, extra={"app_secret": None})
        hook = InstagramHook(max_attempts=1)
        INSTAGRAM_BUTTONS.send_prompt(hook, IGSID, "Deploy?\nReply: Yes / No", RID, ["Yes", "No"])
        [message] = sandbox.messages
        assert (message["channel"], message["kind"], message["text"]) == (
            "instagram",
            "button_template",
            "Deploy?\nReply: Yes / No",
        )
        assert [o["title"] for o in message["options"]] == ["Yes", "No"]

        event = tap_event(message, "No")
        assert event["object"] == "instagram"
        assert parse_payload(event) == [
            Tap(
                "instagram",
                IGSID,
                RID,
                "No",
                event["entry"][0]["messaging"][0]["postback"]["mid"],
                "postback",
            )
        ]

    @pytest.mark.parametrize(
        ("text", "limit"),
        [
            pytest.param("a" * 641, "640 characters", id="641-characters"),
            pytest.param("é" * 501, "1000", id="1002-bytes"),
        ],
    )
    def test_text_limits(self, sandbox, text, limit):
        template = {
            "template_type": "button",
            "text": text,
            "buttons": [{"type": "postback", "title": "Yes", "payload": "p"}],
        }
        response = requests.post(
            f"{sandbox.url}/v25.0/me/messages",
            json={
                "recipient": {"id": IGSID},
                "message": {"attachment": {"type": "template", "payload": template}},
            },
            headers={"Authorization": f"Bearer {TEST_TOKEN}"},
            timeout=5,
        )
        assert response.status_code == 400
        assert limit in response.json()["error"]["message"]
        assert sandbox.messages == []


class TestWhatsApp:
    def test_reply_buttons_and_list(self, sandbox, whatsapp):
        WHATSAPP.send_prompt(whatsapp, WA_ID, "Deploy?", RID, ["Yes", "No"])
        WHATSAPP.send_prompt(whatsapp, WA_ID, "Pick", RID, list("abcd"))
        buttons, rows = sandbox.messages
        assert (buttons["channel"], buttons["kind"], buttons["recipient_id"]) == (
            "whatsapp",
            "interactive_button",
            WA_ID,
        )
        assert buttons["message_id"].startswith("wamid.")
        assert [o["title"] for o in buttons["options"]] == ["Yes", "No"]
        assert (rows["kind"], rows["list_button"]) == ("interactive_list", "Choose an answer")
        assert [decode_payload(o["payload"]).option for o in rows["options"]] == list("abcd")

    def test_test_connection_reads_the_phone_number(self, whatsapp):
        ok, text = whatsapp.test_connection()
        assert ok
        assert "Sandbox Business" in text

    def test_wrong_token_is_190(self, sandbox, channel_conn_env):
        channel_conn_env(
            "whatsapp",
            host=sandbox.url,
            password=PAGE_TOKEN,
            extra={"phone_number_id": SANDBOX_PHONE_NUMBER_ID},
        )
        ok, text = WhatsAppHook(max_attempts=1).test_connection()
        assert not ok
        assert "WhatsApp connection is invalid" in text

    def test_template_is_shown_with_its_text_and_buttons(self, sandbox, whatsapp):
        sandbox.add_template("approval_request", "en_US", "Approval needed: {{1}}", ["Approve", "Reject"])
        WHATSAPP.send_template(
            whatsapp,
            WA_ID,
            "Go? | Rows: 1",
            RID,
            ["Approve", "Reject"],
            name="approval_request",
            language="en_US",
        )
        [message] = sandbox.messages
        assert (message["kind"], message["text"]) == ("template", "Approval needed: Go? | Rows: 1")
        assert [(o["title"], decode_payload(o["payload"]).option) for o in message["options"]] == [
            ("Approve", "Approve"),
            ("Reject", "Reject"),
        ]

    @pytest.mark.parametrize(
        ("name", "text", "options", "code"),
        [
            pytest.param("nope", "Go?", ["Approve", "Reject"], 132001, id="unknown-template"),
            pytest.param("approval_request", "Go?", ["Approve"], 132000, id="button-count"),
        ],
    )
    def test_template_refusals(self, sandbox, whatsapp, name, text, options, code):
        sandbox.add_template("approval_request", "en_US", "Approval needed: {{1}}", ["Approve", "Reject"])
        with pytest.raises(InstagramApiError, match="check template_name") as info:
            WHATSAPP.send_template(whatsapp, WA_ID, text, RID, options, name=name, language="en_US")
        assert info.value.code == code

    def test_a_parameter_with_a_line_break_is_refused(self, sandbox, whatsapp):
        sandbox.add_template("approval_request", "en_US", "Approval needed: {{1}}", ["Approve"])
        with pytest.raises(InstagramApiError) as info:
            whatsapp.send_template(
                WA_ID, "approval_request", "en_US", WHATSAPP.template_components("a\nb", RID, ["Approve"])
            )
        assert info.value.code == 132018

    def test_statuses_are_posted_signed_sent_then_delivered(self, sandbox, whatsapp, receiver):
        wamid = WHATSAPP.send_prompt(whatsapp, WA_ID, "Deploy?", RID, ["Yes", "No"])
        sent, delivered = receiver.next(), receiver.next()
        assert sent["object"] == "whatsapp_business_account"
        assert sent["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] == "sent"
        assert status_updates(sent) == []  # "sent" is what the operator records itself
        [update] = status_updates(delivered)
        assert (update.message_id, update.delivery, update.recipient_id) == (wamid, Delivery.DELIVERED, WA_ID)

    def test_outside_the_window_the_message_is_accepted_then_fails_131047(self, sandbox, whatsapp, receiver):
        sandbox.set_window(WA_ID, open_=False)
        wamid = WHATSAPP.send_prompt(whatsapp, WA_ID, "Deploy?", RID, ["Yes", "No"])
        assert wamid.startswith("wamid.")
        [update] = status_updates(receiver.next())
        assert (update.message_id, update.delivery) == (wamid, Delivery.FAILED)
        assert update.error.startswith(
            "131047 Re-engagement message: Message failed to send because more than 24"
        )

    def test_a_template_reaches_a_closed_window(self, sandbox, whatsapp, receiver):
        sandbox.set_window(WA_ID, open_=False)
        sandbox.add_template("approval_request", "en_US", "Approval needed: {{1}}", ["Yes", "No"])
        WHATSAPP.send_template(
            whatsapp, WA_ID, "Go?", RID, ["Yes", "No"], name="approval_request", language="en_US"
        )
        assert [m["delivered"] for m in sandbox.messages] == [True]
        receiver.next()
        [update] = status_updates(receiver.next())
        assert update.delivery is Delivery.DELIVERED

    def test_a_read_status_on_request(self, sandbox, whatsapp, receiver):
        wamid = WHATSAPP.send_prompt(whatsapp, WA_ID, "Deploy?", RID, ["Yes", "No"])
        receiver.next()
        receiver.next()
        answer = requests.post(
            f"{sandbox.url}/_sandbox/statuses", json={"message_id": wamid, "status": "read"}, timeout=10
        )
        assert answer.json() == {"http_status": 200}
        [update] = status_updates(receiver.next())
        assert update.delivery is Delivery.READ
        callbacks = requests.get(f"{sandbox.url}/_sandbox/callbacks", timeout=5).json()["callbacks"]
        assert [c["statuses"][0][1] for c in callbacks] == ["sent", "delivered", "read"]
        assert {c["http_status"] for c in callbacks} == {200}

    def test_control_errors(self, sandbox):
        base = f"{sandbox.url}/_sandbox"
        assert (
            requests.post(
                f"{base}/statuses", json={"message_id": "nope", "status": "read"}, timeout=5
            ).status_code
            == 400
        )
        assert requests.post(f"{base}/templates", json={"name": "x"}, timeout=5).status_code == 400
        assert requests.post(f"{base}/status_webhook", json={"url": "ftp://x"}, timeout=5).status_code == 400
        assert requests.post(f"{base}/window", json={"recipient_id": WA_ID}, timeout=5).json() == {
            "recipient_id": WA_ID,
            "open": False,
        }
        assert requests.post(f"{base}/window", json={"recipient_id": WA_ID, "open": True}, timeout=5).json()[
            "open"
        ]

    def test_sync_reengagement_fault(self, sandbox, whatsapp):
        sandbox.inject_fault("re_engagement")
        with pytest.raises(MessagingWindowClosedError) as info:
            whatsapp.send_text(WA_ID, "hi")
        assert info.value.code == 131047
