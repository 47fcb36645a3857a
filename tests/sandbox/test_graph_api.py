"""The sandbox Graph API over real loopback HTTP, driven by the real InstagramHook."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from credentials import TEST_TOKEN

from airflow_provider_instagram_hil.exceptions import (
    InstagramApiError,
    InvalidTokenError,
    MessagingWindowClosedError,
    RateLimitedError,
    RecipientUnavailableError,
)
from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.sandbox.graph_answers import FAULTS, SANDBOX_ACCOUNT
from airflow_provider_instagram_hil.sandbox.graph_api import SandboxGraphApi

REPLIES = [
    {"content_type": "text", "title": "Approve", "payload": "ighil1:r1:Approve"},
    {"content_type": "text", "title": "Reject", "payload": "ighil1:r1:Reject"},
]
HOOK_TIMEOUT = 0.5


@pytest.fixture
def sandbox():
    with SandboxGraphApi(token=TEST_TOKEN, timeout_fault_seconds=HOOK_TIMEOUT * 4, retry_after=0.05) as api:
        yield api


@pytest.fixture
def make_hook(sandbox, instagram_conn_env, monkeypatch):
    """A real hook pointed at the sandbox, with millisecond backoff."""
    monkeypatch.setattr(InstagramHook, "backoff_base", 0.01)
    monkeypatch.setattr(InstagramHook, "backoff_max", 0.02)

    def _make(*, password: str = TEST_TOKEN, extra: dict | None = None, **kwargs) -> InstagramHook:
        instagram_conn_env(host=sandbox.url, password=password, extra=extra or {})
        kwargs.setdefault("timeout", HOOK_TIMEOUT)
        kwargs.setdefault("max_attempts", 3)
        kwargs.setdefault("retry_deadline", 5)
        return InstagramHook(**kwargs)

    return _make


class TestSandboxWithHook:
    def test_send_is_recorded(self, sandbox, make_hook):
        answer = make_hook().send_message("6200000000000001", "Deploy v42?", REPLIES)
        [message] = sandbox.wait_for_messages(1, timeout=5)
        assert answer == {"recipient_id": "6200000000000001", "message_id": message["message_id"]}
        assert message["message_id"].startswith("m_")
        assert message["recipient_id"] == "6200000000000001"
        assert message["account_id"] == "me"
        assert message["text"] == "Deploy v42?"
        assert message["quick_replies"] == REPLIES
        assert message["authorization_ok"] is True
        assert message["messaging_type"] == "RESPONSE"

    def test_account_id_and_version_reach_the_path(self, sandbox, make_hook):
        make_hook(extra={"account_id": "17841400000000009", "api_version": "v26.0"}).send_message("1", "hi")
        [message] = sandbox.messages
        assert (message["account_id"], message["api_version"]) == ("17841400000000009", "v26.0")

    def test_conversations_show_what_was_sent(self, sandbox, make_hook):
        hook = make_hook()
        since = datetime.now(timezone.utc) - timedelta(minutes=1)
        hook.send_message("6200000000000001", "✅ Recorded: Approve. Thank you.")
        hook.send_message("6200000000000001", "✅ Recorded: Approve. Thank you.")
        hook.send_message("6200000000000001", "something else")
        hook.send_message("6200000000000002", "✅ Recorded: Approve. Thank you.")

        assert hook.count_sent_since("6200000000000001", "✅ Recorded: Approve. Thank you.", since) == 2
        assert hook.count_sent_since("6200000000000003", "✅ Recorded: Approve. Thank you.", since) == 0
        later = datetime.now(timezone.utc) + timedelta(minutes=1)
        assert hook.count_sent_since("6200000000000001", "something else", later) == 0

    def test_test_connection(self, make_hook):
        assert make_hook().test_connection() == (
            True,
            f"Connected to the Graph API v25.0 as {SANDBOX_ACCOUNT['name']} (id {SANDBOX_ACCOUNT['id']}).",
        )

    def test_wrong_token_is_refused_with_190(self, sandbox, make_hook):
        with pytest.raises(InvalidTokenError, match="renew it"):
            make_hook(password="not-the-token").send_message("1", "hi")
        assert sandbox.messages == []

    @pytest.mark.parametrize(
        ("kind", "error_type", "match"),
        [
            pytest.param("window_closed", MessagingWindowClosedError, "24 hours", id="window-closed"),
            pytest.param("invalid_token", InvalidTokenError, "renew", id="invalid-token"),
            pytest.param(
                "recipient_unavailable", RecipientUnavailableError, "IGSID", id="recipient-unavailable"
            ),
            pytest.param("no_matching_user", RecipientUnavailableError, "IGSID", id="no-matching-user"),
            pytest.param("maybe_sent", InstagramApiError, "may have been sent", id="maybe-sent"),
        ],
    )
    def test_permanent_faults_fail_at_once(self, sandbox, make_hook, kind, error_type, match):
        sandbox.inject_fault(kind, times=1)
        hook = make_hook()
        with pytest.raises(error_type, match=match):
            hook.send_message("1", "hi")
        # A retry would have hit the now-healthy sandbox and succeeded: nothing was retried.
        assert sandbox.messages == []
        hook.send_message("1", "hi again")
        assert [m["text"] for m in sandbox.messages] == ["hi again"]

    @pytest.mark.parametrize(
        "kind", ["throttled", "throttled_429", "server_error", "html_error", "disconnect", "timeout"]
    )
    def test_transient_faults_are_retried(self, sandbox, make_hook, kind):
        sandbox.inject_fault(kind, times=1)
        answer = make_hook().send_message("1", "hi")
        assert answer["message_id"] == sandbox.messages[-1]["message_id"]

    @pytest.mark.parametrize(
        ("kind", "error_type", "match"),
        [
            pytest.param("throttled", RateLimitedError, "Gave up after 3 attempt", id="throttled"),
            pytest.param("throttled_429", RateLimitedError, "code 613", id="throttled-429"),
            pytest.param("server_error", InstagramApiError, "HTTP 500, code 2", id="server-error"),
            pytest.param("html_error", InstagramApiError, "HTTP 502.*Bad Gateway", id="html-error"),
            pytest.param("disconnect", InstagramApiError, "Could not reach", id="disconnect"),
            pytest.param("timeout", InstagramApiError, "did not answer", id="timeout"),
        ],
    )
    def test_transient_faults_give_typed_errors_when_retries_run_out(
        self, sandbox, make_hook, kind, error_type, match
    ):
        sandbox.inject_fault(kind, times=3)
        with pytest.raises(error_type, match=match) as info:
            make_hook(max_attempts=3).send_message("1", "hi")
        assert type(info.value) is error_type

    def test_timeout_can_deliver_twice(self, sandbox, make_hook, capfd):
        sandbox.inject_fault("timeout")
        answer = make_hook().send_message("1", "Deploy?")
        first, second = sandbox.wait_for_messages(2, timeout=5)
        assert first["text"] == second["text"] == "Deploy?"
        assert answer["message_id"] == second["message_id"]
        assert "may receive this message twice" in capfd.readouterr().out

    def test_retry_after_beyond_the_deadline_fails_fast(self, sandbox, make_hook):
        sandbox.retry_after = 30
        sandbox.inject_fault("throttled", times=5)
        started = time.monotonic()
        with pytest.raises(RateLimitedError, match="Gave up after 1 attempt"):
            make_hook(retry_deadline=2, max_attempts=5).send_message("1", "hi")
        assert time.monotonic() - started < 2


class TestSandboxHttp:
    def test_access_token_in_the_query_is_rejected(self, sandbox):
        response = requests.get(f"{sandbox.url}/v25.0/me", params={"access_token": TEST_TOKEN}, timeout=5)
        assert response.status_code == 400
        assert "Authorization header" in response.json()["error"]["message"]

    def test_access_token_in_the_body_is_rejected(self, sandbox):
        body = {"recipient": {"id": "1"}, "message": {"text": "hi"}, "access_token": TEST_TOKEN}
        response = requests.post(
            f"{sandbox.url}/v25.0/me/messages",
            json=body,
            headers={"Authorization": f"Bearer {TEST_TOKEN}"},
            timeout=5,
        )
        assert response.status_code == 400
        assert sandbox.messages == []

    def test_missing_bearer_is_190(self, sandbox):
        response = requests.get(f"{sandbox.url}/v25.0/me", timeout=5)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == 190

    @pytest.mark.parametrize(
        ("body", "match"),
        [
            pytest.param({"message": {"text": "hi"}}, "recipient", id="no-recipient"),
            pytest.param({"recipient": {"id": "1"}, "message": {}}, r"message\[text\]", id="no-text"),
            pytest.param(
                {"recipient": {"id": "1"}, "message": {"text": "é" * 501}}, "1000", id="text-too-long"
            ),
        ],
    )
    def test_send_api_validation(self, sandbox, body, match):
        response = requests.post(
            f"{sandbox.url}/v25.0/me/messages",
            json=body,
            headers={"Authorization": f"Bearer {TEST_TOKEN}"},
            timeout=5,
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == 100
        assert re.search(match, error["message"])

    def test_unknown_path_is_a_graph_error(self, sandbox):
        response = requests.get(f"{sandbox.url}/v25.0/me/feed", timeout=5)
        assert (response.status_code, response.json()["error"]["code"]) == (400, 2500)

    def test_control_endpoints(self, sandbox, make_hook):
        base = f"{sandbox.url}/_sandbox"
        assert requests.post(f"{base}/faults", json={"kind": "window_closed"}, timeout=5).status_code == 200
        hook = make_hook()
        with pytest.raises(MessagingWindowClosedError):
            hook.send_message("1", "first")
        hook.send_message("1", "plain")
        hook.send_message("1", "with replies", REPLIES)

        everything = requests.get(f"{base}/messages", timeout=5).json()["messages"]
        assert [m["text"] for m in everything] == ["plain", "with replies"]
        prompts = requests.get(
            f"{base}/messages", params={"min_count": 1, "with_quick_replies": 1, "wait": 5}, timeout=10
        ).json()["messages"]
        assert [m["text"] for m in prompts] == ["with replies"]
        not_yet = requests.get(f"{base}/messages", params={"min_count": 3, "wait": 0.1}, timeout=5)
        assert len(not_yet.json()["messages"]) == 2

        bad = requests.get(f"{base}/messages", params={"min_count": "lots"}, timeout=5)
        assert bad.status_code == 400

        assert requests.delete(f"{base}/messages", timeout=5).json() == {"deleted": 2}
        assert sandbox.messages == []
        assert requests.post(f"{base}/faults", json={"kind": "nope"}, timeout=5).status_code == 400
        assert requests.get(f"{base}/nothing", timeout=5).status_code == 404

    def test_long_poll_wakes_when_a_message_arrives(self, sandbox, make_hook):
        result: list = []
        poll = threading.Thread(
            target=lambda: result.append(
                requests.get(
                    f"{sandbox.url}/_sandbox/messages", params={"min_count": 1, "wait": 10}, timeout=20
                )
            )
        )
        poll.start()
        make_hook().send_message("1", "hello")
        poll.join(timeout=15)
        assert [m["text"] for m in result[0].json()["messages"]] == ["hello"]


class TestSandboxControl:
    def test_wait_for_messages_wakes_on_arrival(self, sandbox, make_hook):
        hook = make_hook()
        sender = threading.Thread(target=hook.send_message, args=("1", "from a thread"))
        sender.start()
        [message] = sandbox.wait_for_messages(1, timeout=10)
        sender.join(timeout=10)
        assert message["text"] == "from a thread"

    def test_wait_for_messages_times_out(self, sandbox):
        with pytest.raises(TimeoutError, match="expected 1 message"):
            sandbox.wait_for_messages(1, timeout=0.05)

    def test_reset_forgets_messages_and_faults(self, sandbox, make_hook):
        hook = make_hook()
        hook.send_message("1", "hi")
        sandbox.inject_fault("window_closed", times=3)
        sandbox.reset()
        assert sandbox.messages == []
        hook.send_message("1", "after reset")
        assert len(sandbox.messages) == 1

    @pytest.mark.parametrize(
        ("kind", "times"),
        [pytest.param("nope", 1, id="unknown-kind"), pytest.param("timeout", 0, id="times-0")],
    )
    def test_inject_fault_validates(self, sandbox, kind, times):
        with pytest.raises(ValueError, match=r"kind|times"):
            sandbox.inject_fault(kind, times)

    def test_every_fault_kind_is_documented_in_faults(self):
        required = {
            "window_closed",
            "throttled",
            "server_error",
            "invalid_token",
            "recipient_unavailable",
            "timeout",
            "html_error",
        }
        assert required <= set(FAULTS)

    def test_stop_does_not_wait_for_a_slow_answer(self):
        api = SandboxGraphApi(timeout_fault_seconds=60).start()
        api.inject_fault("timeout")
        outcome: list[BaseException | requests.Response] = []

        def post() -> None:
            try:
                outcome.append(
                    requests.post(
                        f"{api.url}/v25.0/me/messages",
                        json={"recipient": {"id": "1"}, "message": {"text": "hi"}},
                        headers={"Authorization": "Bearer x"},
                        timeout=90,
                    )
                )
            except requests.RequestException as exc:
                outcome.append(exc)

        client = threading.Thread(target=post, daemon=True)
        client.start()
        api.wait_for_messages(1, timeout=10)  # the request is in, and parked in its 60 s pause
        started = time.monotonic()
        api.stop()
        assert time.monotonic() - started < 5
        client.join(timeout=5)
        assert not client.is_alive()
        assert isinstance(outcome[0], requests.ConnectionError)  # dropped, not answered

    def test_stop_ends_long_polls(self):
        api = SandboxGraphApi().start()
        parked, released, finished = threading.Event(), threading.Event(), threading.Event()
        real_wait_for = api._wait_for

        def wait_for(*args):
            parked.set()
            try:
                return real_wait_for(*args)
            finally:
                released.set()

        api._wait_for = wait_for  # type: ignore[method-assign]

        def poll() -> None:
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{api.url}/_sandbox/messages", params={"min_count": 1, "wait": 60}, timeout=90)
            finished.set()

        threading.Thread(target=poll, daemon=True).start()
        assert parked.wait(timeout=10)
        api.stop()
        assert released.wait(timeout=5)  # the server-side wait ended, not only the client's socket
        assert finished.wait(timeout=5)

    def test_url_needs_a_started_server(self):
        api = SandboxGraphApi()
        with pytest.raises(RuntimeError, match="not started"):
            _ = api.url
        api.stop()  # stopping a server that never started is harmless

    def test_the_module_imports_no_airflow(self):
        code = "import sys, airflow_provider_instagram_hil.sandbox.graph_api; print('airflow' in sys.modules)"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert out.stdout.strip() == "False"


class TestSandboxProcess:
    def test_runs_as_a_module_and_stops_on_sigterm(self, tmp_path):
        ready = tmp_path / "url.txt"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airflow_provider_instagram_hil.sandbox.graph_api",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--token",
                TEST_TOKEN,
                "--ready-file",
                str(ready),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("SANDBOX_GRAPH_API_URL=http://127.0.0.1:")
            url = line.split("=", 1)[1]
            assert ready.read_text().strip() == url

            response = requests.get(
                f"{url}/v25.0/me", headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=5
            )
            assert response.json() == {"id": SANDBOX_ACCOUNT["id"], "name": SANDBOX_ACCOUNT["name"]}

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/v25.0/me", timeout=2)
