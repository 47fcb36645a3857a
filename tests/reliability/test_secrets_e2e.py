"""The whole flow with DEBUG logging, failures included, and every byte it left behind searched for secrets.

One stack (``SandboxStack``: Airflow via ``airflow dags test``, the sandbox Graph API and the real webhook):
an approval answered by a tap, then prompts that fail on Graph faults (window closed and invalid token in
the fast suite, every fault kind in the soak), then an approval on Messenger and on WhatsApp (with its
status callbacks) and a WhatsApp prompt refused outside the window. Each channel has its own connection,
token, app secret and verify token. Each failure must fail the task with a clear message and
leave no request pending; afterwards no token, app secret, verify token, masked or concealed value may
appear in any log, process output, database file (Airflow's, with XComs, trigger rows and rendered
fields; the decision store with its WAL) or anything else under AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
from sqlalchemy import create_engine, select, text

from airflow_provider_instagram_hil.sandbox.stack import SandboxStack
from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.store.schema import requests as requests_table

from .support import REPO, SOAK, scaled

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(scaled(600, 2400))]

DAG_ID = "example_instagram_approval"
APPROVAL_TASK = "approve_publish"
MASKED_SECRET = "DE89-3704-0044-0532-0130-00"
CONCEALED_SECRET = "s3cr3t-bucket-signing-key-77"
WINDOW_HINT = "must send a message to the Instagram account first"
TOKEN_HINT = "access token in the Instagram connection is invalid or expired"

#: ``airflow dags test`` at DEBUG: Airflow's in-process supervisor (task SDK 1.3.2,
#: ``InProcessSupervisorComms.send``) logs every request of the task, MaskSecret included, with the value
#: it asks to mask; Airflow's real supervisor logs "(body omitted)" instead. Upstream, not ours: counted and
#: reported as a figure; every other byte must be clean.
UPSTREAM_MASK_ECHO = re.compile(
    rb"^\S+ \[debug\s*\] Sending request\s+loc=supervisor\.py:\d+ msg=MaskSecret\(.*$", re.M
)

# The fast suite (make test) runs one failing and one recovering case end to end; test_graph_faults
# covers every kind in process. make soak runs them all here too. Cases are left out, not skipped.
#: kind, times, what the task log must say; the task fails and its request is cancelled.
FAILING = [
    pytest.param("window_closed", 1, WINDOW_HINT),
    pytest.param("invalid_token", 1, TOKEN_HINT),
    *(
        [
            pytest.param("recipient_unavailable", 1, "This person can't be messaged"),
            pytest.param("no_matching_user", 1, "IGSID"),
            pytest.param("maybe_sent", 1, "may have been sent: not retried"),
            pytest.param("server_error", 5, "Gave up after 5 attempt(s)"),
            pytest.param("throttled_429", 5, "Meta is throttling this app or account"),
            pytest.param("html_error", 5, "without a Graph error"),
            pytest.param("disconnect", 5, "Could not reach the Graph API"),
        ]
        if SOAK
        else []
    ),
]
#: kind, times; the prompt gets through after retries, the reviewer approves, the DAG succeeds.
RECOVERING = [
    pytest.param(kind, times)
    for kind, times in (
        ("server_error", 2),
        *((("throttled", 2), ("disconnect", 2), ("html_error", 1), ("timeout", 1)) if SOAK else ()),
    )
]


@pytest.fixture(scope="module")
def stack():
    env = {
        "AIRFLOW_VAR_INSTAGRAM_HIL_PAYOUT_IBAN": MASKED_SECRET,
        "AIRFLOW_VAR_INSTAGRAM_HIL_SIGNING_KEY": CONCEALED_SECRET,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
    }
    with SandboxStack(REPO / "example_dags", extra_env=env) as running:
        yield running


def _prompts(stack: SandboxStack) -> int:
    return len([m for m in stack.sent_messages() if m.get("quick_replies")])


def _latest_request(stack: SandboxStack):
    with stack.store().engine.connect() as conn:
        row = conn.execute(
            select(requests_table.c.request_id)
            .where(requests_table.c.dag_id == DAG_ID)
            .order_by(requests_table.c.created_at.desc())
            .limit(1)
        ).first()
    assert row is not None
    return stack.store().get_request(row.request_id)


def _inject(stack: SandboxStack, kind: str, times: int) -> None:
    response = requests.post(
        f"{stack.graph_url}/_sandbox/faults", json={"kind": kind, "times": times}, timeout=10
    )
    assert response.status_code == 200, response.text


def _approve_run(stack: SandboxStack, figures, env: dict[str, str] | None = None) -> None:
    before = _prompts(stack)
    run = stack.start_dag_test(DAG_ID, env=env)
    prompt = stack.wait_for_prompt(count=before + 1)
    assert stack.tap(prompt, "Approve").status_code == 200
    assert run.wait(timeout=300) == 0, run.output()[-3000:]
    states = stack.task_states(DAG_ID)
    assert states[APPROVAL_TASK] == "success"
    assert states["publish"] == "success"
    request = _latest_request(stack)
    assert (request.status, request.chosen_option) == (RequestStatus.DECIDED, "Approve")
    figures("dag_runs", scope="secrets_e2e")


class TestFlowWithDebugLogging:
    def test_handshake_and_approval(self, stack, figures):
        assert stack.handshake()
        _approve_run(stack, figures)

    @pytest.mark.parametrize(("kind", "times", "hint"), FAILING)
    def test_prompt_failure_fails_the_task_cleanly(self, stack, kind, times, hint, figures):
        before = _prompts(stack)
        _inject(stack, kind, times)
        run = stack.start_dag_test(DAG_ID)
        run.wait(timeout=300)
        output = run.output()
        assert stack.task_states(DAG_ID)[APPROVAL_TASK] == "failed", output[-3000:]
        assert hint in output, output[-3000:]
        request = _latest_request(stack)
        assert request.status is RequestStatus.CANCELLED
        assert request.recipients[0].prompt_message_id is None
        assert stack.store().maintenance.count_by_status().get("pending", 0) == 0
        assert _prompts(stack) == before
        figures("dag_runs", scope="secrets_e2e")
        figures("failed_cleanly", scope="graph_faults_e2e")

    @pytest.mark.parametrize(("kind", "times"), RECOVERING)
    def test_transient_fault_then_approval(self, stack, kind, times, figures):
        _inject(stack, kind, times)
        env = None
        if kind == "timeout":  # a read timeout shorter than the sandbox's pause: the hook must retry
            connection = stack.connection()
            connection["extra"]["timeout"] = 1
            env = {"AIRFLOW_CONN_INSTAGRAM_DEFAULT": json.dumps(connection)}
        _approve_run(stack, figures, env)
        figures("recovered", scope="graph_faults_e2e")

    @pytest.mark.parametrize("channel", ["messenger", "whatsapp"])
    def test_approval_on_another_channel(self, stack, channel, figures):
        dag_id = f"example_{channel}_approval"
        before = stack.prompt_count(channel)
        run = stack.start_dag_test(dag_id)
        prompt = stack.wait_for_prompt(count=before + 1, channel=channel)
        assert stack.tap(prompt, "Approve").status_code == 200
        assert run.wait(timeout=300) == 0, run.output()[-3000:]
        assert stack.task_states(dag_id)[APPROVAL_TASK] == "success"
        figures("dag_runs", scope="secrets_e2e")

    def test_whatsapp_window_closed_fails_cleanly(self, stack, figures):
        reviewer = stack.reviewer_of("whatsapp")
        stack.set_window(reviewer, open_=False)
        try:
            run = stack.start_dag_test("example_whatsapp_approval")
            run.wait(timeout=300)
        finally:
            stack.set_window(reviewer, open_=True)
        assert stack.task_states("example_whatsapp_approval")[APPROVAL_TASK] == "failed"
        assert "Set template_name and template_language" in run.output()
        assert stack.store().maintenance.count_by_status().get("pending", 0) == 0
        figures("dag_runs", scope="secrets_e2e")

    def test_no_secret_anywhere(self, stack, figures):
        secrets = {
            "access token": stack.token,
            "app secret": stack.app_secret,
            "verify token": stack.verify_token,
            "masked value": MASKED_SECRET,
            "concealed value": CONCEALED_SECRET,
            **{
                f"{channel} {name.replace('_', ' ')}": value
                for channel, own in stack.channel_secrets.items()
                for name, value in own.items()
            },
        }
        files = [path for path in stack.home.rglob("*") if path.is_file()]
        names = {path.name for path in files}
        assert {"airflow.db", "instagram_hil.db", "webhook.log", "sandbox-graph-api.log"} <= names
        leaks, searched, upstream = [], 0, 0
        for path in files:
            data = path.read_bytes()
            searched += len(data)
            if path.name.startswith("dags-test-"):
                data, echoed = UPSTREAM_MASK_ECHO.subn(b"", data)
                upstream += echoed
            leaks += [
                (label, str(path.relative_to(stack.home)))
                for label, value in secrets.items()
                if value.encode() in data
            ]
        assert leaks == []
        # What the reviewer was sent (prompts and replies) holds no credential and no hidden value either.
        sent = json.dumps(stack.sent_messages(), ensure_ascii=False)
        assert "••••••••" in sent
        assert [label for label, value in secrets.items() if value in sent] == []
        figures("files_searched", len(files), scope="secrets_e2e")
        figures("bytes_searched", searched, scope="secrets_e2e")
        figures("upstream_mask_echo_lines", upstream, scope="secrets_e2e")

    def test_trigger_kwargs_and_xcoms_hold_no_secret(self, stack):
        engine = create_engine(f"sqlite:///{stack.home / 'airflow.db'}")
        try:
            with engine.connect() as conn:
                kwargs = (
                    conn.execute(
                        text("SELECT kwargs FROM trigger WHERE classpath LIKE :path"),
                        {"path": "%InstagramDecisionTrigger"},
                    )
                    .scalars()
                    .all()
                )
                xcoms = conn.execute(
                    text("SELECT key, value FROM xcom WHERE dag_id = :d"), {"d": DAG_ID}
                ).all()
        finally:
            engine.dispose()
        assert kwargs, "no trigger row to check"
        for raw in kwargs:
            assert set(json.loads(raw)) == {
                "request_id",
                "timeout_at",
                "poll_interval",
                "store_url",
                "end_from_trigger",
                "reject_options",
                "push_result",
            }
        assert any(key == "return_value" and "chosen_option" in str(value) for key, value in xcoms)
        everything = " ".join(map(str, kwargs + [value for _key, value in xcoms]))
        for secret in (stack.token, stack.app_secret, stack.verify_token, MASKED_SECRET, CONCEALED_SECRET):
            assert secret not in everything
