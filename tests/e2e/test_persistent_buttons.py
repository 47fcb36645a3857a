"""Instagram's persistent buttons end to end: `airflow dags test`, the sandbox Graph API standing in for
Instagram and the real `instagram-hil webhook` process. The prompt is a button template; the reviewer writes
something else first (which would make quick replies vanish), then taps a button, and the task goes on."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

import pytest

from airflow_provider_instagram_hil.payloads import decode_payload
from airflow_provider_instagram_hil.sandbox.stack import SandboxStack
from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.typed_answers import request_code

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAGS = Path(__file__).parent / "buttons_dags"


@pytest.fixture(scope="module")
def stack():
    with SandboxStack(DAGS) as running:
        yield running


def test_the_buttons_stay_tappable_after_the_reviewer_writes(stack):
    run = stack.start_dag_test("persistent_buttons")
    prompt = stack.wait_for_prompt(channel="instagram")

    assert (prompt["recipient_id"], prompt["kind"]) == (stack.reviewer_id, "button_template")
    assert prompt["quick_replies"] == []
    assert [o["title"] for o in prompt["options"]] == ["Approve", "Reject"]
    request_id = decode_payload(prompt["options"][0]["payload"]).request_id
    expires = stack.store().get_request(request_id).expires_at.astimezone(timezone.utc)
    # The options line stays: Instagram's desktop and web apps show no buttons, and reviewers type there.
    assert prompt["text"] == (
        "Deploy v2\n\n"
        f"Answer by {expires:%a} {expires.day} {expires:%b} {expires:%H:%M} UTC "
        "(no answer: the task fails).\n"
        f"Reply: Approve / Reject (request {request_code(request_id)})"
    )

    # The reviewer writes something else first: it answers nothing, and they get a hint.
    seen = len(stack.sent_messages())
    assert stack.type_text("Looking at it now, one sec").status_code == 200
    hint = stack.wait_for_messages(seen + 1)[seen]
    assert (hint["recipient_id"], hint["text"]) == (
        stack.reviewer_id,
        "To answer 'Deploy v2', reply with one of: 1 Approve / 2 Reject.",
    )
    assert stack.store().get_request(request_id).responses == ()

    # Then taps the template's button, still there: an Instagram postback.
    assert stack.tap(prompt, "Approve").status_code == 200
    assert run.wait(timeout=300) == 0, run.output()[-3000:]

    request = stack.store().get_request(request_id)
    assert (request.status, request.chosen_option, request.responded_by) == (
        RequestStatus.DECIDED,
        "Approve",
        stack.reviewer_id,
    )
    assert [r.channel for r in request.responses] == ["instagram"]
    reply = stack.wait_for_messages(seen + 2)[seen + 1]
    assert (reply["recipient_id"], reply["text"]) == (stack.reviewer_id, "✅ Recorded: Approve. Thank you.")
    states = stack.task_states("persistent_buttons")
    assert (states["approve"], states["deploy"]) == ("success", "success")
