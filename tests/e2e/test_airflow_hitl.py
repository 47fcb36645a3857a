"""Airflow's own human-in-the-loop operators answered from Instagram, in a real Airflow deployment
(api-server, scheduler, dag-processor, triggerer; LocalExecutor) with simple-auth-manager users, the
webhook mounted in the API server or standalone.

``ApprovalOperator`` and ``HITLBranchOperator`` carry the ``InstagramHITLNotifier``; a tap goes through
the webhook's bridge into ``hitlDetails`` as the reviewer's Airflow user, and Airflow resumes the task by
its own mechanism (``awaiting_input`` on 3.3, ``HITLTrigger`` on 3.1 and 3.2). First answer wins across
the chat and Airflow; an Airflow outage during a tap loses nothing and applies nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_instagram_hil.sandbox.airflow_api import AirflowApiError
from airflow_provider_instagram_hil.sandbox.reviewer import post_signed, quick_reply_event
from airflow_provider_instagram_hil.sandbox.services import AirflowServices
from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.version_compat import AIRFLOW_V_3_3_PLUS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

DAGS = Path(__file__).resolve().parent / "hitl_dags"
APPROVAL, BRANCH = "hitl_approval", "hitl_branch"
USERS = {"admin": "admin", "alice": "user", "bob": "user"}
BOB, MALLORY, STRANGER = "17841400000000777", "17841400000000666", "17841499999999999"
WAITING = {"awaiting_input"} if AIRFLOW_V_3_3_PLUS else {"deferred"}
NOT_YOURS = "This request is not assigned to you."


def _recorded(option: str) -> str:
    return f"✅ Recorded: {option}. Thank you."


@pytest.fixture(scope="module")
def stack():
    """One Airflow deployment with the webhook mounted in its API server (no bridge credentials)."""
    with AirflowServices(DAGS, users=USERS, webhook="api-server") as services:
        for dag_id in (APPROVAL, BRANCH):
            services.admin.wait_for_dag(dag_id)
            services.admin.unpause(dag_id)
        yield services


@contextmanager
def standalone_webhook(stack: AirflowServices) -> Iterator[None]:
    """Taps go to ``instagram-hil webhook`` (its own process, Airflow's configuration) meanwhile."""
    mounted = stack.webhook_url
    stack.webhook_url = ""
    try:
        stack.start_webhook()
        yield
    finally:
        if stack.webhook is not None:
            stack.webhook.stop()
            stack.webhook = None
        stack.webhook_url = mounted


def _asked(stack: AirflowServices, dag_id: str, task_id: str, reviewers: int) -> tuple[str, dict[str, dict]]:
    """Start a run; once its task waits for an answer, return the run id and each reviewer's prompt.

    Waits until the scheduler saw the parking worker exit: Airflow 3.3.2 fails a task answered before
    that (see ``AirflowServices.wait_until_released``), whoever answers.
    """
    before, since = stack.prompt_count(), stack.log_offset("scheduler")
    run_id = stack.admin.trigger_dag_run(dag_id)
    stack.wait_for_prompt(count=before + reviewers)
    prompts = [m for m in stack.sent_messages() if m.get("quick_replies")][before:]
    stack.admin.wait_for_task_state(dag_id, run_id, task_id, WAITING)
    stack.wait_until_released(dag_id, run_id, task_id, since=since)
    return run_id, {m["recipient_id"]: m for m in prompts}


def _event(prompt: dict, option: str, sender_id: str, mid: str | None = None) -> dict[str, Any]:
    payload = next(r["payload"] for r in prompt["quick_replies"] if r["title"] == option)
    return quick_reply_event(payload, sender_id=sender_id, title=option, mid=mid)


def _deliver(stack: AirflowServices, event: dict[str, Any]) -> requests.Response:
    return post_signed(stack.webhook_url, event, stack.app_secret)


def _tap(stack: AirflowServices, prompt: dict, option: str, sender_id: str | None = None) -> str:
    """Tap ``option`` as ``sender_id`` (the reviewer by default), delivered again after a 5xx as Meta
    does (Airflow's SQLite database may be locked for a moment); return the webhook's reply in the chat."""
    sender_id = sender_id or stack.reviewer_id
    seen = len(stack.sent_messages())
    event = _event(prompt, option, sender_id)
    for _ in range(10):
        answer = _deliver(stack, event)
        if answer.status_code < 500:
            break
        time.sleep(1)  # Meta's redelivery delay
    assert answer.status_code == 200, answer.text
    return _reply_since(stack, seen, sender_id)


def _reply_since(stack: AirflowServices, seen: int, recipient_id: str) -> str:
    """The one reply to ``recipient_id`` after the first ``seen`` messages (the other reviewers may be
    told of the close first)."""
    count = seen + 1
    while True:  # wait_for_messages raises TimeoutError when no more messages come
        mine = [
            m
            for m in stack.wait_for_messages(count)[seen:]
            if not m["quick_replies"] and m["recipient_id"] == recipient_id
        ]
        if mine:
            (reply,) = mine
            return str(reply["text"])
        count += 1


def _request_id(prompt: dict) -> str:
    return str(prompt["quick_replies"][0]["payload"].split(":")[1])


def _assert_answered(
    stack: AirflowServices, run_id: str, task_id: str, user: str, option: str, dag_id=APPROVAL
):
    detail = stack.admin.hitl_detail(dag_id, run_id, task_id)
    assert detail["response_received"] is True
    assert detail["responded_by_user"] == {"id": user, "name": user}
    assert detail["chosen_options"] == [option]


class TestTapsAnswerAirflow:
    def test_a_tap_resumes_the_task_and_airflow_records_the_reviewer(self, stack):
        run_id, prompts = _asked(stack, APPROVAL, "approve", reviewers=2)

        assert set(prompts) == {stack.reviewer_id, BOB}  # assigned and mapped; never mallory
        text = prompts[stack.reviewer_id]["text"]
        assert text.startswith(f"Ship {run_id}?\n\nRows: 1,204\n\n• see the diff (https://example.test/diff)")
        assert [r["title"] for r in prompts[BOB]["quick_replies"]] == ["Approve", "Reject"]
        (listed,) = [d for d in stack.admin.hitl_details(APPROVAL, run_id)]
        assert listed["response_received"] is False

        assert _tap(stack, prompts[stack.reviewer_id], "Approve") == _recorded("Approve")

        assert stack.admin.wait_for_dag_run(APPROVAL, run_id)["state"] == "success"
        assert stack.admin.task_states(APPROVAL, run_id) == {"approve": "success", "ship": "success"}
        _assert_answered(stack, run_id, "approve", "alice", "Approve")
        request = stack.store().get_request(_request_id(prompts[BOB]))
        assert (request.status, request.responded_by) == (RequestStatus.DECIDED, stack.reviewer_id)

    def test_a_branch_is_chosen_with_a_tap(self, stack):
        run_id, prompts = _asked(stack, BRANCH, "choose", reviewers=1)

        assert _tap(stack, prompts[stack.reviewer_id], "us") == _recorded("us")

        ended = stack.admin.wait_for_dag_run(BRANCH, run_id, ("success", "failed"))
        assert stack.admin.task_states(BRANCH, run_id) == {
            "choose": "success",
            "eu": "skipped",
            "us": "success",
        }
        assert ended["state"] == "success"
        _assert_answered(stack, run_id, "choose", "alice", "us", dag_id=BRANCH)


class TestFirstAnswerWins:
    def test_answered_in_airflow_first_a_later_tap_is_told_by_whom(self, stack):
        run_id, prompts = _asked(stack, APPROVAL, "approve", reviewers=2)

        stack.api("bob").answer_hitl(APPROVAL, run_id, "approve", ["Reject"])

        reply = _tap(stack, prompts[stack.reviewer_id], "Approve")
        assert reply == "This request was already answered in Airflow by bob: Reject."
        stack.admin.wait_for_dag_run(APPROVAL, run_id)
        assert stack.admin.task_states(APPROVAL, run_id) == {"approve": "success", "ship": "skipped"}
        _assert_answered(stack, run_id, "approve", "bob", "Reject")

    def test_tapped_first_the_required_actions_page_sees_it_answered(self, stack):
        run_id, prompts = _asked(stack, APPROVAL, "approve", reviewers=2)

        assert _tap(stack, prompts[BOB], "Reject", sender_id=BOB) == _recorded("Reject")

        with pytest.raises(AirflowApiError) as conflict:
            stack.api("alice").answer_hitl(APPROVAL, run_id, "approve", ["Approve"])
        assert conflict.value.status == 409
        _assert_answered(stack, run_id, "approve", "bob", "Reject")
        stack.admin.wait_for_dag_run(APPROVAL, run_id)
        assert stack.admin.task_states(APPROVAL, run_id)["ship"] == "skipped"

    def test_senders_not_mapped_to_an_assigned_user_are_refused(self, stack):
        run_id, prompts = _asked(stack, APPROVAL, "approve", reviewers=2)
        prompt = prompts[stack.reviewer_id]

        assert _tap(stack, prompt, "Approve", sender_id=MALLORY) == NOT_YOURS
        assert _tap(stack, prompt, "Approve", sender_id=STRANGER) == NOT_YOURS

        assert stack.admin.hitl_detail(APPROVAL, run_id, "approve")["response_received"] is False
        assert stack.admin.task_instance(APPROVAL, run_id, "approve")["state"] in WAITING
        assert _tap(stack, prompt, "Approve") == _recorded("Approve")  # the task still answers
        assert stack.admin.wait_for_dag_run(APPROVAL, run_id)["state"] == "success"


class TestStandaloneWebhook:
    """``instagram-hil webhook`` in its own process signs the reviewer's token with Airflow's settings."""

    def test_a_tap_answers_as_the_reviewer(self, stack):
        run_id, prompts = _asked(stack, APPROVAL, "approve", reviewers=2)

        with standalone_webhook(stack):
            assert _tap(stack, prompts[BOB], "Approve", sender_id=BOB) == _recorded("Approve")

        assert stack.admin.wait_for_dag_run(APPROVAL, run_id)["state"] == "success"
        _assert_answered(stack, run_id, "approve", "bob", "Approve")

    def test_a_tap_during_an_airflow_outage_lands_once_when_airflow_is_back(self, stack):
        run_id, prompts = _asked(stack, APPROVAL, "approve", reviewers=2)
        prompt = prompts[stack.reviewer_id]
        event = _event(prompt, "Approve", stack.reviewer_id, mid="aWdfZAG1faXRlbToxOklHoutage0001")

        with standalone_webhook(stack):
            seen = len(stack.sent_messages())
            stack.components["api-server"].stop()
            try:
                refused = _deliver(stack, event)
            finally:
                stack.start_component("api-server")
                stack.wait_healthy()

            assert refused.status_code == 503
            assert stack.store().get_request(_request_id(prompt)).responses == ()
            for _ in range(2):  # Meta's redelivery, then a duplicate of it
                answer = _deliver(stack, event)
                assert answer.status_code == 200, answer.text

            assert _reply_since(stack, seen, stack.reviewer_id) == _recorded("Approve")
        assert len(stack.store().get_request(_request_id(prompt)).responses) == 1
        assert stack.admin.wait_for_dag_run(APPROVAL, run_id)["state"] == "success"
        _assert_answered(stack, run_id, "approve", "alice", "Approve")
