"""The reviewer's side end to end: `airflow dags test`, the sandbox Graph API standing in for Instagram and
the real `instagram-hil webhook` process; every text a reviewer receives is checked word for word."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_instagram_hil.sandbox.airflow_api import wait_until
from airflow_provider_instagram_hil.sandbox.stack import SandboxStack
from airflow_provider_instagram_hil.store import Delivery, RecipientSpec, RequestStatus
from airflow_provider_instagram_hil.typed_answers import request_code

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAGS = Path(__file__).parent / "reviewer_dags"
BOB = "6200000000000002"
CAROL = "6200000000000003"
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def stack():
    with SandboxStack(DAGS) as running:
        yield running


def _request_id(prompt: dict) -> str:
    return prompt["quick_replies"][0]["payload"].split(":")[1]


def _texts_since(stack: SandboxStack, count: int, seen: int) -> list[tuple[str, str]]:
    """The ``count`` messages after the first ``seen``, as (recipient, text), in any order."""
    messages = stack.wait_for_messages(seen + count)
    return sorted((m["recipient_id"], m["text"]) for m in messages[seen:])


def _prompts(stack: SandboxStack, run_before: int) -> tuple[dict, dict]:
    """Alice's and Bob's prompt of the run started after ``run_before`` prompts."""
    stack.wait_for_prompt(count=run_before + 2)
    prompts = [m for m in stack.sent_messages() if m.get("quick_replies")][run_before:]
    by_recipient = {p["recipient_id"]: p for p in prompts}
    return by_recipient[stack.reviewer_id], by_recipient[BOB]


def _prompt_to(stack: SandboxStack, recipient: str, before: int) -> dict:
    """The first prompt to ``recipient`` after the first ``before`` prompts, waiting for it."""
    count = before + 1
    while True:  # wait_for_prompt raises TimeoutError when no more prompts come
        stack.wait_for_prompt(count=count)
        prompts = [m for m in stack.sent_messages() if m.get("quick_replies")][before:]
        mine = [p for p in prompts if p["recipient_id"] == recipient]
        if mine:
            return mine[0]
        count += 1


class TestTypedAnswers:
    def test_prompt_says_until_when_and_what_then(self, stack):
        before = stack.prompt_count()
        run = stack.start_dag_test("reviewer_side")
        alice, bob = _prompts(stack, before)
        request = stack.store().get_request(_request_id(alice))
        local = request.expires_at.astimezone(BERLIN)
        code = request_code(request.request_id)

        assert (
            alice["text"]
            == bob["text"]
            == (
                "Deploy v2\n\n"
                f"Answer by {local:%a} {local.day} {local:%b} {local:%H:%M} {local:%Z} "
                "(no answer: Reject).\n"
                f"Reply: Approve / Reject (request {code})"
            )
        )

        # Typed on desktop, where no buttons show; Bob learns who decided.
        seen = len(stack.sent_messages())
        assert stack.type_text("approve 👍").status_code == 200
        assert run.wait(timeout=300) == 0, run.output()[-3000:]
        assert _texts_since(stack, 2, seen) == sorted(
            [
                (stack.reviewer_id, "✅ Recorded: Approve. Thank you."),
                (BOB, "'Deploy v2' was answered by alice: Approve."),
            ]
        )
        assert stack.task_states("reviewer_side")["deploy"] == "success"

    def test_two_open_requests_ask_which_one_and_a_reason_is_required(self, stack):
        # Another DAG's request for the same reviewer is open too.
        other, _ = stack.store().register_request(
            dag_id="load_sales",
            run_id="manual__1",
            task_id="approve",
            recipients=[RecipientSpec(stack.reviewer_id, "instagram")],
            options=["Approve", "Reject"],
            expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
            subject="Load sales",
        )
        before = stack.prompt_count()
        run = stack.start_dag_test("reviewer_side")
        alice, _ = _prompts(stack, before)
        mine, theirs = request_code(_request_id(alice)), request_code(other.request_id)

        seen = len(stack.sent_messages())
        stack.type_text("reject")
        assert _texts_since(stack, 1, seen) == [
            (
                stack.reviewer_id,
                f"Which one? Reply \"{theirs} Reject\" for 'Load sales', "
                f"or \"{mine} Reject\" for 'Deploy v2'.",
            )
        ]
        stack.type_text(f"{mine.lower()} reject")
        assert _texts_since(stack, 1, seen + 1) == [
            (
                stack.reviewer_id,
                f"'Deploy v2' needs a reason for Reject: reply \"{mine} Reject: <your reason>\". Nothing was "
                "recorded yet.",
            )
        ]
        assert stack.store().get_request(_request_id(alice)).responses == ()

        stack.type_text(f"{mine} reject: numbers look wrong")
        assert run.wait(timeout=300) == 0, run.output()[-3000:]

        decided = stack.store().get_request(_request_id(alice))
        assert decided.chosen_option == "Reject"
        assert decided.responses[0].reason == "numbers look wrong"
        assert stack.store().get_request(other.request_id).status is RequestStatus.PENDING
        assert stack.task_states("reviewer_side")["deploy"] == "skipped"
        assert sorted(_texts_since(stack, 2, seen + 2)) == sorted(
            [
                (stack.reviewer_id, "✅ Recorded: Reject. Thank you."),
                (BOB, "'Deploy v2' was answered by alice: Reject."),
            ]
        )


class TestTimeout:
    def test_everyone_learns_which_default_applied(self, stack):
        before = stack.prompt_count()
        run = stack.start_dag_test("reviewer_side_timeout")
        alice, _ = _prompts(stack, before)
        seen = len(stack.sent_messages())

        assert run.wait(timeout=300) == 0, run.output()[-3000:]

        request = stack.store().get_request(_request_id(alice))
        assert (request.timed_out, request.chosen_option) == (True, "Reject")
        local = request.expires_at.astimezone(BERLIN)
        notice = (
            f"'Deploy v2' got no answer by {local:%H:%M} {local:%Z} on {local:%a} {local.day} {local:%b}: "
            "the default, Reject, applied."
        )
        assert _texts_since(stack, 2, seen) == sorted([(stack.reviewer_id, notice), (BOB, notice)])


class TestFollowUps:
    def test_a_reminder_then_the_backup_is_asked_and_decides(self, stack):
        before = stack.prompt_count()
        seen = len(stack.sent_messages())
        run = stack.start_dag_test("reviewer_follow_up")
        alice, _ = _prompts(stack, before)
        code = request_code(_request_id(alice))

        # Two seconds on: both reviewers are reminded, with the buttons again; five seconds on, Carol gets
        # the prompt (on a slow machine one wake may send both, reminders first).
        carol = _prompt_to(stack, CAROL, before)
        messages = stack.sent_messages()[seen:]
        reminders = [m for m in messages if m["text"].startswith("Reminder:")]
        assert sorted(m["recipient_id"] for m in reminders) == sorted([stack.reviewer_id, BOB])
        assert reminders[0]["text"].startswith("Reminder: 'Deploy v2' still needs your answer, by ")
        assert reminders[0]["text"].endswith(f"\nReply: Approve / Reject (request {code})")
        assert carol["recipient_id"] == CAROL
        assert carol["text"].startswith("Deploy v2\n")

        seen = len(stack.sent_messages())
        assert stack.tap(carol, "Approve", sender_id=CAROL).status_code == 200
        assert run.wait(timeout=300) == 0, run.output()[-3000:]

        request = stack.store().get_request(_request_id(alice))
        assert (request.chosen_option, request.responded_by) == ("Approve", CAROL)
        assert request.recipient(CAROL).role.value == "escalation"
        notice = "'Deploy v2' was answered by carol: Approve."
        assert _texts_since(stack, 3, seen) == sorted(
            [(CAROL, "✅ Recorded: Approve. Thank you."), (stack.reviewer_id, notice), (BOB, notice)]
        )


class TestDeliverOnNextContact:
    def test_a_prompt_refused_outside_the_window_goes_out_when_the_reviewer_writes(self, stack):
        alice = stack.reviewer_id
        store = stack.store()
        stack.set_window(alice, open_=False)
        try:
            before = stack.prompt_count()
            run = stack.start_dag_test("reviewer_window")

            def kept():
                found = store.maintenance.list_requests(dag_id="reviewer_window", status="pending", limit=1)
                request = store.get_request(found[0].request_id) if found else None
                return request if request and request.recipient(alice).delivery is Delivery.WAITING else None

            request = wait_until(kept, 120, "the refused prompt to be kept")
            assert stack.prompt_count() == before  # Meta refused it: nothing reached Alice
        finally:
            stack.set_window(alice, open_=True)

        assert stack.type_text("hi, anything for me?").status_code == 200  # writing opens the window

        prompt = stack.wait_for_prompt(count=before + 1)
        assert prompt["recipient_id"] == alice
        assert _request_id(prompt) == request.request_id
        assert prompt["text"].startswith("Deploy v2\n")
        assert stack.tap(prompt, "Approve").status_code == 200
        assert run.wait(timeout=300) == 0, run.output()[-3000:]

        decided = store.get_request(request.request_id)
        assert (decided.chosen_option, decided.responded_by) == ("Approve", alice)
        assert decided.recipient(alice).delivery is Delivery.SENT
        assert "is kept and goes out when they next write" in run.output()
