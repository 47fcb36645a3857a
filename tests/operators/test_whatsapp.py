"""WhatsAppApprovalOperator on a real store: numbers, buttons and lists, the window and the template fallback.

WhatsApp refuses a message outside the 24-hour window either at once (error 131047) or in a status
callback a moment later; here a thread plays the webhook and records that status the moment the prompt's
message id is in the store, as the real webhook would.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_instagram_hil.exceptions import InstagramApiError, MessagingWindowClosedError
from airflow_provider_instagram_hil.hooks.whatsapp import WINDOW_HINT, WhatsAppHook
from airflow_provider_instagram_hil.links.whatsapp import WhatsAppRequestLink
from airflow_provider_instagram_hil.operators.whatsapp import WhatsAppApprovalOperator
from airflow_provider_instagram_hil.payloads import decode_payload
from airflow_provider_instagram_hil.prompt import MASK, ReviewField
from airflow_provider_instagram_hil.store import DecisionStore, Delivery
from airflow_provider_instagram_hil.version_compat import AirflowFailException

NUMBER = "+49 151 2345 6789"
WA_ID = "4915123456789"
IBAN = "DE89-3704-0044-0532-0130-00"
SIGNING_KEY = "s3cr3t-bucket-signing-key-77"
REENGAGEMENT = "131047 Re-engagement message: Message failed to send because more than 24 hours have passed"


@dataclass
class CloudApi:
    """What the Cloud API was asked; ``statuses`` says which status each kind of send later gets."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: dict[str, Exception] = field(default_factory=dict)
    statuses: dict[str, tuple[Delivery, str | None]] = field(default_factory=dict)
    store_url: str | None = None
    threads: list[threading.Thread] = field(default_factory=list)

    def later(self, kind: str, wamid: str) -> None:
        if kind not in self.statuses or self.store_url is None:
            return
        delivery, error = self.statuses[kind]
        store = DecisionStore.for_url(self.store_url)

        def deliver() -> None:  # as the webhook does once Meta posts the status
            deadline = time.monotonic() + 10
            while store.set_delivery("whatsapp", wamid, delivery, error) == 0 and time.monotonic() < deadline:
                time.sleep(0.02)

        thread = threading.Thread(target=deliver, daemon=True)
        thread.start()
        self.threads.append(thread)


@pytest.fixture
def cloud(monkeypatch, channel_conn_env, store_url) -> CloudApi:
    channel_conn_env("whatsapp")
    api = CloudApi(store_url=store_url)

    def record(kind):
        def method(self, to, *args):
            if kind in api.fail:
                raise api.fail[kind]
            wamid = f"wamid.{len(api.calls) + 1}"
            api.calls.append({"kind": kind, "to": to, "args": args, "conn": self.whatsapp_conn_id})
            api.later(kind, wamid)
            return {"message_id": wamid, "wa_id": to}

        return method

    monkeypatch.setattr(WhatsAppHook, "send_interactive", record("interactive"))
    monkeypatch.setattr(WhatsAppHook, "send_template", record("template"))
    yield api
    for thread in api.threads:
        thread.join(timeout=15)


def approval(store_url=None, **overrides):
    kwargs = {
        "task_id": "approve",
        "recipient_id": NUMBER,
        "subject": "Publish dataset sales?",
        "fields": [
            ReviewField("Rows", "1284551"),
            ReviewField("IBAN", "{{ iban }}", display="masked"),
            ReviewField("Signing key", "{{ signing_key }}", display="concealed"),
        ],
        "store_url": store_url,
        "poll_interval": 0.5,
        "delivery_wait": 0,
    }
    kwargs.update(overrides)
    return WhatsAppApprovalOperator(**kwargs)


def rendered(operator, context):
    operator.render_template_fields({**context, "iban": IBAN, "signing_key": SIGNING_KEY})
    return operator


def run(operator, context) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as info:
        rendered(operator, context).execute(context)
    return info.value


class TestInit:
    def test_defaults(self):
        operator = WhatsAppApprovalOperator(task_id="t", recipient_id=NUMBER, subject="Go?")
        assert operator.whatsapp_conn_id == "whatsapp_default"
        assert (operator.template_name, operator.template_language) == (None, "en_US")
        assert operator.delivery_wait == 20.0
        assert isinstance(operator.operator_extra_links[0], WhatsAppRequestLink)

    @pytest.mark.parametrize(
        ("overrides", "match"),
        [
            pytest.param(
                {"recipient_id": "015123456789"},
                "WhatsApp: recipient_id '015123456789' is not a phone number in international format",
                id="national",
            ),
            pytest.param(
                {"recipient_id": {"alice": "+49 151 2345 6789", "bob": "4915123456789"}},
                "same WhatsApp recipient twice",
                id="same-number",
            ),
            pytest.param(
                {"options": [f"o{i}" for i in range(11)]},
                r"WhatsApp: at most 10 options \(interactive list\)",
                id="11-options",
            ),
            pytest.param({"options": ["🙂" + "x" * 19]}, "reply button holds at most 20", id="wide-title"),
            pytest.param({"subject": "s" * 1025}, "holds at most 1024", id="body"),
            pytest.param({"template_name": "Approval Request"}, "is not a template name", id="template-name"),
            pytest.param(
                {"template_name": "a", "template_language": "english"}, "not a language code", id="language"
            ),
            pytest.param({"delivery_wait": -1}, "delivery_wait", id="wait"),
            pytest.param(
                {"on_window_closed": "wait"}, "set template_name to reach a reviewer", id="on-window-closed"
            ),
            pytest.param(
                {"template_name": "a", "subject": "s" * 901},
                "template's body variable holds at most 900",
                id="template-subject",
            ),
        ],
    )
    def test_bad_arguments_fail_at_parse_time(self, overrides, match):
        with pytest.raises(ValueError, match=match):
            approval(**overrides)

    def test_ten_options_are_fine(self):
        assert len(approval(options=[f"o{i}" for i in range(10)]).options) == 10

    def test_templated_number_is_checked_before_any_send(
        self, store, store_url, shared_store, cloud, make_context
    ):
        operator = approval(store_url, recipient_id=["{{ params.first }}", "{{ params.second }}"])
        context = {**make_context(), "params": {"first": "+4915123456789", "second": "0151 2345"}}
        with pytest.raises(ValueError, match="'0151 2345' is not a phone number"):
            rendered(operator, context).execute(context)
        assert cloud.calls == []
        assert store.maintenance.count_by_status() == {}


class TestExecute:
    def test_reply_buttons_to_the_wa_id(self, store, store_url, shared_store, cloud, make_context):
        deferral = run(approval(store_url), make_context())
        [call] = cloud.calls
        assert (call["kind"], call["to"], call["conn"]) == ("interactive", WA_ID, "whatsapp_default")
        (interactive,) = call["args"]
        assert interactive["type"] == "button"
        body = interactive["body"]["text"]
        assert f"IBAN: {MASK}" in body
        for hidden in (IBAN, SIGNING_KEY, "Signing key"):
            assert hidden not in body
        ids = [b["reply"]["id"] for b in interactive["action"]["buttons"]]
        request = store.get_request(decode_payload(ids[0]).request_id)
        assert deferral.trigger.request_id == request.request_id
        (recipient,) = request.recipients
        assert (recipient.channel, recipient.recipient_id, recipient.prompt_message_id) == (
            "whatsapp",
            WA_ID,
            "wamid.1",
        )

    def test_five_options_are_a_list(self, store_url, shared_store, cloud, make_context):
        run(approval(store_url, options=["a", "b", "c", "d", "e"]), make_context())
        (interactive,) = cloud.calls[0]["args"]
        assert interactive["type"] == "list"
        assert [row["title"] for row in interactive["action"]["sections"][0]["rows"]] == list("abcde")

    def test_window_closed_at_once_without_template_fails_saying_what_to_do(
        self, store, store_url, shared_store, cloud, make_context
    ):
        cloud.fail["interactive"] = MessagingWindowClosedError(
            "(#131047) Re-engagement message", code=131047, hint=WINDOW_HINT
        )
        context = make_context()
        with pytest.raises(
            AirflowFailException,
            match="Set template_name and template_language",
        ):
            rendered(approval(store_url), context).execute(context)
        assert store.maintenance.count_by_status() == {"cancelled": 1}

    def test_window_closed_at_once_sends_the_template(
        self, store, store_url, shared_store, cloud, make_context
    ):
        cloud.fail["interactive"] = MessagingWindowClosedError("(#131047) Re-engagement message", code=131047)
        deferral = run(
            approval(store_url, template_name="approval_request", template_language="de"), make_context()
        )
        [call] = cloud.calls
        assert call["kind"] == "template"
        name, language, components = call["args"]
        assert (name, language) == ("approval_request", "de")
        assert (
            components[0]["parameters"][0]["text"] == f"Publish dataset sales? | Rows: 1284551 · IBAN: {MASK}"
        )
        payloads = [c["parameters"][0]["payload"] for c in components[1:]]
        assert [decode_payload(p).option for p in payloads] == ["Approve", "Reject"]
        (recipient,) = store.get_request(deferral.trigger.request_id).recipients
        assert (recipient.prompt_message_id, recipient.delivery) == ("wamid.1", Delivery.SENT)


class TestDeliveryStatuses:
    def test_delivered_status_ends_the_wait(self, store, store_url, shared_store, cloud, make_context):
        cloud.statuses["interactive"] = (Delivery.DELIVERED, None)
        started = time.monotonic()
        deferral = run(approval(store_url, delivery_wait=60), make_context())
        assert time.monotonic() - started < 30  # ended by the status, long before the 60 s wait
        (recipient,) = store.get_request(deferral.trigger.request_id).recipients
        assert recipient.delivery is Delivery.DELIVERED
        assert [c["kind"] for c in cloud.calls] == ["interactive"]

    def test_failed_status_outside_the_window_sends_the_template(
        self, store, store_url, shared_store, cloud, make_context
    ):
        cloud.statuses["interactive"] = (Delivery.FAILED, REENGAGEMENT)
        deferral = run(
            approval(store_url, delivery_wait=60, template_name="approval_request"), make_context()
        )
        assert [c["kind"] for c in cloud.calls] == ["interactive", "template"]
        (recipient,) = store.get_request(deferral.trigger.request_id).recipients
        assert (recipient.prompt_message_id, recipient.delivery, recipient.delivery_error) == (
            "wamid.2",
            Delivery.SENT,
            None,
        )

    def test_failed_status_outside_the_window_without_template_fails(
        self, store, store_url, shared_store, cloud, make_context
    ):
        cloud.statuses["interactive"] = (Delivery.FAILED, REENGAGEMENT)
        context = make_context()
        with pytest.raises(AirflowFailException) as info:
            rendered(approval(store_url, delivery_wait=60), context).execute(context)
        assert "Set template_name and template_language" in str(info.value)
        assert "131047 Re-engagement message" in str(info.value)
        assert store.maintenance.count_by_status() == {"cancelled": 1}
        (request,) = store.maintenance.list_requests()
        (recipient,) = store.get_request(request.request_id).recipients
        assert recipient.delivery is Delivery.FAILED

    def test_other_failed_status_fails_with_its_error(
        self, store, store_url, shared_store, cloud, make_context
    ):
        cloud.statuses["interactive"] = (Delivery.FAILED, "131026 Message undeliverable")
        context = make_context()
        with pytest.raises(
            InstagramApiError, match="WhatsApp could not deliver the prompt: 131026 Message undeliverable"
        ):
            rendered(
                approval(store_url, delivery_wait=60, template_name="approval_request"), context
            ).execute(context)
        assert [c["kind"] for c in cloud.calls] == ["interactive"]  # no template for a non-window failure

    def test_no_status_in_time_defers_anyway(self, store, store_url, shared_store, cloud, make_context, logs):
        deferral = run(approval(store_url, delivery_wait=0.5), make_context())
        assert deferral.trigger.request_id
        assert "No delivery status from WhatsApp within 0.5 s" in logs()
