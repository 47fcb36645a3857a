"""The example DAGs import cleanly with Airflow's own DagBag and have the documented shape."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator

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
