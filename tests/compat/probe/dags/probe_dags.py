"""Probe DAGs: a task ended by its trigger, tasks a user acts on while deferred, Airflow's own HITL."""

from __future__ import annotations

import os

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG
from probe_triggers import DeferOperator

MARKER_DIR = os.environ["PROBE_MARKER_DIR"]

with DAG("probe_task_end", schedule=None, catchup=False, default_args={"retries": 0}):
    for outcome in ("success", "failed", "skipped"):
        DeferOperator(task_id=f"end_{outcome}", outcome=outcome)

with DAG("probe_user_action", schedule=None, catchup=False, default_args={"retries": 0}):
    for action in ("clear", "mark_success", "mark_failed"):
        DeferOperator(task_id=f"wait_{action}", marker_dir=MARKER_DIR)

with DAG("probe_hitl", schedule=None, catchup=False, default_args={"retries": 0}):
    ApprovalOperator(task_id="approve", subject="Probe: approve?")
