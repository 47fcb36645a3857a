"""Airflow's own human-in-the-loop operator, answered through the REST API by test_services.py."""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, task

with DAG(dag_id="services_native_approval", schedule=None, catchup=False, tags=["test"]):

    @task
    def after_native() -> str:
        return "ran"

    ApprovalOperator(task_id="approve", subject="Deploy {{ run_id }}?") >> after_native()
