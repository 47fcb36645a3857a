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
    conn_field = next(k for k in own if k.endswith("_conn_id"))
    shared_fields = (
        "recipient_id",
        "subject",
        "fields",
        "response_timeout",
        "default_option",
        "escalate_to",
        conn_field,
    )
    assert operator.template_fields[: len(shared_fields)] == shared_fields
    assert operator.conn_id == own[conn_field]


@pytest.mark.parametrize(("operator_class", "own"), CHANNELS)
def test_connection_timeout_and_default_option_are_rendered_when_the_task_runs(operator_class, own):
    conn_field = next(k for k in own if k.endswith("_conn_id"))
    operator = operator_class(
        task_id="approve",
        recipient_id=own["recipient_id"],
        subject="Go?",
        response_timeout="{{ params.seconds }}",
        default_option="{{ params.default }}",
        **{conn_field: "{{ params.conn }}"},
    )
    operator.render_template_fields({"params": {"conn": "review_conn", "seconds": "90", "default": "Reject"}})
    assert operator.conn_id == getattr(operator, conn_field) == "review_conn"
    assert getattr(operator.hook, operator.channel.hook_conn_arg) == "review_conn"
    assert operator.response_timeout == timedelta(seconds=90)
    assert operator.default_option == "Reject"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"seconds": "0"}, "response_timeout rendered to '0'", id="zero-timeout"),
        pytest.param({"seconds": "4h"}, "response_timeout rendered to '4h'", id="timeout-not-seconds"),
        pytest.param({"default": "Later"}, "default_option rendered to 'Later'", id="default-not-an-option"),
        pytest.param({"conn": ""}, "the connection id rendered to ''", id="empty-connection"),
    ],
)
def test_a_bad_rendered_value_fails_naming_the_parameter(params, message):
    operator = InstagramApprovalOperator(
        task_id="approve",
        recipient_id="6200000000000001",
        subject="Go?",
        instagram_conn_id="{{ params.conn }}",
        response_timeout="{{ params.seconds }}",
        default_option="{{ params.default }}",
    )
    with pytest.raises(ValueError, match=message):
        operator.render_template_fields({"params": {"conn": "ig", "seconds": "60", "default": "", **params}})


def test_an_untemplated_string_timeout_is_refused_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match="response_timeout must be a positive timedelta or a template"):
        InstagramApprovalOperator(
            task_id="t", recipient_id="6200000000000001", subject="Go?", response_timeout="4h"
        )


def test_the_channel_operators_add_only_their_connection_whatsapps_template_and_instagrams_buttons():
    shared = set(inspect.signature(BaseApprovalOperator.__init__).parameters) - {"self", "kwargs", "conn_id"}
    for operator_class, extra in (
        (InstagramApprovalOperator, {"instagram_conn_id", "persistent_buttons"}),
        (MessengerApprovalOperator, {"messenger_conn_id"}),
        (
            WhatsAppApprovalOperator,
            {"whatsapp_conn_id", "template_name", "template_language", "delivery_wait"},
        ),
    ):
        own = set(inspect.signature(operator_class.__init__).parameters) - {"self", "kwargs"}
        assert own - shared == extra
