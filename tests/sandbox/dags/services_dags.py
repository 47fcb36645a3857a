"""DAGs for the real-services tests (tests/sandbox/test_services.py): a trivial run and an approval."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator

with DAG(dag_id="services_trivial", schedule=None, catchup=False, tags=["test"]):

    @task
    def hello() -> str:
        return "hello"

    hello()

with DAG(dag_id="services_approval", schedule=None, catchup=False, tags=["test"]):
    approve = InstagramApprovalOperator(
        task_id="approve",
        recipient_id="{{ var.value.instagram_hil_reviewer_id }}",
        subject="Deploy {{ run_id }}?",
        response_timeout=timedelta(minutes=10),
    )

    @task
    def after(decision: dict) -> str:
        return str(decision["chosen_option"])

    after(approve.output)
