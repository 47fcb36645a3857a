"""A request follows its task, in a real Airflow deployment (scheduler, triggerer, dag-processor,
api-server; LocalExecutor; SQLite): clearing the waiting task, marking it failed or success, and a new
try each close the old request, and a tap on the old prompt is told why, never "Recorded".

Airflow 3.3 tells the trigger of a user action through ``on_kill``; a retry supersedes the old try's
request when the new try registers its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_instagram_hil.sandbox.airflow_api import wait_until
from airflow_provider_instagram_hil.sandbox.services import AirflowServices
from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.triggers.instagram import STOPPED_IN_AIRFLOW
from airflow_provider_instagram_hil.version_compat import AIRFLOW_V_3_3_PLUS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAGS = Path(__file__).resolve().parent / "lifecycle_dags"
APPROVAL = "lifecycle_approval"
RETRY = "lifecycle_retry"
CANCELLED = f"This request was cancelled ({STOPPED_IN_AIRFLOW}); your answer was not recorded."
REPLACED = "This request was replaced by a newer one: please answer the latest message."


def _request_id(prompt: dict) -> str:
    return prompt["quick_replies"][0]["payload"].split(":")[1]


#: Triggerers heartbeat every second and count as gone after 5 s (Airflow's defaults: 5 s and 30 s), so
#: the take-over test needs no long stall.
TRIGGERER_HEALTH = {
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
}


@pytest.fixture(scope="module")
def stack():
    with AirflowServices(DAGS, poll_interval=0.5, extra_env=TRIGGERER_HEALTH) as services:
        for dag_id in (APPROVAL, RETRY):
            services.admin.wait_for_dag(dag_id)
            services.admin.unpause(dag_id)
        yield services


def _waiting(stack: AirflowServices, dag_id: str = APPROVAL) -> tuple[str, dict]:
    """Start a run; return its id and the prompt once the approval task's trigger runs in the triggerer."""
    before, since = stack.prompt_count(), stack.log_offset("scheduler")
    run_id = stack.admin.trigger_dag_run(dag_id)
    prompt = stack.wait_for_prompt(count=before + 1)
    stack.admin.wait_for_task_state(dag_id, run_id, "approve", {"deferred"})
    stack.wait_until_released(dag_id, run_id, "approve", since=since)
    # Only a trigger that runs can be told of a user action (on_kill).
    wait_until(
        lambda: (
            any("starting" in r["event"] for r in stack.trigger_log_records(dag_id, run_id, "approve"))
            or None
        ),
        60,
        "the trigger to start in the triggerer",
    )
    return run_id, prompt


def _try_waiting(stack: AirflowServices, run_id: str, try_number: int, dag_id: str = APPROVAL) -> None:
    def waiting() -> dict | None:
        ti = stack.admin.task_instance(dag_id, run_id, "approve")
        return ti if (ti["state"], ti["try_number"]) == ("deferred", try_number) else None

    wait_until(waiting, 120, f"try {try_number} to wait for its answer")


def _reply_to_tap(stack: AirflowServices, prompt: dict) -> str:
    """Tap Approve on ``prompt`` as the reviewer; return what the webhook answered in the chat."""
    seen = len(stack.sent_messages())
    assert stack.tap(prompt, "Approve").json()["recorded"] == 0
    (reply,) = [m for m in stack.wait_for_messages(seen + 1)[seen:] if not m["quick_replies"]]
    assert reply["recipient_id"] == stack.reviewer_id
    return str(reply["text"])


def _notice(stack: AirflowServices, seen: int, run_id: str) -> str:
    """Wait for the cancellation notice of ``run_id``'s request after the first ``seen`` messages."""
    text = f"'Ship {run_id}?' was cancelled ({STOPPED_IN_AIRFLOW}); no answer is needed any more."
    count = seen + 1
    while True:  # wait_for_messages raises TimeoutError when no more messages come
        found = [m for m in stack.wait_for_messages(count)[seen:] if m["text"] == text]
        if found:
            assert [m["recipient_id"] for m in found] == [stack.reviewer_id]
            return text
        count += 1


def _closed(stack: AirflowServices, prompt: dict, status: RequestStatus) -> None:
    request = stack.store().get_request(_request_id(prompt))
    assert request is not None
    assert request.status is status
    assert request.responses == ()


needs_on_kill = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="Airflow < 3.3 does not tell a trigger that a user stopped its task"
)


@needs_on_kill
class TestUserActions:
    def test_clear_cancels_the_request_and_the_new_try_asks_again(self, stack):
        run_id, first = _waiting(stack)
        before, seen = stack.prompt_count(), len(stack.sent_messages())

        stack.admin.clear_task_instance(APPROVAL, run_id, "approve")

        second = stack.wait_for_prompt(count=before + 1)
        assert _request_id(second) != _request_id(first)
        _try_waiting(stack, run_id, 2)
        # Closed by the trigger's on_kill, or by the new try if it registered first: told why either way.
        closed = stack.store().get_request(_request_id(first)).status
        assert closed in (RequestStatus.CANCELLED, RequestStatus.SUPERSEDED)
        _closed(stack, first, closed)
        if closed is RequestStatus.CANCELLED:  # the reviewer is told before any tap
            _notice(stack, seen, run_id)
        assert _reply_to_tap(stack, first) == (CANCELLED if closed is RequestStatus.CANCELLED else REPLACED)

    @pytest.mark.parametrize("action", ["mark_failed", "mark_success"])
    def test_marking_the_task_cancels_its_request(self, stack, action):
        run_id, prompt = _waiting(stack)
        seen = len(stack.sent_messages())

        getattr(stack.admin, action)(APPROVAL, run_id, "approve")

        stack.admin.wait_for_task_state(
            APPROVAL, run_id, "approve", {"failed" if action == "mark_failed" else "success"}
        )
        wait_until(
            lambda: stack.store().get_request(_request_id(prompt)).status is RequestStatus.CANCELLED or None,
            60,
            "the request to be cancelled",
        )
        _closed(stack, prompt, RequestStatus.CANCELLED)
        _notice(stack, seen, run_id)  # the reviewer learns it before tapping
        assert _reply_to_tap(stack, prompt) == CANCELLED


class TestRetry:
    def test_a_new_try_supersedes_the_old_request(self, stack):
        before = stack.prompt_count()
        run_id = stack.admin.trigger_dag_run(RETRY)
        first = stack.wait_for_prompt(count=before + 1)
        second = stack.wait_for_prompt(count=before + 2)
        _try_waiting(stack, run_id, 2, RETRY)

        _closed(stack, first, RequestStatus.SUPERSEDED)
        assert _reply_to_tap(stack, first) == REPLACED
        # The new try's request still decides the task.
        stack.wait_until_released(RETRY, run_id, "approve", try_number=2)
        assert stack.tap(second, "Approve").json()["recorded"] == 1
        assert stack.admin.wait_for_dag_run(RETRY, run_id)["state"] == "success"
        # The trigger pushed the result through the Task SDK; on Airflow 3.1 a call from a bare thread
        # read the supervisor's replies out of order and killed the triggerer.
        assert "could not push the result" not in stack.component_log("triggerer")
        assert stack.components["triggerer"].returncode is None


class TestTriggererTakeover:
    def test_a_trigger_another_triggerer_took_over_keeps_its_request(self, stack):
        """A triggerer that stalls past the health threshold loses its triggers to another one; back, it
        cancels its own copies, and Airflow 3.3.2 calls ``on_kill`` for that as for a user action. The
        task still waits, so its request stays open and the reviewer's tap still ends it."""
        run_id, prompt = _waiting(stack)

        def records(event: str) -> list[dict]:
            return [r for r in stack.trigger_log_records(APPROVAL, run_id, "approve") if event in r["event"]]

        first = stack.components["triggerer"]
        second = stack.start_component("triggerer-2", command="triggerer")
        try:
            first.freeze()
            try:
                wait_until(
                    lambda: len(records("starting")) >= 2 or None, 120, "the second triggerer to take over"
                )
            finally:
                first.thaw()
            # The first triggerer finds the trigger gone from its share and cancels its copy.
            wait_until(lambda: records("trigger completed") or None, 60, "the first triggerer's copy to end")
            if AIRFLOW_V_3_3_PLUS:
                assert records("Trigger cancelled by user action, invoking on_kill")
                assert records("its task still waits (the trigger moved to another triggerer)")
            assert stack.store().get_request(_request_id(prompt)).status is RequestStatus.PENDING

            assert stack.tap(prompt, "Approve").json()["recorded"] == 1
            assert stack.admin.wait_for_dag_run(APPROVAL, run_id)["state"] == "success"
        finally:
            second.stop()
            del stack.components["triggerer-2"]
