"""WhatsApp status webhooks: sent, delivered, read and failed recorded on the prompt's recipient row."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_instagram_hil.store import Delivery, OutboxMessage
from airflow_provider_instagram_hil.webhook.sender import OutboxSender
from airflow_provider_instagram_hil.webhook.statuses import StatusUpdate, status_updates

from .webhook_support import WA_REVIEWER, post_signed, store_outage

WAMID = "wamid.HBgLMTYzMTU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
REENGAGEMENT = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {
        "details": "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number."
    },
    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
}


def status(kind: str, message_id: str = WAMID, **extra) -> dict:
    item = {"id": message_id, "status": kind, "timestamp": "1793534485", "recipient_id": WA_REVIEWER}
    if kind == "sent":
        item["conversation"] = {
            "id": "c1",
            "expiration_timestamp": "1793620885",
            "origin": {"type": "service"},
        }
        item["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service"}
    item.update(extra)
    return item


def delivery(*statuses: dict) -> bytes:
    """A WhatsApp status delivery as Meta posts it."""
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352242922",
                            },
                            "statuses": list(statuses),
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }
    return json.dumps(body).encode()


class TestParse:
    def test_documented_shapes(self):
        updates = status_updates(
            json.loads(
                delivery(
                    status("sent", "wamid.a"),
                    status("delivered", "wamid.b"),
                    status("read", "wamid.c"),
                    status("failed", "wamid.d", errors=[REENGAGEMENT]),
                )
            )
        )
        assert updates == [
            StatusUpdate("wamid.b", WA_REVIEWER, Delivery.DELIVERED),
            StatusUpdate("wamid.c", WA_REVIEWER, Delivery.READ),
            StatusUpdate(
                "wamid.d",
                WA_REVIEWER,
                Delivery.FAILED,
                "131047 Re-engagement message: Message failed to send because more than 24 hours have passed "
                "since the customer last replied to this number.",
            ),
        ]

    def test_the_most_telling_status_of_a_message_wins(self):
        updates = status_updates(json.loads(delivery(status("read"), status("delivered"), status("sent"))))
        assert [u.delivery for u in updates] == [Delivery.READ]

    @pytest.mark.parametrize(
        "payload",
        [
            pytest.param({"object": "instagram", "entry": []}, id="other-object"),
            pytest.param({"object": "whatsapp_business_account", "entry": "x"}, id="entry-string"),
            pytest.param(json.loads(delivery(status("deleted"), status("warning"))), id="unrecorded-kinds"),
            pytest.param(json.loads(delivery(status("read", message_id="x\n" * 200))), id="bad-id"),
            pytest.param(json.loads(delivery(status("read", message_id=42))), id="numeric-id"),
            pytest.param(None, id="none"),
        ],
    )
    def test_odd_payloads_give_nothing(self, payload):
        assert status_updates(payload) == []

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.text(max_size=8)
            | st.sampled_from(["failed", "read", "messages"]),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        ["statuses", "id", "status", "errors", "changes", "field", "value", "entry"]
                    ),
                    children,
                    max_size=4,
                )
            ),
            max_leaves=20,
        )
    )
    def test_never_raises(self, entry):
        for update in status_updates({"object": "whatsapp_business_account", "entry": [entry]}):
            assert update.message_id.isprintable()


class TestEndpoint:
    @pytest.fixture
    def prompted(self, pending, hil_store):
        request = pending()
        hil_store.mark_prompt_sent(request.request_id, WA_REVIEWER, WAMID, channel="whatsapp")
        return request

    def recipient(self, hil_store, request):
        return hil_store.get_request(request.request_id).recipient(WA_REVIEWER, "whatsapp")

    @pytest.mark.parametrize(
        ("item", "delivery_state", "error"),
        [
            pytest.param(status("delivered"), Delivery.DELIVERED, None, id="delivered"),
            pytest.param(status("read"), Delivery.READ, None, id="read"),
            pytest.param(
                status("failed", errors=[REENGAGEMENT]),
                Delivery.FAILED,
                "131047 Re-engagement message: Message failed to send because more than 24 hours have passed "
                "since the customer last replied to this number.",
                id="failed",
            ),
            pytest.param(status("sent"), Delivery.SENT, None, id="sent-changes-nothing"),
        ],
    )
    def test_status_is_recorded_on_the_prompt(self, client, hil_store, prompted, item, delivery_state, error):
        response = post_signed(client, delivery(item))
        assert response.status_code == 200
        recipient = self.recipient(hil_store, prompted)
        assert (recipient.delivery, recipient.delivery_error) == (delivery_state, error)
        # Only the WhatsApp recipient's row changed.
        others = [r for r in hil_store.get_request(prompted.request_id).recipients if r.channel != "whatsapp"]
        assert all(r.delivery is Delivery.PENDING for r in others)

    def test_unknown_message_changes_nothing(self, client, hil_store, prompted):
        response = post_signed(client, delivery(status("read", "wamid.of-a-reply")))
        assert response.status_code == 200
        assert response.get_json()["statuses"] == 1
        assert self.recipient(hil_store, prompted).delivery is Delivery.SENT

    def test_failure_is_a_warning_in_the_log(self, client, prompted, caplog):
        post_signed(client, delivery(status("failed", errors=[REENGAGEMENT])))
        assert (
            f"WhatsApp prompt {WAMID} to {WA_REVIEWER}: failed (131047 Re-engagement message" in caplog.text
        )

    def test_store_down_answers_503(self, client, hil_store, prompted):
        with store_outage(hil_store.engine):
            response = post_signed(client, delivery(status("read")))
        assert response.status_code == 503
        assert self.recipient(hil_store, prompted).delivery is Delivery.SENT

    def test_unsigned_status_is_refused(self, client, hil_store, prompted):
        body = delivery(status("failed", errors=[REENGAGEMENT]))
        response = client.post("/webhooks/instagram", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 403
        assert self.recipient(hil_store, prompted).delivery is Delivery.SENT


class TestInDoubtWithoutConversationsApi:
    def test_a_channel_that_cannot_tell_sends_again(self, store, caplog):
        store.outbox.add([OutboxMessage("whatsapp", WA_REVIEWER, "✅ Recorded")])
        store.outbox.claim(1, timedelta(seconds=-1))  # claimed, then its sender died
        sent, asked = [], []

        def check(channel, recipient, text, since):
            asked.append(channel)
            return None  # WhatsApp: no Conversations API

        sender = OutboxSender(
            store.outbox, lambda c, r, t: sent.append((c, r)) or "wamid.x", check=check
        ).start()
        try:
            assert sender.drain(timeout=10)
        finally:
            sender.stop()
        assert asked == ["whatsapp"]
        assert sent == [("whatsapp", WA_REVIEWER)]
        assert "whatsapp cannot say what was sent; sending it again" in caplog.text
