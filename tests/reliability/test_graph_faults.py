"""Graph API faults while the operator sends its prompt: the operator's ``execute()`` against the sandbox
Graph API over real HTTP, in process. (``test_secrets_e2e`` drives the same faults through ``airflow dags
test``.) Retries are bounded, the error is the right type with a message that says what to do, and a
failed prompt never leaves its request pending."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_instagram_hil.exceptions import (
    InstagramApiError,
    InvalidTokenError,
    RateLimitedError,
    RecipientUnavailableError,
)
from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.links.instagram import REQUEST_ID_XCOM_KEY
from airflow_provider_instagram_hil.operators.instagram import InstagramApprovalOperator
from airflow_provider_instagram_hil.sandbox.graph_api import SandboxGraphApi
from airflow_provider_instagram_hil.store import DecisionStore, Delivery, RequestStatus
from airflow_provider_instagram_hil.version_compat import AirflowFailException

from .support import scaled

pytestmark = [pytest.mark.timeout(scaled(120, 300))]

TOKEN = "EAAreliability-" + secrets.token_hex(6)
REVIEWER = "6200000000000001"
READ_TIMEOUT = 0.5  # the connection's timeout extra: shorter than the sandbox's "timeout" pause
MAX_ATTEMPTS = 5  # InstagramHook's default, which the operator uses

FAILING = [
    pytest.param(
        "window_closed", 1, AirflowFailException, "must send a message to the Instagram account first"
    ),
    pytest.param("invalid_token", 1, InvalidTokenError, "invalid or expired: renew it in the connection"),
    pytest.param("recipient_unavailable", 1, RecipientUnavailableError, "This person can't be messaged"),
    pytest.param("no_matching_user", 1, RecipientUnavailableError, "Instagram-scoped ID"),
    pytest.param("maybe_sent", 1, InstagramApiError, "may have been sent: not retried"),
    pytest.param("server_error", MAX_ATTEMPTS, InstagramApiError, "Gave up after 5 attempt(s)"),
    pytest.param("html_error", MAX_ATTEMPTS, InstagramApiError, "without a Graph error"),
    pytest.param("throttled", MAX_ATTEMPTS, RateLimitedError, "Meta is throttling this app or account"),
    pytest.param("throttled_429", MAX_ATTEMPTS, RateLimitedError, "Meta is throttling this app or account"),
    pytest.param("disconnect", MAX_ATTEMPTS, InstagramApiError, "Could not reach the Graph API"),
    pytest.param("timeout", MAX_ATTEMPTS, InstagramApiError, "did not answer"),
]
#: kind, faults before success, prompts the reviewer receives (a timed-out send may have been delivered).
RECOVERING = [
    ("server_error", 2, 1),
    ("html_error", MAX_ATTEMPTS - 1, 1),
    ("throttled", MAX_ATTEMPTS - 1, 1),
    ("throttled_429", 2, 1),
    ("disconnect", 2, 1),
    ("timeout", 1, 2),
]


@dataclass
class TaskInstance:
    """What the operator touches of Airflow's runtime task instance."""

    run_id: str
    dag_id: str = "reliability_faults"
    task_id: str = "approve"
    map_index: int = -1
    try_number: int = 1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@pytest.fixture(scope="module")
def graph():
    with SandboxGraphApi(token=TOKEN, timeout_fault_seconds=2.0, retry_after=0.05) as api:
        yield api


@pytest.fixture
def prompt_run(graph, store_url, monkeypatch):
    """Run the operator once against the sandbox; return (outcome, task instance, seconds)."""
    connection = {
        "conn_type": "instagram",
        "host": graph.url,
        "password": TOKEN,
        "extra": {"app_secret": "reliability-app-secret", "timeout": READ_TIMEOUT},
    }
    monkeypatch.setenv("AIRFLOW_CONN_INSTAGRAM_DEFAULT", json.dumps(connection))
    # Real backoff logic, shorter pauses: the attempts are what matters here, not the waiting.
    monkeypatch.setattr(InstagramHook, "backoff_base", 0.02)
    monkeypatch.setattr(InstagramHook, "backoff_max", 0.1)
    graph.reset()

    def _run(kind: str, times: int) -> tuple[BaseException, TaskInstance, float]:
        graph.inject_fault(kind, times)
        operator = InstagramApprovalOperator(
            task_id="approve", recipient_id=REVIEWER, subject="Publish?", store_url=store_url, poll_interval=1
        )
        ti = TaskInstance(run_id=f"faults__{kind}_{secrets.token_hex(4)}")
        started = time.monotonic()
        with pytest.raises(BaseException) as raised:
            operator.execute({"ti": ti, "task_instance": ti})
        return raised.value, ti, time.monotonic() - started

    yield _run
    with DecisionStore._instances_lock:
        shared = DecisionStore._instances.pop(store_url, None)
    if shared is not None:
        shared.dispose()


def _all_faults_consumed() -> bool:
    """A single-attempt send succeeds only if the operator used up every injected fault."""
    try:
        InstagramHook(max_attempts=1).send_message(REVIEWER, "probe")
    except InstagramApiError:
        return False
    return True


class TestPromptFaults:
    @pytest.mark.parametrize(("kind", "times", "error", "hint"), FAILING)
    def test_fails_with_typed_error_and_cancels(
        self, prompt_run, graph, store_url, kind, times, error, hint, figures
    ):
        raised, ti, seconds = prompt_run(kind, times)
        assert type(raised) is error, repr(raised)
        assert hint in str(raised)
        assert TOKEN not in str(raised)
        assert _all_faults_consumed(), "the operator made fewer attempts than injected faults"
        request = DecisionStore.for_url(store_url).get_request(ti.pushed[REQUEST_ID_XCOM_KEY])
        assert request.status is RequestStatus.CANCELLED
        (recipient,) = request.recipients
        assert recipient.prompt_message_id is None
        assert recipient.delivery is Delivery.FAILED
        prompts = [m for m in graph.messages if m["quick_replies"]]
        # Only a timed-out send reaches the reviewer (Meta may have delivered it); never on other faults.
        assert len(prompts) == (times if kind == "timeout" else 0)
        scope = f"graph_faults[{'postgres' if store_url.startswith('postgresql') else 'sqlite'}]"
        figures("failed_typed", scope=scope)
        figures("attempts", times, scope=scope)  # exactly: one more would have succeeded
        figures("seconds", round(seconds, 2), scope=scope)
        assert seconds < 30  # bounded: well inside the hook's 60 s retry deadline

    @pytest.mark.parametrize(("kind", "times", "prompts"), RECOVERING)
    def test_recovers_within_the_retry_budget(
        self, prompt_run, graph, store_url, kind, times, prompts, figures
    ):
        raised, ti, _seconds = prompt_run(kind, times)
        assert isinstance(raised, TaskDeferred), repr(raised)
        assert _all_faults_consumed()
        request = DecisionStore.for_url(store_url).get_request(ti.pushed[REQUEST_ID_XCOM_KEY])
        assert request.status is RequestStatus.PENDING
        sent = [m for m in graph.messages if m["quick_replies"]]
        assert len(sent) == prompts
        assert request.recipients[0].prompt_message_id == sent[-1]["message_id"]
        assert {m["recipient_id"] for m in sent} == {REVIEWER}
        _classpath, kwargs = raised.trigger.serialize()
        assert kwargs["request_id"] == request.request_id
        assert TOKEN not in json.dumps(kwargs)
        scope = f"graph_faults[{'postgres' if store_url.startswith('postgresql') else 'sqlite'}]"
        figures("recovered", scope=scope)
        figures("attempts", times + 1, scope=scope)
        figures("duplicate_prompts", prompts - 1, scope=scope)
