"""The ``instagram-hil`` command: a real webhook process on loopback, and the store commands."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import update

from airflow_provider_instagram_hil.cli import main
from airflow_provider_instagram_hil.store import DecisionStore, OutboxMessage, RecipientSpec, RequestStatus
from airflow_provider_instagram_hil.store.schema import requests
from airflow_provider_instagram_hil.webhook.signature import sign_body

APP_SECRET = "cli-test-app-secret-5e2b"
VERIFY_TOKEN = "cli-test-verify-token-88c0"
REVIEWER = "17841400000000001"
QUICK_REPLY = Path(__file__).parent / "webhook" / "data" / "instagram_quick_reply.json"
LISTENING = re.compile(r"Serving Instagram webhook on http://127\.0\.0\.1:(\d+)/webhooks/instagram")
START_TIMEOUT = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("instagram-hil")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "airflow_provider_instagram_hil.cli", *args]


class WebhookProcess:
    """``instagram-hil webhook --port 0`` with its merged output read on a thread."""

    def __init__(self, env: dict[str, str], *extra_args: str) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            _command("webhook", "--port", "0", "--threads", "4", *extra_args),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """Block until a line of output matches ``pattern`` (no polling sleep)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matched {pattern.pattern!r}:\n{self.output}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(
                    f"process ended (rc={self.process.wait()}) before {pattern.pattern!r}:\n{self.output}"
                )
            self.lines.append(line)
            match = pattern.search(line)
            if match:
                return match

    def drain_output(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                return
            if line is None:
                return
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    """A clean environment for a webhook process: its own AIRFLOW_HOME, connection and store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "INSTAGRAM_HIL"))}
    home = tmp_path / "airflow-home"
    home.mkdir()
    connection = {
        "conn_type": "instagram",
        # Nothing listens there: replies to the reviewer fail fast and harmlessly.
        "host": f"http://127.0.0.1:{_free_port()}",
        "password": "EAAcli-test-token-0000",
        "extra": {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "api_version": "v25.0"},
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_INSTAGRAM_DEFAULT": json.dumps(connection),
            "AIRFLOW__INSTAGRAM_HIL__STORE_URL": f"sqlite:///{tmp_path / 'decisions.db'}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
def webhook(cli_env):
    process = WebhookProcess(cli_env)
    yield process
    process.stop()


def _request(port: int, method: str, path: str, body=None, headers=None, chunked: bool = False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def _register(store: DecisionStore, run_id: str) -> str:
    request, _ = store.register_request(
        dag_id="deploy",
        run_id=run_id,
        task_id="approve_release",
        recipients=[REVIEWER],
        options=["approve", "reject"],
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return request.request_id


@pytest.mark.e2e
class TestWebhookProcess:
    def test_serves_records_and_stops_on_sigterm(self, webhook, cli_env):
        port = int(webhook.wait_for(LISTENING, START_TIMEOUT).group(1))
        path = "/webhooks/instagram"
        store = DecisionStore(cli_env["AIRFLOW__INSTAGRAM_HIL__STORE_URL"])
        try:
            query = urlencode(
                {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "314"}
            )
            status, content_type, body = _request(port, "GET", f"{path}?{query}")
            assert (status, body) == (200, b"314")
            assert content_type.startswith("text/plain")
            bad = urlencode({"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "314"})
            assert _request(port, "GET", f"{path}?{bad}")[0] == 403

            request_id = _register(store, "run-1")
            tap = QUICK_REPLY.read_bytes().replace(b"__REQUEST_ID__", request_id.encode())
            status, _, body = _request(
                port,
                "POST",
                path,
                tap,
                {"X-Hub-Signature-256": sign_body(tap, APP_SECRET), "Content-Type": "application/json"},
            )
            assert status == 200, body
            decided = store.get_request(request_id)
            assert (decided.status, decided.chosen_option, decided.responded_by) == (
                RequestStatus.DECIDED,
                "approve",
                REVIEWER,
            )

            # Chunked transfer (no Content-Length), as a proxy may forward it.
            chunked_id = _register(store, "run-2")
            chunked = QUICK_REPLY.read_bytes().replace(b"__REQUEST_ID__", chunked_id.encode())
            pieces = iter([chunked[:100], chunked[100:]])
            status, _, body = _request(
                port, "POST", path, pieces, {"X-Hub-Signature-256": sign_body(chunked, APP_SECRET)}, True
            )
            assert status == 200, body
            assert store.get_request(chunked_id).status is RequestStatus.DECIDED

            huge = b'{"object": "instagram", "entry": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
            status, _, body = _request(
                port, "POST", path, huge, {"X-Hub-Signature-256": sign_body(huge, APP_SECRET)}
            )
            assert status == 413
            assert json.loads(body) == {"error": "body too large"}
            status, _, body = _request(
                port, "POST", path, tap, {"X-Hub-Signature-256": sign_body(b"other", APP_SECRET)}
            )
            assert status == 403
        finally:
            store.dispose()

        webhook.process.send_signal(signal.SIGTERM)
        assert webhook.process.wait(timeout=60) == 0
        webhook.drain_output()
        assert "Instagram webhook stopped" in webhook.output
        assert "Traceback" not in webhook.output
        for secret in (APP_SECRET, VERIFY_TOKEN, "EAAcli-test-token-0000"):
            assert secret not in webhook.output

    def test_missing_app_secret_exits_2_with_a_clear_message(self, cli_env):
        connection = json.loads(cli_env["AIRFLOW_CONN_INSTAGRAM_DEFAULT"])
        del connection["extra"]["app_secret"]
        cli_env["AIRFLOW_CONN_INSTAGRAM_DEFAULT"] = json.dumps(connection)

        result = subprocess.run(
            _command("webhook", "--port", "0"), env=cli_env, capture_output=True, text=True, timeout=180
        )

        assert result.returncode == 2, result.stdout + result.stderr
        assert "instagram-hil: error: No app secret configured" in result.stderr
        assert "app_secret of the Airflow connection 'instagram_default'" in result.stderr
        # Only what works: the connection (here defined by this environment variable), no webhook-only key.
        assert "AIRFLOW_CONN_INSTAGRAM_DEFAULT" in result.stderr
        assert "INSTAGRAM_HIL_APP_SECRETS" not in result.stderr
        assert "Traceback" not in result.stdout + result.stderr

    def test_port_in_use_exits_2_with_one_clear_line(self, cli_env):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = subprocess.run(
                _command("webhook", "--port", str(port)),
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=180,
            )

        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("instagram-hil: error:")]
        assert errors == [
            f"instagram-hil: error: cannot listen on 127.0.0.1:{port}: Address already in use. Pick another "
            "--port or --host, or stop the process that uses it."
        ]

    def test_channel_timeout_closes_a_silent_connection(self, cli_env):
        process = WebhookProcess(cli_env, "--channel-timeout", "2")
        try:
            port = int(process.wait_for(LISTENING, START_TIMEOUT).group(1))
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"POST /webhooks/instagram HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")
                started = time.monotonic()
                closed = sock.recv(1)  # blocks until the server closes the connection
                elapsed = time.monotonic() - started
        finally:
            process.stop()
        assert closed == b""
        # Closed by the timeout (checked every second), not at once and not after waitress's 120 s default.
        assert 1.5 <= elapsed < 10


class TestUsage:
    @pytest.mark.parametrize(
        "argv",
        [
            pytest.param([], id="no-command"),
            pytest.param(["store"], id="no-store-action"),
            pytest.param(["webhook", "--port", "70000"], id="port-out-of-range"),
            pytest.param(["webhook", "--threads", "0"], id="no-threads"),
            pytest.param(["webhook", "--connection-limit", "0"], id="no-connections"),
            pytest.param(["webhook", "--channel-timeout", "-1"], id="negative-channel-timeout"),
        ],
    )
    def test_bad_usage_exits_2(self, argv, capsys):
        with pytest.raises(SystemExit) as info:
            main(argv)

        assert info.value.code == 2
        assert "usage: instagram-hil" in capsys.readouterr().err


class TestWebhookDefaults:
    def test_slow_client_limits(self):
        from airflow_provider_instagram_hil.cli import build_parser

        args = build_parser().parse_args(["webhook"])
        assert (args.connection_limit, args.channel_timeout) == (1000, 15)


class TestStoreCommands:
    def test_init_then_check(self, sqlite_url, capsys):
        assert main(["store", "init", "--url", sqlite_url]) == 0
        assert f"Decision store ready: {sqlite_url} (schema 3)" in capsys.readouterr().out

        assert main(["store", "check", "--url", sqlite_url]) == 0
        out = capsys.readouterr().out
        assert "no requests" in out
        assert "No integrity problems" in out

    def test_init_hides_the_password(self, postgres_url, capsys):
        # Trust authentication ignores the password, which must not be printed all the same.
        url = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:pg-pa55word@")

        assert main(["store", "init", "--url", url]) == 0

        out = capsys.readouterr().out
        assert "pg-pa55word" not in out
        assert "postgres:***@" in out

    def test_check_reports_corruption(self, sqlite_url, capsys):
        store = DecisionStore(sqlite_url)
        request_id = _register(store, "run-1")
        with store.engine.begin() as conn:
            conn.execute(
                update(requests).where(requests.c.request_id == request_id).values(chosen_option="x")
            )
        store.dispose()

        assert main(["store", "check", "--url", sqlite_url]) == 1

        captured = capsys.readouterr()
        assert f"problem: {request_id}: pending but carries a chosen option" in captured.out
        assert "1 problem(s) found" in captured.err

    def test_check_does_not_create_a_store(self, sqlite_url, capsys):
        assert main(["store", "check", "--url", sqlite_url]) == 2

        assert "has no decision-store tables" in capsys.readouterr().err

    def test_unreachable_store_exits_1_without_the_password(self, capsys):
        url = f"postgresql://airflow:db-pa55word@127.0.0.1:{_free_port()}/airflow"

        assert main(["store", "init", "--url", url]) == 1

        err = capsys.readouterr().err
        assert "is unavailable" in err
        assert "db-pa55word" not in err

    def test_store_url_defaults_to_the_airflow_config(self, sqlite_url, monkeypatch, capsys):
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", sqlite_url)

        assert main(["store", "init"]) == 0

        assert sqlite_url in capsys.readouterr().out


class TestNoReplies:
    @pytest.mark.parametrize(
        ("flags", "expected"),
        [
            pytest.param([], None, id="replies-on-by-default"),
            pytest.param(["--no-replies"], {"INSTAGRAM_HIL_SEND_REPLIES": False}, id="no-replies"),
        ],
    )
    def test_flag_reaches_the_app_factory(self, flags, expected, monkeypatch, capsys):
        from airflow_provider_instagram_hil import webhook
        from airflow_provider_instagram_hil.webhook import WebhookConfigError

        seen = []

        def refusing_factory(test_config=None):
            seen.append(test_config)
            raise WebhookConfigError("stop here: this test only checks the factory's arguments")

        monkeypatch.setattr(webhook, "create_app", refusing_factory)
        assert main(["webhook", "--port", "0", *flags]) == 2
        assert seen == [expected]
        assert "stop here" in capsys.readouterr().err


class TestRequestCommands:
    """``instagram-hil requests list|show|prune`` and the overdue report of ``store check``."""

    @pytest.fixture
    def history(self, store):
        """A decided request (with a reply), a cancelled one, and one pending long past its deadline."""
        now = datetime.now(timezone.utc)
        decided, _ = store.register_request(
            dag_id="payouts",
            run_id="run-1",
            task_id="approve",
            recipients=[RecipientSpec(REVIEWER, name="alice")],
            options=["Approve", "Reject"],
            reject_options=["Reject"],
            subject="Pay out 1,200 EUR?",
            expires_at=now + timedelta(hours=1),
            now=now - timedelta(days=40),
        )
        store.mark_prompt_sent(decided.request_id, REVIEWER, "m_prompt")
        store.record_decision(
            decided.request_id,
            option="Reject",
            responder_id=REVIEWER,
            mid="m_tap",
            reason="numbers look wrong",
            messages=lambda r: [
                OutboxMessage(
                    "instagram", REVIEWER, "✅ Recorded: Reject. Thank you.", request_id=decided.request_id
                )
            ],
        )
        cancelled, _ = store.register_request(
            dag_id="reports",
            run_id="run-2",
            task_id="approve",
            recipients=[REVIEWER],
            options=["Approve", "Reject"],
            expires_at=now + timedelta(hours=1),
            now=now - timedelta(days=2),
        )
        store.cancel_request(cancelled.request_id, "the task was cleared")
        orphan, _ = store.register_request(
            dag_id="reports",
            run_id="run-3",
            task_id="approve",
            recipients=[REVIEWER],
            options=["Approve", "Reject"],
            expires_at=now - timedelta(hours=3),
            now=now - timedelta(hours=4),
        )
        return {"decided": decided, "cancelled": cancelled, "orphan": orphan}

    def test_list_with_filters(self, store, store_url, history, capsys):
        assert main(["requests", "list", "--url", store_url]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 4  # a header and the three requests, newest first
        assert [line.split()[0] for line in lines[1:]] == [
            history[name].request_id for name in ("orphan", "cancelled", "decided")
        ]
        assert "rejected" not in lines[3]
        assert "Reject" in lines[3]

        assert (
            main(["requests", "list", "--url", store_url, "--dag-id", "reports", "--status", "cancelled"])
            == 0
        )
        out = capsys.readouterr().out
        assert history["cancelled"].request_id in out
        assert history["orphan"].request_id not in out

        assert main(["requests", "list", "--url", store_url, "--older-than", "30d", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [row["request_id"] for row in listed] == [history["decided"].request_id]
        assert listed[0]["status"] == "decided"
        assert listed[0]["responses"] == 1

    def test_show_prints_the_audit_trail(self, store, store_url, history, capsys):
        assert main(["requests", "show", history["decided"].request_id, "--url", store_url]) == 0

        out = capsys.readouterr().out
        assert "task        payouts.approve, run run-1, try 1 (operator)" in out
        assert "subject     Pay out 1,200 EUR?" in out
        assert "status      decided: Reject by alice at" in out
        assert "instagram alice                reviewer   prompted" in out
        assert 'alice chose Reject "numbers look wrong" (instagram, event m_tap)' in out
        assert (
            f"reply to {REVIEWER} on instagram: pending, 0 attempt(s): '✅ Recorded: Reject. Thank you.'"
            in out
        )

    def test_show_json_and_unknown(self, store, store_url, history, capsys):
        assert main(["requests", "show", history["cancelled"].request_id, "--url", store_url, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["request"]["status"] == "cancelled"
        assert shown["request"]["closed_reason"] == "the task was cleared"
        assert shown["request"]["policy"] == {"kind": "first", "min_approvals": None, "veto": False}

        assert main(["requests", "show", "0" * 32, "--url", store_url]) == 1
        assert "no request" in capsys.readouterr().err

    def test_check_reports_a_request_nobody_closes(self, store, store_url, history, capsys):
        assert main(["store", "check", "--url", store_url]) == 1

        captured = capsys.readouterr()
        assert f"problem: {history['orphan'].request_id}: pending 3 h 0 min past its deadline" in captured.out
        assert "Outbox: 1 pending" in captured.out
        assert "1 problem(s) found" in captured.err

    def test_prune_keeps_pending_and_recent_requests(self, store, store_url, history, capsys):
        assert main(["requests", "prune", "--older-than", "1d", "--batch-size", "1", "--url", store_url]) == 0

        assert "Deleted 2 closed request(s)" in capsys.readouterr().out
        left = [row.request_id for row in store.maintenance.list_requests()]
        assert left == [history["orphan"].request_id]
        assert store.outbox.counts() == {}

    @pytest.mark.parametrize("value", ["", "7", "3x", "1d 2h", "-1d"])
    def test_bad_ages_are_refused(self, value, capsys):
        with pytest.raises(SystemExit) as info:
            main(["requests", "prune", f"--older-than={value}"])

        assert info.value.code == 2
        assert "is not an age" in capsys.readouterr().err

    def test_prune_needs_an_age(self, capsys):
        with pytest.raises(SystemExit):
            main(["requests", "prune"])
        assert "--older-than" in capsys.readouterr().err
