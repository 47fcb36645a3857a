"""DAGs for the reviewer-side tests (tests/e2e/test_reviewer_side.py): two reviewers, a deadline in
Berlin time and a default, so every message the reviewers get can be checked word for word."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator

BOB = "6200000000000002"
CAROL = "6200000000000003"

for dag_id, timeout in (
    ("reviewer_side", timedelta(minutes=10)),
    ("reviewer_side_timeout", timedelta(seconds=3)),
):
    with DAG(dag_id=dag_id, schedule=None, catchup=False, tags=["test"]):
        approval = InstagramApprovalOperator(
            task_id="approve",
            recipient_id={"alice": "{{ var.value.instagram_hil_reviewer_id }}", "bob": BOB},
            subject="Deploy v2",
            response_timeout=timeout,
            default_option="Reject",
            deadline_timezone="Europe/Berlin",
            require_reason_on_reject=True,
        )

        @task
        def deploy(decision: dict) -> str:
            return str(decision["chosen_option"])

        deploy(approval.output)

with DAG(dag_id="reviewer_follow_up", schedule=None, catchup=False, tags=["test"]):
    InstagramApprovalOperator(
        task_id="approve",
        recipient_id={"alice": "{{ var.value.instagram_hil_reviewer_id }}", "bob": BOB},
        subject="Deploy v2",
        response_timeout=timedelta(minutes=5),
        remind_after=timedelta(seconds=2),
        escalate_to={"carol": CAROL},
        escalate_after=timedelta(seconds=5),
    )

with DAG(dag_id="reviewer_window", schedule=None, catchup=False, tags=["test"]):
    InstagramApprovalOperator(
        task_id="approve",
        recipient_id={"alice": "{{ var.value.instagram_hil_reviewer_id }}"},
        subject="Deploy v2",
        response_timeout=timedelta(minutes=5),
        on_window_closed="wait",
    )
