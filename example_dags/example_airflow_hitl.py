"""Airflow's own ``ApprovalOperator``, answered from Instagram or from the Required Actions page.

``approve_release`` is providers-standard's ``ApprovalOperator``: the task waits in Airflow's
human-in-the-loop (``awaiting_input`` on Airflow 3.3) and shows on the Required Actions page. Its
``InstagramHITLNotifier`` also DMs the assigned reviewers the subject, the body and *Approve* / *Reject*
quick replies; a tap is written into Airflow's record as that reviewer's Airflow user. Whichever answer
comes first, in the chat or in Airflow, decides; *Reject* skips ``release``.

Before running it:

* Create the connection ``instagram_default`` of type ``instagram``: password = the access token, extras
  ``app_secret`` and ``verify_token``.
* Set the Airflow Variables ``instagram_hil_alice_igsid`` and ``instagram_hil_bob_igsid`` to the
  reviewers' Instagram-scoped IDs; each must have messaged the account within the last 24 hours. The
  keys of ``recipients`` (``alice``, ``bob``) are their Airflow user ids.
* Run the webhook with Airflow's configuration: mounted in the API server
  (``[instagram_hil] serve_in_api_server``), or ``instagram-hil webhook`` on the same decision store.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, task

from airflow_provider_instagram_hil.notifications.hitl import InstagramHITLNotifier

with DAG(
    dag_id="example_airflow_hitl",
    schedule=None,
    catchup=False,
    tags=["example", "instagram", "human-in-the-loop"],
):
    approve = ApprovalOperator(
        task_id="approve_release",
        subject="Release {{ dag_run.conf.get('version', 'the build') }} to production?",
        body="**Changes:** {{ dag_run.conf.get('changes', 'see the run') }}\n\n"
        "- [Run details]({{ conf.get('api', 'base_url') }}/dags/{{ dag.dag_id }}/runs/{{ run_id }})",
        assigned_users=[{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
        response_timeout=timedelta(hours=8),
        notifiers=[
            InstagramHITLNotifier(
                recipients={
                    "alice": "{{ var.value.instagram_hil_alice_igsid }}",
                    "bob": "{{ var.value.instagram_hil_bob_igsid }}",
                }
            )
        ],
    )

    @task
    def release() -> None:
        print("Releasing")

    approve >> release()
