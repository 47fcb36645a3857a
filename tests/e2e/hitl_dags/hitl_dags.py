"""DAGs for the Airflow-HITL bridge tests (tests/e2e/test_airflow_hitl.py): Airflow's own operators, with
the Instagram notifier."""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLBranchOperator
from airflow.sdk import DAG

from airflow_provider_instagram_hil.notifications.hitl import InstagramHITLNotifier

ALICE = "{{ var.value.instagram_hil_reviewer_id }}"
BOB = "17841400000000777"
MALLORY = "17841400000000666"  # mapped, but not among the assigned users: never asked

with DAG(dag_id="hitl_approval", schedule=None, catchup=False, tags=["test"]):
    ApprovalOperator(
        task_id="approve",
        subject="Ship {{ run_id }}?",
        body="**Rows:** 1,204\n\n- see [the diff](https://example.test/diff)",
        assigned_users=[{"id": "alice", "name": "alice"}, {"id": "bob", "name": "bob"}],
        notifiers=[InstagramHITLNotifier(recipients={"alice": ALICE, "bob": BOB, "mallory": MALLORY})],
    ) >> EmptyOperator(task_id="ship")

with DAG(dag_id="hitl_branch", schedule=None, catchup=False, tags=["test"]):
    HITLBranchOperator(
        task_id="choose",
        subject="Which region first?",
        options=["eu", "us"],
        notifiers=[InstagramHITLNotifier(recipients={"alice": ALICE})],
    ) >> [EmptyOperator(task_id="eu"), EmptyOperator(task_id="us")]
