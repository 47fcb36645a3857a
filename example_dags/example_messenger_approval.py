"""Publish a dataset only after a reviewer approves it in Messenger, from a Facebook Page.

The same DAG as ``example_instagram_approval`` with the operator swapped: only the recipient (a Page-scoped
ID) and the connection change. ``approve_publish`` sends the summary as a button template with the
postback buttons *Approve* / *Reject* (they stay tappable later) and waits (deferred) for the tap;
``publish`` runs only on *Approve*.

Before running it:

* Create the connection ``messenger_default`` of type ``messenger``: password = the Page access token
  (``pages_messaging``), extras ``app_secret`` and ``verify_token``.
* Set ``[instagram_hil] messenger_conn_id = messenger_default`` where the webhook runs, and subscribe the
  Page's webhook (``messages``, ``messaging_postbacks``) to the same callback URL as Instagram's.
* Set the Airflow Variable ``instagram_hil_messenger_reviewer_id`` to the reviewer's Page-scoped ID (PSID);
  the webhook logs it when the reviewer first messages the Page. Meta only delivers within 24 hours of the
  reviewer's last message to the Page.

Optional Variables, read when the task runs (templates): ``instagram_hil_response_timeout_seconds`` and
``instagram_hil_default_option``, as in the Instagram example.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_instagram_hil.operators.messenger import MessengerApprovalOperator
from airflow_provider_instagram_hil.prompt import ReviewField
from airflow_provider_instagram_hil.triggers.events import ApprovalResult

with DAG(
    dag_id="example_messenger_approval",
    schedule=None,
    catchup=False,
    tags=["example", "messenger", "human-in-the-loop"],
    doc_md=__doc__,
):

    @task
    def extract() -> dict[str, Any]:
        """Summarise the dataset the reviewer is asked about."""
        return {"name": "sales_2026_q3", "rows": 1_284_551, "size_mb": 412.7}

    summary = extract()

    approve_publish = MessengerApprovalOperator(
        task_id="approve_publish",
        recipient_id="{{ var.value.instagram_hil_messenger_reviewer_id }}",
        subject="Publish dataset {{ ti.xcom_pull(task_ids='extract')['name'] }}?",
        fields=[
            ReviewField("Rows", "{{ '{:,}'.format(ti.xcom_pull(task_ids='extract')['rows']) }}"),
            ReviewField("Size", "{{ ti.xcom_pull(task_ids='extract')['size_mb'] }} MB"),
            ReviewField("Run", "{{ run_id }}"),
            ReviewField(
                "Payout IBAN",
                "{{ var.value.get('instagram_hil_payout_iban', 'DE00 0000 0000 0000 0000 00') }}",
                display="masked",
            ),
            ReviewField(
                "Signing key",
                "{{ var.value.get('instagram_hil_signing_key', 'not-configured') }}",
                display="concealed",
            ),
        ],
        # Templates: the Variables are read when the task runs, never when the file is parsed.
        response_timeout="{{ var.value.get('instagram_hil_response_timeout_seconds', 86400) }}",
        default_option="{{ var.value.get('instagram_hil_default_option', '') }}",
    )

    @task
    def publish(decision: ApprovalResult) -> None:
        """Runs only when the reviewer approved."""
        print(f"Publishing: approved by {decision['responded_by']} at {decision['responded_at']}")

    summary >> approve_publish
    publish(approve_publish.output)  # type: ignore[arg-type]
