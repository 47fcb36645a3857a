"""The shared approval operator: the three channel operators take the same parameters."""

from __future__ import annotations

import inspect
from datetime import timedelta

import pytest

from airflow_provider_instagram_hil.operators.approval import BaseApprovalOperator
from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator
from airflow_provider_instagram_hil.operators.messenger import MessengerApprovalOperator
from airflow_provider_instagram_hil.operators.whatsapp import WhatsAppApprovalOperator
from airflow_provider_instagram_hil.prompt import ReviewField

SHARED = {
    "subject": "Pay out {{ params.amount }} EUR?",
    "fields": [ReviewField("Invoice", "{{ params.invoice }}"), ReviewField("IBAN", "x", display="masked")],
    "options": ["Approve", "Reject"],
    "reject_options": ["Reject"],
    "response_timeout": timedelta(hours=4),
    "default_option": "Reject",
    "fail_on_reject": True,
    "decision_policy": "quorum",
    "min_approvals": 2,
    "veto_on_reject": True,
    "end_from_trigger": False,
    "poll_interval": 3.0,
}
CHANNELS = [
    pytest.param(
        InstagramApprovalOperator,
        {"recipient_id": ["6200000000000001", "6200000000000002"], "instagram_conn_id": "ig"},
        id="instagram",
    ),
    pytest.param(
        MessengerApprovalOperator,
        {"recipient_id": ["7100000000000001", "7100000000000002"], "messenger_conn_id": "page"},
        id="messenger",
    ),
    pytest.param(
        WhatsAppApprovalOperator,
        {"recipient_id": ["+4915123456789", "+16315551234"], "whatsapp_conn_id": "wa"},
        id="whatsapp",
    ),
]


@pytest.mark.parametrize(("operator_class", "own"), CHANNELS)
def test_swapping_the_operator_changes_only_recipient_and_connection(operator_class, own):
    operator = operator_class(task_id="approve", **own, **SHARED)
    assert isinstance(operator, BaseApprovalOperator)
    for name in (
        "subject",
        "options",
        "reject_options",
        "response_timeout",
        "default_option",
        "fail_on_reject",
    ):
        assert getattr(operator, name) == SHARED[name]
    assert operator.policy.describe() == "quorum of 2 with veto"
    assert operator.template_fields == ("recipient_id", "subject", "fields", "escalate_to")
    assert operator.conn_id == next(v for k, v in own.items() if k.endswith("_conn_id"))


def test_the_channel_operators_add_only_their_connection_and_whatsapps_template():
    shared = set(inspect.signature(BaseApprovalOperator.__init__).parameters) - {"self", "kwargs", "conn_id"}
    for operator_class, extra in (
        (InstagramApprovalOperator, {"instagram_conn_id"}),
        (MessengerApprovalOperator, {"messenger_conn_id"}),
        (
            WhatsAppApprovalOperator,
            {"whatsapp_conn_id", "template_name", "template_language", "delivery_wait"},
        ),
    ):
        own = set(inspect.signature(operator_class.__init__).parameters) - {"self", "kwargs"}
        assert own - shared == extra
