"""The example DAGs import cleanly with Airflow's own DagBag and have the documented shape."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import Variable
from airflow.sdk.execution_time.context import VariableAccessor

from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator
from airflow_provider_instagram_hil.operators.messenger import MessengerApprovalOperator
from airflow_provider_instagram_hil.operators.whatsapp import WhatsAppApprovalOperator

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"


@pytest.fixture
def dagbag(monkeypatch) -> DagBag:
    """The example DAGs, parsed while any Variable read fails: Airflow's rule, no I/O at parse time."""

    def no_variables_at_parse_time(*args, **kwargs):
        raise AssertionError(f"Variable.get{args} while parsing an example DAG: use a template")

    monkeypatch.setattr(Variable, "get", no_variables_at_parse_time)
    # ``.dags`` rather than ``get_dag()``: the latter consults the metadata database.
    bag = DagBag(dag_folder=EXAMPLE_DAGS)
    monkeypatch.undo()
    return bag


def rendered(task, **variables):
    """``task`` with its templates rendered as when it runs, Variables from ``AIRFLOW_VAR_*``."""
    with pytest.MonkeyPatch.context() as env:
        reviewers = {
            "instagram_hil_reviewer_id": "6200000000000001",
            "instagram_hil_messenger_reviewer_id": "7100000000000001",
            "instagram_hil_whatsapp_reviewer": "+15550100001",
        }
        for name, value in {**reviewers, **variables}.items():
            env.setenv(f"AIRFLOW_VAR_{name.upper()}", value)
        extract = {"name": "sales_2026_q3", "rows": 1_284_551, "size_mb": 412.7}
        task.render_template_fields(
            {
                "var": {"value": VariableAccessor(deserialize_json=False)},
                "ti": SimpleNamespace(xcom_pull=lambda task_ids: extract),
                "run_id": "manual__2026-12-02",
                "ds": "2026-12-02",
            }
        )
    return task


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
        assert approve.reject_options == ["Reject"]
        for name in ("response_timeout", "default_option", "instagram_conn_id"):
            assert name in approve.template_fields
            assert "{{ var.value.get(" in getattr(approve, name)

    def test_approval_dag_defaults_when_no_variable_is_set(self, dagbag):
        approve = rendered(dagbag.dags["example_instagram_approval"].get_task("approve_publish"))
        assert approve.response_timeout == timedelta(hours=24)
        assert approve.default_option is None
        assert approve.conn_id == approve.instagram_conn_id == "instagram_default"

    def test_approval_dag_reads_timeout_default_and_connection_when_it_runs(self, dagbag):
        approve = rendered(
            dagbag.dags["example_instagram_approval"].get_task("approve_publish"),
            instagram_hil_response_timeout_seconds="3",
            instagram_hil_default_option="Reject",
            instagram_hil_conn_id="instagram_review",
        )
        assert approve.response_timeout == timedelta(seconds=3)
        assert approve.default_option == "Reject"
        assert approve.conn_id == "instagram_review"

    @pytest.mark.parametrize(
        ("variables", "message"),
        [
            pytest.param(
                {"instagram_hil_response_timeout_seconds": "soon"},
                "response_timeout rendered to 'soon'; it must be a positive number of seconds",
                id="timeout-not-a-number",
            ),
            pytest.param(
                {"instagram_hil_response_timeout_seconds": "-5"},
                "response_timeout rendered to '-5'",
                id="timeout-negative",
            ),
            pytest.param(
                {"instagram_hil_default_option": "Maybe"},
                "default_option rendered to 'Maybe', which is not one of the options ['Approve', 'Reject']",
                id="default-not-an-option",
            ),
            pytest.param(
                {"instagram_hil_conn_id": " "},
                "the connection id rendered to ' '; it must name a connection",
                id="blank-connection",
            ),
        ],
    )
    def test_a_bad_variable_fails_the_task_naming_the_parameter(self, dagbag, variables, message):
        approve = dagbag.dags["example_instagram_approval"].get_task("approve_publish")
        with pytest.raises(ValueError, match=re.escape(message)):
            rendered(approve, **variables)

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
        assert rendered(ask).response_timeout == timedelta(hours=4)
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
            assert name in approve.template_fields or name in ("options", "reject_options")
            assert getattr(approve, name) == getattr(instagram, name)
        assert [(f.label, f.value, f.display) for f in approve.fields] == [
            (f.label, f.value, f.display) for f in instagram.fields
        ]

    def test_whatsapp_template_from_variables_when_it_runs(self, dagbag):
        approve = dagbag.dags["example_whatsapp_approval"].get_task("approve_publish")
        assert {"template_name", "template_language", "whatsapp_conn_id"} <= set(approve.template_fields)
        approve = rendered(
            approve,
            instagram_hil_whatsapp_template="approval_request",
            instagram_hil_whatsapp_template_language="de",
        )
        assert (approve.template_name, approve.template_language) == ("approval_request", "de")

    def test_whatsapp_without_template_variables(self, dagbag):
        approve = rendered(dagbag.dags["example_whatsapp_approval"].get_task("approve_publish"))
        assert (approve.template_name, approve.template_language) == (None, "en_US")

    def test_whatsapp_bad_template_name_fails_naming_it(self, dagbag):
        approve = dagbag.dags["example_whatsapp_approval"].get_task("approve_publish")
        with pytest.raises(ValueError, match="template_name rendered to 'Approval Request'"):
            rendered(approve, instagram_hil_whatsapp_template="Approval Request")
