"""The whole product, end to end: `airflow dags test` on the example DAG, the sandbox Graph API, the
real `instagram-hil webhook` process and a signed tap over loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_instagram_hil.sandbox.stack import SandboxStack
from airflow_provider_instagram_hil.store import RequestStatus

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "example_instagram_approval"
APPROVAL_TASK = "approve_publish"
DOWNSTREAM_TASK = "publish"
# Values the example DAG marks as masked / concealed (see example_dags/example_instagram_approval.py).
MASKED_SECRET = "DE89-3704-0044-0532-0130-00"
CONCEALED_SECRET = "s3cr3t-bucket-signing-key-77"


@pytest.fixture(scope="module")
def stack():
    env = {
        "AIRFLOW_VAR_INSTAGRAM_HIL_PAYOUT_IBAN": MASKED_SECRET,
        "AIRFLOW_VAR_INSTAGRAM_HIL_SIGNING_KEY": CONCEALED_SECRET,
    }
    with SandboxStack(REPO / "example_dags", extra_env=env) as running:
        yield running


def _request_id(prompt: dict) -> str:
    return prompt["quick_replies"][0]["payload"].split(":")[1]


def _no_secret_anywhere(stack: SandboxStack, *secrets: str) -> None:
    """Every byte Airflow, the store, the webhook and the sandbox wrote, searched for each secret."""
    files = [p for p in stack.home.rglob("*") if p.is_file()]
    assert any(p.name == "airflow.db" for p in files)
    assert any(p.name.startswith("instagram_hil.db") for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} leaked into {path.relative_to(stack.home)}"


class TestApprovalFlow:
    def test_approve_runs_downstream(self, stack):
        run = stack.start_dag_test(DAG_ID)
        prompt = stack.wait_for_prompt(count=stack.prompt_count() + 1)
        assert prompt["recipient_id"] == stack.reviewer_id
        assert [r["title"] for r in prompt["quick_replies"]] == ["Approve", "Reject"]
        assert "••••••••" in prompt["text"]
        assert MASKED_SECRET not in prompt["text"]
        assert CONCEALED_SECRET not in prompt["text"]

        response = stack.tap(prompt, "Approve")
        assert response.status_code == 200
        assert run.wait(timeout=300) == 0, run.output()[-3000:]

        request = stack.store().get_request(_request_id(prompt))
        assert request is not None
        assert request.status is RequestStatus.DECIDED
        assert request.chosen_option == "Approve"
        assert request.responded_by == stack.reviewer_id
        states = stack.task_states(DAG_ID)
        assert states[APPROVAL_TASK] == "success"
        assert states[DOWNSTREAM_TASK] == "success"
        replies = [m for m in stack.sent_messages() if not m.get("quick_replies")]
        assert any("Approve" in m["text"] for m in replies)
        _no_secret_anywhere(stack, MASKED_SECRET, CONCEALED_SECRET, stack.token, stack.app_secret)

    def test_reject_skips_downstream(self, stack):
        before = stack.prompt_count()
        run = stack.start_dag_test(DAG_ID)
        prompt = stack.wait_for_prompt(count=before + 1)
        assert stack.tap(prompt, "Reject").status_code == 200
        assert run.wait(timeout=300) == 0, run.output()[-3000:]

        request = stack.store().get_request(_request_id(prompt))
        assert request is not None
        assert request.chosen_option == "Reject"
        states = stack.task_states(DAG_ID)
        assert states[DOWNSTREAM_TASK] == "skipped"

    def test_tap_from_someone_else_is_ignored_then_reviewer_decides(self, stack):
        before = stack.prompt_count()
        run = stack.start_dag_test(DAG_ID)
        prompt = stack.wait_for_prompt(count=before + 1)
        assert stack.tap(prompt, "Approve", sender_id="6299999999999999").status_code == 200
        request = stack.store().get_request(_request_id(prompt))
        assert request is not None
        assert request.status is RequestStatus.PENDING
        assert stack.tap(prompt, "Reject").status_code == 200
        assert run.wait(timeout=300) == 0, run.output()[-3000:]
        request = stack.store().get_request(_request_id(prompt))
        assert request is not None
        assert request.chosen_option == "Reject"
        assert request.responded_by == stack.reviewer_id


class TestTimeouts:
    def test_timeout_with_default_applies_it(self, stack):
        before = stack.prompt_count()
        run = stack.start_dag_test(
            DAG_ID,
            env={
                "AIRFLOW_VAR_INSTAGRAM_HIL_RESPONSE_TIMEOUT_SECONDS": "3",
                "AIRFLOW_VAR_INSTAGRAM_HIL_DEFAULT_OPTION": "Reject",
            },
        )
        prompt = stack.wait_for_prompt(count=before + 1)
        assert run.wait(timeout=300) == 0, run.output()[-3000:]
        request = stack.store().get_request(_request_id(prompt))
        assert request is not None
        assert request.timed_out
        assert request.chosen_option == "Reject"
        assert stack.task_states(DAG_ID)[DOWNSTREAM_TASK] == "skipped"
        # A tap after the deadline is refused as late and changes nothing.
        assert stack.tap(prompt, "Approve").status_code == 200
        assert stack.store().get_request(_request_id(prompt)).chosen_option == "Reject"  # type: ignore[union-attr]

    def test_timeout_without_default_fails_with_who_and_since_when(self, stack):
        before = stack.prompt_count()
        run = stack.start_dag_test(DAG_ID, env={"AIRFLOW_VAR_INSTAGRAM_HIL_RESPONSE_TIMEOUT_SECONDS": "3"})
        prompt = stack.wait_for_prompt(count=before + 1)
        code = run.wait(timeout=300)
        request = stack.store().get_request(_request_id(prompt))
        assert request is not None
        assert request.status is RequestStatus.EXPIRED
        assert request.timed_out
        states = stack.task_states(DAG_ID)
        assert states[APPROVAL_TASK] == "failed"
        assert states[DOWNSTREAM_TASK] in {"upstream_failed", None}
        assert code != 0 or "failed" in run.output()
        assert stack.reviewer_id in run.output()
