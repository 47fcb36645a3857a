"""Publish a dataset only after a reviewer approves it from an Instagram DM.

``extract`` summarises the dataset, ``approve_publish`` sends the summary to the reviewer as an Instagram
DM with the quick replies *Approve* / *Reject* and waits (deferred) for the tap, and ``publish`` runs
only on *Approve*: *Reject* skips it.

Before running it:

* Create the connection ``instagram_default`` of type ``instagram``: password = the access token (Page
  access token, or Instagram user access token with host ``https://graph.instagram.com``), extras
  ``app_secret`` and ``verify_token`` (the webhook checks signatures and answers Meta's handshake with them).
* Set the Airflow Variable ``instagram_hil_reviewer_id`` to the reviewer's Instagram-scoped ID (IGSID).
  The webhook logs it when the reviewer first messages the account; the reviewer must have messaged
  the account within the last 24 hours, or Meta refuses the prompt.
* Run the webhook (``instagram-hil webhook``) where Meta can reach it, on the same decision store
  (``[instagram_hil] store_url``) as the triggerer.

Optional Variables, read when the task runs (templates: nothing is read when the file is parsed):
``instagram_hil_response_timeout_seconds`` (default 86400, Meta's 24-hour window),
``instagram_hil_default_option`` (an option recorded when nobody answers in time; empty means the task
fails at the timeout) and ``instagram_hil_conn_id`` (default ``instagram_default``). The payout IBAN is
shown masked (``••••••••``) and the signing key is left out of the message entirely: their raw values stay
out of the DM, the logs and the rendered-template view.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator
from airflow_provider_instagram_hil.prompt import ReviewField
from airflow_provider_instagram_hil.triggers.events import ApprovalResult

with DAG(
    dag_id="example_instagram_approval",
    schedule=None,
    catchup=False,
    tags=["example", "instagram", "human-in-the-loop"],
    doc_md=__doc__,
):

    @task
    def extract() -> dict[str, Any]:
        """Summarise the dataset the reviewer is asked about."""
        return {"name": "sales_2026_q3", "rows": 1_284_551, "size_mb": 412.7}

    summary = extract()

    approve_publish = InstagramApprovalOperator(
        task_id="approve_publish",
        recipient_id="{{ var.value.instagram_hil_reviewer_id }}",
        instagram_conn_id="{{ var.value.get('instagram_hil_conn_id', 'instagram_default') }}",
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
    # The XComArg resolves to the operator's ApprovalResult when the task runs.
    publish(approve_publish.output)  # type: ignore[arg-type]
