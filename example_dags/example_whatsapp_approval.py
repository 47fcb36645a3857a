"""Publish a dataset only after a reviewer approves it on WhatsApp.

The same DAG as ``example_instagram_approval`` with the operator swapped: only the recipient (a phone
number in international format) and the connection change, plus an optional template. ``approve_publish``
sends the summary as an interactive message with the reply buttons *Approve* / *Reject* and waits
(deferred) for the tap; ``publish`` runs only on *Approve*.

WhatsApp delivers interactive messages only within 24 hours of the reviewer's last message to the number.
Outside that window the operator sends the pre-approved template named by the Variable
``instagram_hil_whatsapp_template`` (language ``instagram_hil_whatsapp_template_language``, default
``en_US``), e.g. an approved *Utility* template ``approval_request`` with the body ``Approval needed:
{{1}}`` and the quick-reply buttons *Approve* and *Reject*; without one the task fails at once, saying so.
These Variables, and ``instagram_hil_response_timeout_seconds`` and ``instagram_hil_default_option`` as in
the Instagram example, are read when the task runs (templates), not when the file is parsed.

Before running it:

* Create the connection ``whatsapp_default`` of type ``whatsapp``: password = a system-user access token
  (``whatsapp_business_messaging``), extras ``phone_number_id`` (WhatsApp Manager > API Setup),
  ``app_secret`` and ``verify_token``.
* Set ``[instagram_hil] whatsapp_conn_id = whatsapp_default`` where the webhook runs, and subscribe the
  WhatsApp Business Account's webhook field ``messages`` to the same callback URL (button taps and
  delivery statuses arrive there).
* Set the Airflow Variable ``instagram_hil_whatsapp_reviewer`` to the reviewer's number, e.g.
  ``+4915123456789``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_instagram_hil.operators.whatsapp import WhatsAppApprovalOperator
from airflow_provider_instagram_hil.prompt import ReviewField
from airflow_provider_instagram_hil.triggers.events import ApprovalResult

with DAG(
    dag_id="example_whatsapp_approval",
    schedule=None,
    catchup=False,
    tags=["example", "whatsapp", "human-in-the-loop"],
    doc_md=__doc__,
):

    @task
    def extract() -> dict[str, Any]:
        """Summarise the dataset the reviewer is asked about."""
        return {"name": "sales_2026_q3", "rows": 1_284_551, "size_mb": 412.7}

    summary = extract()

    approve_publish = WhatsAppApprovalOperator(
        task_id="approve_publish",
        recipient_id="{{ var.value.instagram_hil_whatsapp_reviewer }}",
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
        template_name="{{ var.value.get('instagram_hil_whatsapp_template', '') }}",
        template_language="{{ var.value.get('instagram_hil_whatsapp_template_language', 'en_US') }}",
    )

    @task
    def publish(decision: ApprovalResult) -> None:
        """Runs only when the reviewer approved."""
        print(f"Publishing: approved by {decision['responded_by']} at {decision['responded_at']}")

    summary >> approve_publish
    publish(approve_publish.output)  # type: ignore[arg-type]
