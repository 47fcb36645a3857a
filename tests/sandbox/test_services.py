"""A real Airflow deployment on loopback (scheduler, triggerer, dag-processor, api-server; LocalExecutor).

Two stacks: SQLite with the standalone webhook and the all-admins token; PostgreSQL (Airflow's database
and the decision store) with the webhook mounted in the API server and named users. DAGs are in
``tests/sandbox/dags``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_provider_instagram_hil.sandbox.airflow_api import AirflowApiError
from airflow_provider_instagram_hil.sandbox.services import AirflowServices, temporary_postgres_database
from airflow_provider_instagram_hil.store import RequestStatus

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAGS = Path(__file__).resolve().parent / "dags"
TRIVIAL = "services_trivial"
APPROVAL = "services_approval"
NATIVE = "services_native_approval"
TRIGGER_CLASS = "airflow_provider_instagram_hil.triggers.instagram.InstagramDecisionTrigger"


def _request_id(prompt: dict) -> str:
    return prompt["quick_replies"][0]["payload"].split(":")[1]


def _start_approval(stack: AirflowServices, dag_id: str = APPROVAL) -> tuple[str, dict]:
    """Trigger a run of the approval DAG; return its run id and the prompt once the task is deferred."""
    api = stack.admin
    api.wait_for_dag(dag_id)
    api.unpause(dag_id)
    before, since = stack.prompt_count(), stack.log_offset("scheduler")
    run_id = api.trigger_dag_run(dag_id)
    prompt = stack.wait_for_prompt(count=before + 1)
    ti = api.wait_for_task_state(dag_id, run_id, "approve", {"deferred"})
    assert ti["trigger"]["classpath"] == TRIGGER_CLASS
    assert stack.wait_until_released(dag_id, run_id, "approve", since=since) == "deferred"
    return run_id, prompt


@pytest.fixture(scope="module")
def services():
    with AirflowServices(DAGS, poll_interval=0.5) as stack:
        yield stack


@pytest.fixture(scope="module")
def pg_services():
    url = os.environ.get("INSTAGRAM_HIL_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("needs INSTAGRAM_HIL_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    with (
        temporary_postgres_database(url) as database_url,
        AirflowServices(
            DAGS,
            database_url=database_url,
            store_url=database_url,
            webhook="api-server",
            poll_interval=0.5,
            users={"alice": "admin", "victor": "viewer"},
        ) as stack,
    ):
        yield stack


class TestStartup:
    def test_every_component_is_healthy_on_its_own_ports(self, services):
        health = services.admin.health()
        for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
            assert health[part]["status"] == "healthy", part
        env = services.env()
        log_ports = {
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"],
            env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"],
        }
        assert len(log_ports) == 2
        assert not log_ports & {"8793", "8794"}
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"{services.api_url}/execution/"
        assert {name: proc.returncode for name, proc in services.components.items()} == {
            "api-server": None,
            "scheduler": None,
            "dag-processor": None,
            "triggerer": None,
        }

    def test_standalone_webhook_answers_the_handshake(self, services):
        assert services.webhook is not None
        assert services.webhook_url.startswith("http://127.0.0.1:")
        assert services.handshake()


class TestScheduler:
    def test_trivial_dag_runs_to_success(self, services):
        api = services.admin
        api.wait_for_dag(TRIVIAL)
        api.unpause(TRIVIAL)
        run_id = api.trigger_dag_run(TRIVIAL)
        assert api.wait_for_dag_run(TRIVIAL, run_id)["state"] == "success"
        times = api.task_times(TRIVIAL, run_id, "hello")
        assert times.state == "success"
        assert times.try_number == 1
        assert times.queued is not None
        assert times.start is not None
        assert times.end is not None
        assert times.queued <= times.start <= times.end
        assert api.task_instance(TRIVIAL, run_id, "hello")["executor"] in (None, "LocalExecutor")
        assert services.task_states(TRIVIAL) == {"hello": "success"}


class TestApprovalWithRealTriggerer:
    def test_signed_tap_resumes_the_deferred_task(self, services):
        run_id, prompt = _start_approval(services)
        response = services.tap(prompt, "Approve")
        assert response.status_code == 200
        api = services.admin
        assert api.wait_for_dag_run(APPROVAL, run_id)["state"] == "success"
        assert services.task_states(APPROVAL, run_id) == {"approve": "success", "after": "success"}
        request = services.store().get_request(_request_id(prompt))
        assert request is not None
        assert request.status is RequestStatus.DECIDED
        assert request.responded_by == services.reviewer_id
        # Only the real triggerer writes trigger logs: the approval ended there, after the commit, saying who
        # decided, with no worker started to resume it.
        records = services.trigger_log_records(APPROVAL, run_id, "approve")
        fired = [r for r in records if r["event"] == "Trigger fired event"]
        assert len(fired) == 1
        assert fired[0]["result"] == "TriggerEvent<'success'>"
        decided = f"Request {_request_id(prompt)}: 'Approve' chosen by recipient {services.reviewer_id}"
        assert [r["event"] for r in records if r["event"].startswith("Request ")] == [decided]
        assert request.responded_at is not None
        approve = api.task_times(APPROVAL, run_id, "approve")
        after = api.task_times(APPROVAL, run_id, "after")
        assert approve.end is not None
        assert after.start is not None
        # Ended by the trigger: no second scheduling of the approval task, just its end after the tap.
        assert approve.scheduled < request.responded_at <= approve.end <= after.start

    def test_clear_gives_a_new_try_that_a_new_tap_resumes(self, services):
        run_id, first = _start_approval(services)
        api = services.admin
        prompts = services.prompt_count()
        cleared = api.clear_task_instance(APPROVAL, run_id, "approve")
        assert [ti["task_id"] for ti in cleared] == ["approve"]
        second = services.wait_for_prompt(count=prompts + 1)
        assert _request_id(second) != _request_id(first)
        ti = api.wait_for_task_state(APPROVAL, run_id, "approve", {"deferred"})
        assert ti["try_number"] == 2
        services.wait_until_released(APPROVAL, run_id, "approve", try_number=2)
        assert services.tap(second, "Approve").status_code == 200
        assert api.wait_for_dag_run(APPROVAL, run_id)["state"] == "success"

    def test_mark_failed_ends_the_wait(self, services):
        run_id, _prompt = _start_approval(services)
        api = services.admin
        api.mark_failed(APPROVAL, run_id, "approve")
        assert api.wait_for_task_state(APPROVAL, run_id, "approve", {"failed"})["state"] == "failed"
        assert api.wait_for_dag_run(APPROVAL, run_id, {"failed"})["state"] == "failed"
        with pytest.raises(AirflowApiError, match="ended failed"):
            api.wait_for_task_state(APPROVAL, run_id, "approve", {"success"}, timeout=5)

    def test_mark_success_ends_the_wait_and_runs_downstream(self, services):
        run_id, _prompt = _start_approval(services)
        api = services.admin
        api.mark_success(APPROVAL, run_id, "approve")
        assert api.wait_for_task_state(APPROVAL, run_id, "approve", {"success"})["state"] == "success"
        api.wait_for_dag_run(APPROVAL, run_id, {"success", "failed"})
        # The scheduler moved on from the waiting task and ran ``after`` (which then finds no decision in
        # XCom: a marked task pushed none).
        assert api.task_times(APPROVAL, run_id, "after").start is not None


@pytest.mark.postgres
class TestPostgresWithWebhookInApiServer:
    def test_stack_uses_postgres_and_mounts_the_webhook(self, pg_services):
        env = pg_services.env()
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
        assert pg_services.webhook is None
        assert pg_services.webhook_url == f"{pg_services.api_url}/instagram-hil/webhooks/instagram"
        assert pg_services.handshake()

    def test_tap_through_the_api_server_resumes_the_task(self, pg_services):
        run_id, prompt = _start_approval(pg_services)
        assert pg_services.tap(prompt, "Approve").status_code == 200
        assert pg_services.admin.wait_for_dag_run(APPROVAL, run_id)["state"] == "success"
        request = pg_services.store().get_request(_request_id(prompt))
        assert request is not None
        assert request.chosen_option == "Approve"

    def test_native_approval_answered_through_hitl_details(self, pg_services):
        api = pg_services.api("alice")
        api.wait_for_dag(NATIVE)
        api.unpause(NATIVE)
        since = pg_services.log_offset("scheduler")
        run_id = api.trigger_dag_run(NATIVE)
        api.wait_for_task_state(NATIVE, run_id, "approve", {"awaiting_input", "deferred"})
        released = pg_services.wait_until_released(NATIVE, run_id, "approve", since=since)
        assert released in ("awaiting_input", "deferred")
        pending = api.hitl_details(NATIVE, run_id)
        assert [d["task_instance"]["task_id"] for d in pending] == ["approve"]
        assert pending[0]["response_received"] is False
        answered = api.answer_hitl(NATIVE, run_id, "approve", ["Approve"])
        assert answered["chosen_options"] == ["Approve"]
        assert answered["responded_by"]["name"] == "alice"
        with pytest.raises(AirflowApiError) as second:
            api.answer_hitl(NATIVE, run_id, "approve", ["Reject"])
        assert second.value.status == 409
        assert api.wait_for_dag_run(NATIVE, run_id)["state"] == "success"
        assert api.hitl_detail(NATIVE, run_id, "approve")["chosen_options"] == ["Approve"]
        assert api.task_states(NATIVE, run_id) == {"approve": "success", "after_native": "success"}

    def test_a_viewer_cannot_mark_a_task(self, pg_services):
        run_id, _prompt = _start_approval(pg_services)
        with pytest.raises(AirflowApiError) as refused:
            pg_services.api("victor").mark_failed(APPROVAL, run_id, "approve")
        assert refused.value.status == 403
        assert pg_services.admin.task_instance(APPROVAL, run_id, "approve")["state"] == "deferred"
        pg_services.admin.mark_failed(APPROVAL, run_id, "approve")
