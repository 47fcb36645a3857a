"""The DAG of the persistent-buttons test (tests/e2e/test_persistent_buttons.py): an Instagram approval
sent as a button template, and one kept for a reviewer outside the messaging window."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator

with DAG(dag_id="persistent_buttons", schedule=None, catchup=False, tags=["test"]):
    approval = InstagramApprovalOperator(
        task_id="approve",
        recipient_id="{{ var.value.instagram_hil_reviewer_id }}",
        subject="Deploy v2",
        response_timeout=timedelta(minutes=10),
        persistent_buttons=True,
    )

    @task
    def deploy(decision: dict) -> str:
        return str(decision["chosen_option"])

    deploy(approval.output)

with DAG(dag_id="persistent_buttons_wait", schedule=None, catchup=False, tags=["test"]):
    InstagramApprovalOperator(
        task_id="approve",
        recipient_id="{{ var.value.instagram_hil_reviewer_id }}",
        subject="Deploy v3",
        response_timeout=timedelta(minutes=10),
        persistent_buttons=True,
        on_window_closed="wait",
    )
