"""Messenger and WhatsApp end to end: `airflow dags test` on each channel's example DAG, the sandbox Graph
API (Page Send API, WhatsApp Cloud API with status callbacks), the real `instagram-hil webhook` process
and signed taps in each channel's webhook shape, over loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_instagram_hil.sandbox.stack import TEMPLATE_NAME, SandboxStack
from airflow_provider_instagram_hil.store import Delivery, RequestStatus

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
APPROVAL_TASK = "approve_publish"
DOWNSTREAM_TASK = "publish"
MASKED_SECRET = "DE89-3704-0044-0532-0130-00"
CONCEALED_SECRET = "s3cr3t-bucket-signing-key-77"
DAGS = {"messenger": "example_messenger_approval", "whatsapp": "example_whatsapp_approval"}
CHANNELS = [pytest.param("messenger", id="messenger"), pytest.param("whatsapp", id="whatsapp")]
#: How each channel shows two options.
KINDS = {"messenger": "button_template", "whatsapp": "interactive_button"}
STRANGERS = {"messenger": "7199999999999999", "whatsapp": "15550199999"}


@pytest.fixture(scope="module")
def stack():
    env = {
        "AIRFLOW_VAR_INSTAGRAM_HIL_PAYOUT_IBAN": MASKED_SECRET,
        "AIRFLOW_VAR_INSTAGRAM_HIL_SIGNING_KEY": CONCEALED_SECRET,
    }
    with SandboxStack(REPO / "example_dags", extra_env=env) as running:
        yield running


def _request_id(prompt: dict) -> str:
    return prompt["options"][0]["payload"].split(":")[1]


def _start(stack: SandboxStack, channel: str, env: dict[str, str] | None = None):
    before = stack.prompt_count(channel)
    run = stack.start_dag_test(DAGS[channel], env=env)
    return run, stack.wait_for_prompt(count=before + 1, channel=channel)


class TestChannelFlow:
    @pytest.mark.parametrize("channel", CHANNELS)
    def test_approve_runs_downstream(self, stack, channel):
        run, prompt = _start(stack, channel)
        reviewer = stack.reviewer_of(channel)
        assert (prompt["recipient_id"], prompt["kind"]) == (reviewer, KINDS[channel])
        assert [o["title"] for o in prompt["options"]] == ["Approve", "Reject"]
        assert "Payout IBAN: ••••••••" in prompt["text"]
        assert MASKED_SECRET not in prompt["text"]
        assert CONCEALED_SECRET not in prompt["text"]

        assert stack.tap(prompt, "Approve").status_code == 200
        assert run.wait(timeout=300) == 0, run.output()[-3000:]

        request = stack.store().get_request(_request_id(prompt))
        assert (request.status, request.chosen_option, request.responded_by) == (
            RequestStatus.DECIDED,
            "Approve",
            reviewer,
        )
        (response,) = request.responses
        assert response.channel == channel
        states = stack.task_states(DAGS[channel])
        assert (states[APPROVAL_TASK], states[DOWNSTREAM_TASK]) == ("success", "success")
        (recipient,) = request.recipients
        assert recipient.channel == channel
        if channel == "whatsapp":  # the sandbox's signed status callbacks reached the webhook
            assert recipient.delivery is Delivery.DELIVERED
        replies = [m for m in stack.sent_messages(channel) if not m["options"]]
        assert any(
            m["text"] == "✅ Recorded: Approve. Thank you." and m["recipient_id"] == reviewer for m in replies
        )

    @pytest.mark.parametrize("channel", CHANNELS)
    def test_tap_from_someone_else_is_refused_then_reviewer_rejects(self, stack, channel):
        run, prompt = _start(stack, channel)
        assert stack.tap(prompt, "Approve", sender_id=STRANGERS[channel]).status_code == 200
        request = stack.store().get_request(_request_id(prompt))
        assert request.status is RequestStatus.PENDING
        assert stack.tap(prompt, "Reject").status_code == 200
        assert run.wait(timeout=300) == 0, run.output()[-3000:]

        request = stack.store().get_request(_request_id(prompt))
        assert (request.chosen_option, request.responded_by) == ("Reject", stack.reviewer_of(channel))
        assert stack.task_states(DAGS[channel])[DOWNSTREAM_TASK] == "skipped"
        told = [m for m in stack.sent_messages(channel) if m["recipient_id"] == STRANGERS[channel]]
        assert [m["text"] for m in told] == ["This request is not assigned to you."]

    @pytest.mark.parametrize("channel", CHANNELS)
    def test_timeout_with_default_applies_it(self, stack, channel):
        env = {
            "AIRFLOW_VAR_INSTAGRAM_HIL_RESPONSE_TIMEOUT_SECONDS": "3",
            "AIRFLOW_VAR_INSTAGRAM_HIL_DEFAULT_OPTION": "Reject",
        }
        run, prompt = _start(stack, channel, env)
        assert run.wait(timeout=300) == 0, run.output()[-3000:]
        request = stack.store().get_request(_request_id(prompt))
        assert (request.timed_out, request.chosen_option) == (True, "Reject")
        assert stack.task_states(DAGS[channel])[DOWNSTREAM_TASK] == "skipped"
        assert stack.tap(prompt, "Approve").status_code == 200  # late: refused, nothing changes
        assert stack.store().get_request(_request_id(prompt)).chosen_option == "Reject"

    @pytest.mark.parametrize("channel", CHANNELS)
    def test_timeout_without_default_fails_naming_the_reviewer(self, stack, channel):
        run, prompt = _start(stack, channel, {"AIRFLOW_VAR_INSTAGRAM_HIL_RESPONSE_TIMEOUT_SECONDS": "3"})
        run.wait(timeout=300)
        request = stack.store().get_request(_request_id(prompt))
        assert (request.status, request.timed_out) == (RequestStatus.EXPIRED, True)
        assert stack.task_states(DAGS[channel])[APPROVAL_TASK] == "failed"
        assert stack.reviewer_of(channel) in run.output()


class TestWhatsAppWindow:
    """Outside the 24-hour window the Cloud API accepts the interactive prompt, then reports it failed
    (131047) in a status callback; the operator hears of it through the webhook and the store."""

    @pytest.fixture
    def closed_window(self, stack):
        reviewer = stack.reviewer_of("whatsapp")
        stack.set_window(reviewer, open_=False)
        yield reviewer
        stack.set_window(reviewer, open_=True)

    def test_template_fallback_then_approval(self, stack, closed_window):
        before = stack.prompt_count("whatsapp")
        run = stack.start_dag_test(
            DAGS["whatsapp"], env={"AIRFLOW_VAR_INSTAGRAM_HIL_WHATSAPP_TEMPLATE": TEMPLATE_NAME}
        )
        interactive = stack.wait_for_prompt(count=before + 1, channel="whatsapp")
        template = stack.wait_for_prompt(count=before + 2, channel="whatsapp")
        assert (interactive["kind"], interactive["delivered"]) == ("interactive_button", False)
        assert template["kind"] == "template"
        assert template["text"].startswith(
            "Approval needed: Publish dataset sales_2026_q3? | Rows: 1,284,551 · "
        )
        assert "Payout IBAN: ••••••••" in template["text"]
        assert _request_id(template) == _request_id(interactive)

        assert stack.tap(template, "Approve").status_code == 200
        assert run.wait(timeout=300) == 0, run.output()[-3000:]
        request = stack.store().get_request(_request_id(template))
        assert (request.status, request.chosen_option) == (RequestStatus.DECIDED, "Approve")
        (recipient,) = request.recipients
        assert recipient.prompt_message_id == template["message_id"]
        assert "sending template approval_request instead" in run.output()

    def test_without_a_template_the_task_fails_at_once_saying_what_to_do(self, stack, closed_window):
        before = stack.prompt_count("whatsapp")
        run = stack.start_dag_test(DAGS["whatsapp"])
        prompt = stack.wait_for_prompt(count=before + 1, channel="whatsapp")
        run.wait(timeout=300)
        output = run.output()
        assert stack.task_states(DAGS["whatsapp"])[APPROVAL_TASK] == "failed"
        assert "Set template_name and template_language on WhatsAppApprovalOperator" in output
        assert "131047" in output
        request = stack.store().get_request(_request_id(prompt))
        assert request.status is RequestStatus.CANCELLED
        assert request.recipients[0].delivery is Delivery.FAILED
        assert stack.prompt_count("whatsapp") == before + 1  # no template was tried


def test_no_secret_of_any_channel_anywhere(stack):
    """Every byte Airflow, the store, the webhook and the sandbox wrote, searched for each channel's token,
    app secret and verify token, and for the masked and concealed values."""
    channel_secrets = [value for own in stack.channel_secrets.values() for value in own.values()]
    secrets = [
        stack.token,
        stack.app_secret,
        stack.verify_token,
        MASKED_SECRET,
        CONCEALED_SECRET,
        *channel_secrets,
    ]
    files = [p for p in stack.home.rglob("*") if p.is_file()]
    assert any(p.name.startswith("instagram_hil.db") for p in files)
    leaks = [
        (secret[:12], str(path.relative_to(stack.home)))
        for path in files
        for secret in secrets
        if secret.encode() in path.read_bytes()
    ]
    assert leaks == []
