"""The two DAGs of the end-to-end latency benchmark (``benchmarks/bench_e2e.py``).

Each is an approval task followed by the same trivial downstream task: ours answered by a signed tap
through the webhook, Airflow's own ``ApprovalOperator`` answered through ``PATCH .../hitlDetails``, and
the same ``ApprovalOperator`` with the Instagram notifier, answered by a tap the webhook writes there.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from airflow_provider_instagram_hil.notifications.hitl import InstagramHITLNotifier
from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator


def _downstream() -> None:
    """The trivial task whose start the benchmark times."""


with DAG(dag_id="bench_e2e_instagram", schedule=None, catchup=False, tags=["benchmark"]):
    InstagramApprovalOperator(
        task_id="approve",
        recipient_id="{{ var.value.instagram_hil_reviewer_id }}",
        subject="Release {{ run_id }}?",
        response_timeout=timedelta(hours=1),
    ) >> PythonOperator(task_id="after", python_callable=_downstream)

with DAG(dag_id="bench_e2e_native", schedule=None, catchup=False, tags=["benchmark"]):
    ApprovalOperator(
        task_id="approve",
        subject="Release {{ run_id }}?",
        response_timeout=timedelta(hours=1),
    ) >> PythonOperator(task_id="after", python_callable=_downstream)

with DAG(dag_id="bench_e2e_bridge", schedule=None, catchup=False, tags=["benchmark"]):
    ApprovalOperator(
        task_id="approve",
        subject="Release {{ run_id }}?",
        response_timeout=timedelta(hours=1),
        notifiers=[InstagramHITLNotifier(recipients={"admin": "{{ var.value.instagram_hil_reviewer_id }}"})],
    ) >> PythonOperator(task_id="after", python_callable=_downstream)
