"""MessengerApprovalOperator on a real store: button templates, quick replies, Messenger's window."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_instagram_hil.exceptions import MessagingWindowClosedError
from airflow_provider_instagram_hil.hooks.messenger import MessengerHook
from airflow_provider_instagram_hil.links.messenger import MessengerRequestLink
from airflow_provider_instagram_hil.operators.messenger import MessengerApprovalOperator
from airflow_provider_instagram_hil.payloads import decode_payload
from airflow_provider_instagram_hil.prompt import MASK, ReviewField
from airflow_provider_instagram_hil.store import Delivery, RequestStatus
from airflow_provider_instagram_hil.triggers.instagram import InstagramDecisionTrigger
from airflow_provider_instagram_hil.typed_answers import request_code
from airflow_provider_instagram_hil.version_compat import AirflowFailException

PSID = "7100000000000001"
IBAN = "DE89-3704-0044-0532-0130-00"


@dataclass
class PageSends:
    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: Exception | None = None


@pytest.fixture
def page(monkeypatch, channel_conn_env) -> PageSends:
    """Replace the Graph calls of MessengerHook; everything else is real."""
    channel_conn_env("messenger")
    sends = PageSends()

    def record(kind):
        def method(self, recipient_id, text, choices=None, **kwargs):
            if sends.fail is not None:
                raise sends.fail
            sends.calls.append(
                {
                    "kind": kind,
                    "recipient_id": recipient_id,
                    "text": text,
                    "choices": choices,
                    "conn": self.messenger_conn_id,
                }
            )
            return {"recipient_id": recipient_id, "message_id": f"m_{len(sends.calls)}"}

        return method

    monkeypatch.setattr(MessengerHook, "send_buttons", record("buttons"))
    monkeypatch.setattr(MessengerHook, "send_message", record("message"))
    return sends


def approval(store_url=None, **overrides):
    kwargs = {
        "task_id": "approve",
        "recipient_id": PSID,
        "subject": "Publish dataset sales?",
        "fields": [ReviewField("Rows", "1284551"), ReviewField("IBAN", "{{ iban }}", display="masked")],
        "store_url": store_url,
        "poll_interval": 0.5,
    }
    kwargs.update(overrides)
    return MessengerApprovalOperator(**kwargs)


def run(operator, context) -> TaskDeferred:
    operator.render_template_fields({**context, "iban": IBAN})
    with pytest.raises(TaskDeferred) as info:
        operator.execute(context)
    return info.value


class TestInit:
    def test_defaults(self):
        operator = MessengerApprovalOperator(task_id="t", recipient_id=PSID, subject="Go?")
        assert operator.messenger_conn_id == "messenger_default"
        assert operator.conn_id == "messenger_default"
        assert operator.options == ["Approve", "Reject"]
        assert isinstance(operator.operator_extra_links[0], MessengerRequestLink)

    @pytest.mark.parametrize(
        ("overrides", "match"),
        [
            pytest.param(
                {"options": [f"o{i}" for i in range(14)]}, "Messenger: at most 13 options", id="14-options"
            ),
            pytest.param({"recipient_id": "@someone"}, "not a Page-scoped ID", id="username"),
            pytest.param(
                {"recipient_id": [PSID, f" {PSID} "]}, "same Messenger recipient twice", id="repeated"
            ),
            pytest.param(
                {"options": ["👍" * 11, "No"]}, "button-template button holds at most 20", id="wide-title"
            ),
            pytest.param({"subject": "s" * 641, "options": ["Yes"]}, "holds at most 640", id="template-text"),
        ],
    )
    def test_bad_arguments_fail_at_parse_time(self, overrides, match):
        with pytest.raises(ValueError, match=match):
            approval(**overrides)


class TestExecute:
    def test_two_options_are_a_button_template(self, store, store_url, shared_store, page, make_context):
        context = make_context()
        deferral = run(approval(store_url, messenger_conn_id="page_reviews"), context)

        [call] = page.calls
        assert (call["kind"], call["recipient_id"], call["conn"]) == ("buttons", PSID, "page_reviews")
        assert f"IBAN: {MASK}" in call["text"]
        assert "Reply:" not in call["text"]
        assert [(b["type"], b["title"]) for b in call["choices"]] == [
            ("postback", "Approve"),
            ("postback", "Reject"),
        ]
        request_id = decode_payload(call["choices"][0]["payload"]).request_id
        assert isinstance(deferral.trigger, InstagramDecisionTrigger)
        assert deferral.trigger.request_id == request_id
        request = store.get_request(request_id)
        (recipient,) = request.recipients
        assert (recipient.channel, recipient.recipient_id, recipient.prompt_message_id) == (
            "messenger",
            PSID,
            "m_1",
        )
        assert recipient.delivery is Delivery.SENT

    def test_four_options_are_quick_replies(self, store_url, shared_store, page, make_context):
        run(approval(store_url, options=["Full", "Partial", "Skip", "Reject"]), make_context())
        [call] = page.calls
        assert call["kind"] == "message"
        assert [r["title"] for r in call["choices"]] == ["Full", "Partial", "Skip", "Reject"]
        code = request_code(decode_payload(call["choices"][0]["payload"]).request_id)
        assert call["text"].endswith(
            f"(no answer: the task fails).\nReply: Full / Partial / Skip / Reject (request {code})"
        )

    def test_a_messenger_tap_decides_and_an_instagram_one_is_refused(
        self, store, store_url, shared_store, page, make_context
    ):
        request_id = run(approval(store_url), make_context()).trigger.request_id
        assert (
            store.record_decision(
                request_id, option="Approve", responder_id=PSID, channel="instagram"
            ).outcome.value
            == "wrong_channel"
        )
        assert (
            store.record_decision(
                request_id, option="Approve", responder_id=PSID, channel="messenger"
            ).outcome.value
            == "recorded"
        )
        assert store.get_request(request_id).status is RequestStatus.DECIDED

    def test_window_closed_fails_at_once_in_messengers_words(
        self, store, store_url, shared_store, page, make_context
    ):
        page.fail = MessagingWindowClosedError(
            "outside of allowed window", code=10, subcode=2018278, hint=MessengerHook.error_hints.window
        )
        context = make_context()
        operator = approval(store_url)
        operator.render_template_fields({**context, "iban": IBAN})
        with pytest.raises(AirflowFailException, match="must send a message to the Facebook Page first"):
            operator.execute(context)
        assert store.maintenance.count_by_status() == {"cancelled": 1}
