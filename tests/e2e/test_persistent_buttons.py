"""Instagram's persistent buttons end to end: `airflow dags test`, the sandbox Graph API standing in for
Instagram and the real `instagram-hil webhook` process. The prompt is a button template; the reviewer writes
something else first (which would make quick replies vanish), then taps a button, and the task goes on. A
prompt kept for a reviewer outside the messaging window goes out as a button template too."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

import pytest

from airflow_provider_instagram_hil.payloads import decode_payload
from airflow_provider_instagram_hil.sandbox.airflow_api import wait_until
from airflow_provider_instagram_hil.sandbox.stack import SandboxStack
from airflow_provider_instagram_hil.store import Delivery, RequestStatus
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


def test_a_prompt_kept_outside_the_window_goes_out_with_persistent_buttons(stack):
    reviewer, store = stack.reviewer_id, stack.store()
    stack.set_window(reviewer, open_=False)
    try:
        before = stack.prompt_count()
        run = stack.start_dag_test("persistent_buttons_wait")

        def kept():
            found = store.maintenance.list_requests(
                dag_id="persistent_buttons_wait", status="pending", limit=1
            )
            request = store.get_request(found[0].request_id) if found else None
            return request if request and request.recipient(reviewer).delivery is Delivery.WAITING else None

        request = wait_until(kept, 120, "the refused prompt to be kept")
        assert stack.prompt_count() == before  # Meta refused it
    finally:
        stack.set_window(reviewer, open_=True)

    assert stack.type_text("hi").status_code == 200  # writing opens the window: the kept prompt goes out

    prompt = stack.wait_for_prompt(count=before + 1)
    assert (prompt["recipient_id"], prompt["kind"]) == (reviewer, "button_template")
    assert prompt["quick_replies"] == []
    assert decode_payload(prompt["options"][0]["payload"]).request_id == request.request_id
    assert prompt["text"].startswith("Deploy v3\n")
    assert stack.tap(prompt, "Approve").status_code == 200
    assert run.wait(timeout=300) == 0, run.output()[-3000:]
    assert store.get_request(request.request_id).chosen_option == "Approve"
