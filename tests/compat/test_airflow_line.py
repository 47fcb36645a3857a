"""What the installed Airflow line does where the provider depends on it, observed on a real deployment.

The expectations per line are the table in docs/versions.md; ``make matrix`` runs this on 3.1 and 3.2,
``make test`` on 3.3. A failure here means that table (and the code relying on it) is out of date.
"""

from __future__ import annotations

import pytest

from airflow_provider_instagram_hil.version_compat import AIRFLOW_VERSION

from .deployment import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

LINE = AIRFLOW_VERSION.release[:2]
#: Airflow 3.3 awaits ``on_kill()`` when a user action cancels a trigger; 3.1 and 3.2 only call cleanup().
ON_KILL_ON_USER_ACTION = LINE >= (3, 3)
#: Where Airflow's own ApprovalOperator waits: first-class state from 3.3, a deferred HITLTrigger before.
HITL_WAITING_STATE = "awaiting_input" if LINE >= (3, 3) else "deferred"
FROM_TRIGGER = "pushed-by-the-triggerer"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    running = Deployment(tmp_path_factory.mktemp("airflow-line")).start()
    try:
        yield running
    finally:
        running.stop()


class TestTaskEndEvents:
    def test_trigger_ends_the_task_without_a_worker(self, deployment):
        run = deployment.trigger("probe_task_end")
        wanted = {"end_success": {"success"}, "end_failed": {"failed"}, "end_skipped": {"skipped"}}
        deployment.wait_for_states("probe_task_end", run, {t: s | {"failed"} for t, s in wanted.items()})
        states = deployment.wait_for_states("probe_task_end", run, wanted, timeout=5)
        assert states == {"end_success": "success", "end_failed": "failed", "end_skipped": "skipped"}
        xcom = deployment.api(
            "GET", f"/dags/probe_task_end/dagRuns/{run}/taskInstances/end_success/xcomEntries/return_value"
        )
        assert xcom.ok, xcom.text
        assert xcom.json()["value"] in (FROM_TRIGGER, f'"{FROM_TRIGGER}"')


class TestUserActionOnDeferredTask:
    def test_on_kill_and_cleanup(self, deployment):
        dag = "probe_user_action"
        tasks = ["wait_clear", "wait_mark_success", "wait_mark_failed"]
        run = deployment.trigger(dag)
        deployment.wait_for_states(dag, run, {task: {"deferred"} for task in tasks})
        for task in tasks:
            deployment.wait_for_marker(task, "run")

        base = f"/dags/{dag}/dagRuns/{run}/taskInstances"
        for task, state in (("wait_mark_success", "success"), ("wait_mark_failed", "failed")):
            response = deployment.api("PATCH", f"{base}/{task}", json={"new_state": state})
            assert response.ok, response.text
        cleared = deployment.api(
            "POST",
            f"/dags/{dag}/clearTaskInstances",
            json={"dry_run": False, "dag_run_id": run, "task_ids": ["wait_clear"], "only_failed": False},
        )
        assert cleared.ok, cleared.text

        # cleanup() runs after on_kill() (3.3 awaits it first): once cleanup is noted, on_kill had its turn.
        for task in tasks:
            deployment.wait_for_marker(task, "cleanup")
        seen = {task: deployment.marker_lines(task) for task in tasks}
        for task in tasks:
            assert ("on_kill" in seen[task]) is ON_KILL_ON_USER_ACTION, (task, seen[task], LINE)
        assert deployment.task_instance(dag, run, "wait_mark_success")["state"] == "success"
        assert deployment.task_instance(dag, run, "wait_mark_failed")["state"] == "failed"


class TestAirflowHitl:
    def test_approval_operator_waits_and_patch_records_the_user(self, deployment):
        dag = "probe_hitl"
        run = deployment.trigger(dag)
        deployment.wait_for_states(dag, run, {"approve": {HITL_WAITING_STATE}})
        ti = deployment.task_instance(dag, run, "approve")
        trigger = ti.get("trigger") or {}
        if HITL_WAITING_STATE == "deferred":
            assert trigger.get("classpath", "").endswith("triggers.hitl.HITLTrigger"), ti
        else:
            assert not trigger, ti

        # Answer only once the executor has reported the parked workload's end: on 3.3.2 an answer that
        # lands before that event resumes the task, and the late event then fails it ("state changed
        # externally"); a person never answers that fast, a test does.
        deployment.wait_for_log("scheduler", rf"Received executor event .*dag_id='{dag}', task_id='approve'")
        path = f"/dags/{dag}/dagRuns/{run}/taskInstances/approve/-1/hitlDetails"
        detail = deployment.api("GET", path)
        assert detail.ok, detail.text
        assert detail.json()["options"] == ["Approve", "Reject"]
        assert detail.json()["responded_by_user"] is None

        answer = deployment.api("PATCH", path, json={"chosen_options": ["Approve"], "params_input": {}})
        assert answer.ok, answer.text
        responded = answer.json()
        assert responded["chosen_options"] == ["Approve"]
        # The REST caller is recorded: here the simple auth manager's all-admins user.
        assert responded["responded_by"]["name"] == "Anonymous", responded
        again = deployment.api("PATCH", path, json={"chosen_options": ["Reject"], "params_input": {}})
        assert again.status_code == 409, again.text
        deployment.wait_for_states(dag, run, {"approve": {"success"}})
