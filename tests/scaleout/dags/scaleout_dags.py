"""The scale-out suite's DAG: one approval per run, answered by the run's own reviewer, then a task that
uses the decision.

Every option lets the run go on, so the trigger ends the approval itself (``end_from_trigger``) and the
Celery workers run the downstream tasks during the burst of taps.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator

OPTIONS = ("Ship", "Ship later", "Ship to staging")


def _use_decision(result: dict) -> str:
    """What a real downstream task does with the decision: read the chosen option."""
    return str(result["chosen_option"])


with DAG(
    dag_id="scaleout_approvals",
    schedule=None,
    catchup=False,
    max_active_runs=1000,
    max_active_tasks=1000,
    tags=["scaleout"],
):
    approve = InstagramApprovalOperator(
        task_id="approve",
        recipient_id="{{ dag_run.conf['reviewer'] }}",
        subject="Release {{ dag_run.conf['item'] }}?",
        options=OPTIONS,
        reject_options=[],
        response_timeout=timedelta(hours=1),
    )
    approve >> PythonOperator(
        task_id="use_decision",
        python_callable=_use_decision,
        op_args=[approve.output],
        retries=3,
        retry_delay=timedelta(seconds=2),
    )
