"""InstagramHITLNotifier on Airflow's own HITL operators, over real HTTP to the sandbox Graph API."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from airflow.providers.standard.operators.hitl import (
    ApprovalOperator,
    HITLEntryOperator,
    HITLOperator,
)
from credentials import TEST_TOKEN

from airflow_provider_instagram_hil.config import shared_store
from airflow_provider_instagram_hil.hitl.bridge import SOURCE
from airflow_provider_instagram_hil.notifications.hitl import (
    InstagramHITLNotifier,
    MessengerHITLNotifier,
    WhatsAppHITLNotifier,
)
from airflow_provider_instagram_hil.payloads import decode_payload
from airflow_provider_instagram_hil.prompt import options_line
from airflow_provider_instagram_hil.sandbox.graph_api import SandboxGraphApi
from airflow_provider_instagram_hil.store import Delivery

ALICE, BOB = "17841400000000001", "17841400000000002"
BASE_URL = "http://airflow.test:8080"


@pytest.fixture
def graph(instagram_conn_env, monkeypatch, sqlite_url):
    monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", sqlite_url)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
    with SandboxGraphApi(token=TEST_TOKEN) as sandbox:
        instagram_conn_env(host=sandbox.url)
        yield sandbox


def context(task, try_number=1):
    ti = SimpleNamespace(
        dag_id="sales", run_id="manual__1", task_id=task.task_id, map_index=-1, try_number=try_number
    )
    return {"task": task, "task_instance": ti, "ti": ti}


def request_of(ti):
    return shared_store(None).request_for_try(
        dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=-1, try_number=ti.try_number
    )


def test_assigned_reviewers_get_the_prompt_with_buttons_and_the_request_is_stored(graph):
    task = ApprovalOperator(
        task_id="ship",
        subject="Ship  the **sales** report?",
        body="## Summary\n- rows: **1,204**\n- see [the diff](https://x.test/d)",
        assigned_users=[{"id": "alice", "name": "Alice"}],
        response_timeout=timedelta(hours=2),
        defaults="Reject",
    )
    ctx = context(task)
    InstagramHITLNotifier(recipients={"alice": ALICE, "bob": BOB})(ctx)

    (message,) = graph.wait_for_messages(1)
    assert message["recipient_id"] == ALICE
    assert message["text"] == (
        "Ship the **sales** report?\n\nSummary\n• rows: 1,204\n• see the diff (https://x.test/d)\n\n"
        + options_line(["Approve", "Reject"])
    )
    request = request_of(ctx["ti"])
    assert [decode_payload(q["payload"]) for q in message["quick_replies"]] == [
        (request.request_id, "Approve"),
        (request.request_id, "Reject"),
    ]
    assert request.source == SOURCE
    assert [(r.recipient_id, r.name, r.delivery) for r in request.recipients] == [
        (ALICE, "alice", Delivery.SENT)
    ]
    assert request.default_option == "Reject"
    expected = datetime.now(timezone.utc) + timedelta(hours=2)
    assert abs((request.expires_at - expected).total_seconds()) < 60


def test_without_assigned_users_every_mapped_reviewer_is_asked_once_per_try(graph):
    task = ApprovalOperator(task_id="ship", subject="Ship?")
    ctx = context(task)
    notifier = InstagramHITLNotifier(recipients={"alice": ALICE, "bob": "{{ 'bob-' ~ 'igsid' }}"})
    notifier(ctx)
    InstagramHITLNotifier(recipients={"alice": ALICE, "bob": "bob-igsid"})(ctx)  # same try again

    sent = graph.wait_for_messages(2)
    assert sorted(m["recipient_id"] for m in sent) == sorted([ALICE, "bob-igsid"])
    assert len(graph.messages) == 2
    assert {r.name for r in request_of(ctx["ti"]).recipients} == {"alice", "bob"}


@pytest.mark.parametrize(
    "task",
    [
        pytest.param(
            lambda: HITLOperator(task_id="pick", subject="Pick regions", options=["EU", "US"], multiple=True),
            id="multiple",
        ),
        pytest.param(
            lambda: HITLEntryOperator(task_id="pick", subject="Budget?", params={"budget": 10}),
            id="form",
        ),
        pytest.param(
            lambda: HITLOperator(task_id="pick", subject="Pick", options=[f"option {i}" for i in range(14)]),
            id="too-many-options",
        ),
    ],
)
def test_what_a_tap_cannot_answer_gets_a_link_to_airflow(graph, task):
    ctx = context(task())
    InstagramHITLNotifier(recipients={"alice": ALICE})(ctx)

    (message,) = graph.wait_for_messages(1)
    assert not message["quick_replies"]
    assert (
        f"Answer in Airflow: {BASE_URL}/dags/sales/runs/manual__1/tasks/pick/required_actions"
        in message["text"]
    )
    assert request_of(ctx["ti"]) is None


def test_the_link_can_come_with_the_buttons(graph):
    ctx = context(ApprovalOperator(task_id="ship", subject="Ship?"))
    InstagramHITLNotifier(recipients={"alice": ALICE}, link_to_airflow=True)(ctx)
    (message,) = graph.wait_for_messages(1)
    assert len(message["quick_replies"]) == 2
    assert message["text"].endswith(
        f"Or answer in Airflow: {BASE_URL}/dags/sales/runs/manual__1/tasks/ship/required_actions?map_index=-1"
    )


def test_a_failed_dm_is_recorded_and_never_fails_the_task(graph):
    graph.inject_fault("window_closed", times=1)
    ctx = context(ApprovalOperator(task_id="ship", subject="Ship?"))
    InstagramHITLNotifier(recipients={"alice": ALICE, "bob": BOB})(ctx)

    assert [m["recipient_id"] for m in graph.wait_for_messages(1)] == [BOB]
    deliveries = {r.name: (r.delivery, r.delivery_error) for r in request_of(ctx["ti"]).recipients}
    assert deliveries["bob"] == (Delivery.SENT, None)
    assert deliveries["alice"][0] is Delivery.FAILED
    assert "MessagingWindowClosedError" in deliveries["alice"][1]


def test_a_store_that_cannot_record_sends_the_link_instead_of_buttons(graph, monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", f"sqlite:///{tmp_path}/a-file/store.db")
    ctx = context(ApprovalOperator(task_id="ship", subject="Ship?"))
    InstagramHITLNotifier(recipients={"alice": ALICE})(ctx)
    (message,) = graph.wait_for_messages(1)
    assert not message["quick_replies"]
    assert "required_actions" in message["text"]


def test_nobody_mapped_among_the_assigned_users_sends_nothing(graph, capsys):
    task = ApprovalOperator(task_id="ship", subject="Ship?", assigned_users=[{"id": "carol", "name": "C"}])
    ctx = context(task)
    InstagramHITLNotifier(recipients={"alice": ALICE})(ctx)
    assert graph.messages == []
    assert request_of(ctx["ti"]) is None
    assert "None of the task's assigned users (carol)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "recipients",
    [
        pytest.param({}, id="empty"),
        pytest.param(["alice"], id="not-a-mapping"),
        pytest.param({"alice": " "}, id="blank-igsid"),
        pytest.param({"alice": "1", "bob": "1"}, id="same-igsid"),
    ],
)
def test_recipients_must_map_users_to_distinct_igsids(recipients):
    with pytest.raises(ValueError, match="recipients"):
        InstagramHITLNotifier(recipients=recipients)


class TestOtherChannels:
    """The same notifier on Messenger (button template) and WhatsApp (reply buttons), over real HTTP."""

    @pytest.fixture
    def sandbox(self, channel_conn_env, monkeypatch, sqlite_url):
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", sqlite_url)
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
        with SandboxGraphApi(token=TEST_TOKEN, page_token=TEST_TOKEN, whatsapp_token=TEST_TOKEN) as graph:
            channel_conn_env("messenger", host=graph.url)
            channel_conn_env("whatsapp", host=graph.url)
            yield graph

    @pytest.mark.parametrize(
        ("notifier", "recipient", "stored_as", "kind"),
        [
            pytest.param(
                MessengerHITLNotifier,
                "6543210987654321",
                "6543210987654321",
                "button_template",
                id="messenger",
            ),
            pytest.param(
                WhatsAppHITLNotifier,
                "+49 151 2345 6789",
                "4915123456789",
                "interactive_button",
                id="whatsapp",
            ),
        ],
    )
    def test_buttons_on_the_channel_and_a_request_for_it(self, sandbox, notifier, recipient, stored_as, kind):
        ctx = context(ApprovalOperator(task_id="ship", subject="Ship?", body="**Rows:** 3"))
        notifier(recipients={"alice": recipient})(ctx)

        (message,) = sandbox.wait_for_messages(1)
        assert (message["channel"], message["kind"]) == (notifier.channel.name, kind)
        assert [o["title"] for o in message["options"]] == ["Approve", "Reject"]
        assert message["text"].startswith("Ship?\n\nRows: 3")
        request = request_of(ctx["ti"])
        assert [(r.channel, r.recipient_id, r.name) for r in request.recipients] == [
            (notifier.channel.name, stored_as, "alice")
        ]

    def test_a_number_that_is_no_phone_number_fails_at_parse_time(self):
        with pytest.raises(ValueError, match="international format"):
            WhatsAppHITLNotifier(recipients={"alice": "0151 2345"})


@pytest.mark.parametrize(
    ("notifier_class", "conn_field"),
    [
        pytest.param(InstagramHITLNotifier, "instagram_conn_id", id="instagram"),
        pytest.param(MessengerHITLNotifier, "messenger_conn_id", id="messenger"),
        pytest.param(WhatsAppHITLNotifier, "whatsapp_conn_id", id="whatsapp"),
    ],
)
def test_connection_id_is_templated_and_base_notifier_kwargs_are_forwarded(notifier_class, conn_field):
    recipient = "+4915123456789" if notifier_class is WhatsAppHITLNotifier else ALICE
    notifier = notifier_class(
        recipients={"alice": recipient}, context={"run_id": "manual__1"}, **{conn_field: "{{ params.conn }}"}
    )
    assert notifier.context == {"run_id": "manual__1"}
    assert conn_field in notifier.template_fields
    notifier.render_template_fields({"params": {"conn": "review_conn"}})
    assert notifier.conn_id == getattr(notifier, conn_field) == "review_conn"
    assert notifier.hook.graph_conn_id == "review_conn"
