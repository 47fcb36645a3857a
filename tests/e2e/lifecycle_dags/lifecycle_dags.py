"""DAGs for the request-lifecycle tests (tests/e2e/test_request_lifecycle.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator


class WorkerLostAfterPrompting(InstagramApprovalOperator):
    """On its first try the worker dies between sending the prompt and deferring; the retry asks again."""

    def defer(self, **kwargs: Any) -> Any:
        if self._first_try:
            raise RuntimeError("worker lost after sending the prompt")
        return super().defer(**kwargs)

    def execute(self, context: Any) -> Any:
        self._first_try = context["ti"].try_number == 1
        return super().execute(context)


with DAG(dag_id="lifecycle_approval", schedule=None, catchup=False, tags=["test"]):
    InstagramApprovalOperator(
        task_id="approve",
        recipient_id="{{ var.value.instagram_hil_reviewer_id }}",
        subject="Ship {{ run_id }}?",
        response_timeout=timedelta(minutes=10),
    )

with DAG(dag_id="lifecycle_retry", schedule=None, catchup=False, tags=["test"]):
    WorkerLostAfterPrompting(
        task_id="approve",
        recipient_id="{{ var.value.instagram_hil_reviewer_id }}",
        subject="Ship {{ run_id }}?",
        response_timeout=timedelta(minutes=10),
        retries=1,
        retry_delay=timedelta(seconds=0),
    )
