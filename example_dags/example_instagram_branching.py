"""Let a reviewer choose how to refresh a table, from an Instagram DM.

``ask_refresh_mode`` sends the reviewer three quick replies, *Full refresh*, *Incremental* and *Skip*;
``choose_refresh`` (a ``@task.branch``) reads the chosen option from the approval task's XCom
(``chosen_option``) and runs ``full_refresh`` or ``incremental_refresh``; *Skip* runs neither. None of
the options is a rejection (``reject_options`` is empty), so the approval task never skips anything
itself: the branch decides.

Before running it:

* Create the connection ``instagram_default`` of type ``instagram``: password = the access token, extras
  ``app_secret`` and ``verify_token``.
* Set the Airflow Variable ``instagram_hil_reviewer_id`` to the reviewer's Instagram-scoped ID (IGSID);
  the reviewer must have messaged the account within the last 24 hours.
* Run the webhook (``instagram-hil webhook``) on the same decision store as the triggerer.

Nobody answering within ``instagram_hil_response_timeout_seconds`` (a Variable read when the task
runs, default 4 hours) records *Incremental*, the safe choice, so the nightly run never waits for ever.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator
from airflow_provider_instagram_hil.triggers.events import ApprovalResult

FULL_REFRESH = "Full refresh"
INCREMENTAL = "Incremental"
SKIP = "Skip"

with DAG(
    dag_id="example_instagram_branching",
    schedule=None,
    catchup=False,
    tags=["example", "instagram", "human-in-the-loop"],
    doc_md=__doc__,
):
    ask_refresh_mode = InstagramApprovalOperator(
        task_id="ask_refresh_mode",
        recipient_id="{{ var.value.instagram_hil_reviewer_id }}",
        subject="How should table sales_daily be refreshed for {{ ds }}?",
        fields={"Last full refresh": "14 days ago", "Changed rows (estimate)": "38,210"},
        options=[FULL_REFRESH, INCREMENTAL, SKIP],
        reject_options=[],
        # A template: the Variable is read when the task runs, never when the file is parsed.
        response_timeout="{{ var.value.get('instagram_hil_response_timeout_seconds', 14400) }}",
        default_option=INCREMENTAL,
    )

    @task.branch
    def choose_refresh(decision: ApprovalResult) -> str | None:
        """Route on the reviewer's answer."""
        return {FULL_REFRESH: "full_refresh", INCREMENTAL: "incremental_refresh"}.get(
            decision["chosen_option"]
        )

    @task
    def full_refresh() -> None:
        print("Rebuilding sales_daily from scratch")

    @task
    def incremental_refresh() -> None:
        print("Merging the changed rows into sales_daily")

    # The XComArg resolves to the operator's ApprovalResult when the task runs.
    branch = choose_refresh(ask_refresh_mode.output)  # type: ignore[arg-type]
    branch >> [full_refresh(), incremental_refresh()]
