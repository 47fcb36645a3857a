"""The example DAGs import cleanly with Airflow's own DagBag and have the documented shape."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator
from airflow_provider_instagram_hil.operators.messenger import MessengerApprovalOperator
from airflow_provider_instagram_hil.operators.whatsapp import WhatsAppApprovalOperator

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"


@pytest.fixture
def dagbag() -> DagBag:
    # ``.dags`` rather than ``get_dag()``: the latter consults the metadata database.
    return DagBag(dag_folder=EXAMPLE_DAGS)


class TestExampleDags:
    def test_no_import_errors(self, dagbag):
        assert dagbag.import_errors == {}
        assert set(dagbag.dag_ids) == {
            "example_instagram_approval",
            "example_instagram_branching",
            "example_airflow_hitl",
            "example_messenger_approval",
            "example_whatsapp_approval",
        }

    def test_approval_dag(self, dagbag):
        dag = dagbag.dags["example_instagram_approval"]
        assert set(dag.task_ids) == {"extract", "approve_publish", "publish"}
        approve = dag.get_task("approve_publish")
        assert isinstance(approve, InstagramApprovalOperator)
        assert approve.recipient_id == "{{ var.value.instagram_hil_reviewer_id }}"
        assert {f.display for f in approve.fields} == {"plain", "masked", "concealed"}
        assert approve.upstream_task_ids == {"extract"}
        assert approve.downstream_task_ids == {"publish"}
        assert approve.response_timeout == timedelta(hours=24)
        assert approve.default_option is None
        assert approve.reject_options == ["Reject"]

    def test_approval_dag_reads_timeout_and_default_from_variables(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW_VAR_INSTAGRAM_HIL_RESPONSE_TIMEOUT_SECONDS", "3")
        monkeypatch.setenv("AIRFLOW_VAR_INSTAGRAM_HIL_DEFAULT_OPTION", "Reject")
        dagbag = DagBag(dag_folder=EXAMPLE_DAGS / "example_instagram_approval.py")
        dag = dagbag.dags["example_instagram_approval"]
        approve = dag.get_task("approve_publish")
        assert approve.response_timeout == timedelta(seconds=3)
        assert approve.default_option == "Reject"

    def test_branching_dag(self, dagbag):
        dag = dagbag.dags["example_instagram_branching"]
        assert set(dag.task_ids) == {
            "ask_refresh_mode",
            "choose_refresh",
            "full_refresh",
            "incremental_refresh",
        }
        ask = dag.get_task("ask_refresh_mode")
        assert ask.options == ["Full refresh", "Incremental", "Skip"]
        assert ask.reject_options == []
        assert ask.default_option == "Incremental"
        assert ask.downstream_task_ids == {"choose_refresh"}
        assert dag.get_task("choose_refresh").downstream_task_ids == {"full_refresh", "incremental_refresh"}

    def test_airflow_hitl_dag(self, dagbag):
        from airflow.providers.standard.operators.hitl import ApprovalOperator

        from airflow_provider_instagram_hil.notifications.hitl import InstagramHITLNotifier

        dag = dagbag.dags["example_airflow_hitl"]
        approve = dag.get_task("approve_release")
        assert isinstance(approve, ApprovalOperator)
        (notifier,) = approve.notifiers
        assert isinstance(notifier, InstagramHITLNotifier)
        assigned = {user["id"] for user in approve.assigned_users}
        assert set(notifier.recipients) == assigned == {"alice", "bob"}
        assert approve.downstream_task_ids == {"release"}


class TestChannelExamples:
    """The Messenger and WhatsApp examples are the Instagram one with the operator swapped."""

    @pytest.mark.parametrize(
        ("dag_id", "operator_class", "recipient"),
        [
            pytest.param(
                "example_messenger_approval",
                MessengerApprovalOperator,
                "{{ var.value.instagram_hil_messenger_reviewer_id }}",
                id="messenger",
            ),
            pytest.param(
                "example_whatsapp_approval",
                WhatsAppApprovalOperator,
                "{{ var.value.instagram_hil_whatsapp_reviewer }}",
                id="whatsapp",
            ),
        ],
    )
    def test_same_task_as_instagram_but_recipient_and_connection(
        self, dagbag, dag_id, operator_class, recipient
    ):
        instagram = dagbag.dags["example_instagram_approval"].get_task("approve_publish")
        dag = dagbag.dags[dag_id]
        assert set(dag.task_ids) == {"extract", "approve_publish", "publish"}
        approve = dag.get_task("approve_publish")
        assert isinstance(approve, operator_class)
        assert approve.recipient_id == recipient
        for name in ("subject", "options", "reject_options", "response_timeout", "default_option"):
            assert getattr(approve, name) == getattr(instagram, name)
        assert [(f.label, f.value, f.display) for f in approve.fields] == [
            (f.label, f.value, f.display) for f in instagram.fields
        ]

    def test_whatsapp_template_from_variables(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW_VAR_INSTAGRAM_HIL_WHATSAPP_TEMPLATE", "approval_request")
        monkeypatch.setenv("AIRFLOW_VAR_INSTAGRAM_HIL_WHATSAPP_TEMPLATE_LANGUAGE", "de")
        dagbag = DagBag(dag_folder=EXAMPLE_DAGS / "example_whatsapp_approval.py")
        approve = dagbag.dags["example_whatsapp_approval"].get_task("approve_publish")
        assert (approve.template_name, approve.template_language) == ("approval_request", "de")
