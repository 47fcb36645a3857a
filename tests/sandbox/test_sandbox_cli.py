"""``instagram-hil sandbox``: a real sandbox and a real webhook on loopback, driven by the commands."""

from __future__ import annotations

import os
import shlex
import socket
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from airflow_provider_instagram_hil.channels import get_channel
from airflow_provider_instagram_hil.cli import main
from airflow_provider_instagram_hil.sandbox.processes import ManagedProcess
from airflow_provider_instagram_hil.sandbox.stack import (
    DEFAULT_MESSENGER_REVIEWER_ID,
    DEFAULT_REVIEWER_ID,
    DEFAULT_WHATSAPP_REVIEWER,
    WEBHOOK_READY,
)
from airflow_provider_instagram_hil.sandbox_cli import DEFAULT_VERIFY_TOKEN
from airflow_provider_instagram_hil.store import DecisionStore, RecipientSpec, RequestStatus

SERVE_READY = r"SANDBOX_GRAPH_API_URL=(\S+)"
REVIEWERS = {
    "instagram": DEFAULT_REVIEWER_ID,
    "messenger": DEFAULT_MESSENGER_REVIEWER_ID,
    "whatsapp": DEFAULT_WHATSAPP_REVIEWER,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow_provider_instagram_hil.cli", *args]


def _exports(output: str) -> dict[str, str]:
    """The ``export NAME=value`` lines of a command's output, as the shell would read them."""
    found = {}
    for line in output.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            (found[name],) = shlex.split(value)
    return found


class Sandbox:
    """``instagram-hil sandbox serve`` and ``instagram-hil webhook`` set up with what serve printed."""

    def __init__(self, tmp: Path) -> None:
        self.webhook_url = f"http://127.0.0.1:{_free_port()}/webhooks/instagram"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "INSTAGRAM_HIL"))}
        base["PYTHONUNBUFFERED"] = "1"
        self.serve = ManagedProcess(
            "sandbox serve",
            _command("sandbox", "serve", "--port", "0", "--webhook-url", self.webhook_url),
            env=base,
            log_path=tmp / "serve.log",
        )
        self.url = self.serve.start_and_wait(SERVE_READY).group(1)
        self.settings = _exports(self.serve.output())  # printed before the ready line
        self.store_url = f"sqlite:///{tmp / 'decisions.db'}"
        self.env = {
            **base,
            **self.settings,
            "AIRFLOW_HOME": str(tmp / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__INSTAGRAM_HIL__STORE_URL": self.store_url,
        }
        self.webhook = ManagedProcess(
            "webhook",
            _command("webhook", "--port", self.webhook_url.split(":")[2].split("/")[0]),
            env=self.env,
            log_path=tmp / "webhook.log",
        )
        self.webhook.start_and_wait(WEBHOOK_READY, timeout=90)
        self.store = DecisionStore(self.store_url)

    def stop(self) -> None:
        self.store.dispose()
        for process in (self.webhook, self.serve):
            process.stop()

    def messages(self, count: int = 0) -> list[dict]:
        params = {"min_count": count, "wait": 30} if count else {}
        return requests.get(f"{self.url}/_sandbox/messages", params=params, timeout=40).json()["messages"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    running = Sandbox(tmp_path_factory.mktemp("sandbox-cli"))
    yield running
    running.stop()


def _prompt(sandbox: Sandbox, channel_name: str, run_id: str) -> str:
    """Register a request and send its prompt through the channel's hook on the printed connection, as
    the operator does; return the request id."""
    channel = get_channel(channel_name)
    recipient = channel.validate_recipient(REVIEWERS[channel_name])
    request, _ = sandbox.store.register_request(
        dag_id="sandbox_cli",
        run_id=run_id,
        task_id="approve",
        recipients=[RecipientSpec(recipient, channel.name, None)],
        options=["Approve", "Reject"],
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
        channel=channel.name,
    )
    text = channel.render_prompt("Publish the dataset?", [], ["Approve", "Reject"])
    channel.send_prompt(channel.make_hook(), recipient, text, request.request_id, ["Approve", "Reject"])
    return request.request_id


@pytest.mark.e2e
class TestSandboxCommands:
    def test_serve_prints_what_env_prints(self, sandbox, capsys):
        assert (
            main(["sandbox", "env", "--sandbox-url", sandbox.url, "--webhook-url", sandbox.webhook_url]) == 0
        )
        assert _exports(capsys.readouterr().out) == sandbox.settings
        assert sandbox.settings["AIRFLOW_VAR_INSTAGRAM_HIL_REVIEWER_ID"] == DEFAULT_REVIEWER_ID
        assert f'"host":"{sandbox.url}"' in sandbox.settings["AIRFLOW_CONN_INSTAGRAM_DEFAULT"]
        # The webhook took its app secret and verify token from them: Meta's handshake succeeds.
        challenge = requests.get(
            sandbox.webhook_url,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": DEFAULT_VERIFY_TOKEN,
                "hub.challenge": "42",
            },
            timeout=10,
        )
        assert (challenge.status_code, challenge.text) == (200, "42")

    @pytest.mark.parametrize("channel", ["instagram", "messenger", "whatsapp"])
    def test_messages_then_tap_decides_the_request(self, sandbox, channel, capsys, monkeypatch):
        for name, value in sandbox.settings.items():
            monkeypatch.setenv(name, value)
        request_id = _prompt(sandbox, channel, f"run-{channel}")

        assert main(["sandbox", "messages", "--sandbox-url", sandbox.url]) == 0
        listing = capsys.readouterr().out
        assert f"{channel} to {REVIEWERS[channel].lstrip('+')}, request {request_id}:" in listing
        assert "options: Approve / Reject" in listing

        before = len(sandbox.messages())
        tap = ["sandbox", "tap", request_id[:10], "Approve", "--sandbox-url", sandbox.url]
        assert main([*tap, "--webhook-url", sandbox.webhook_url]) == 0
        out = capsys.readouterr().out
        assert "webhook answered 200" in out
        assert '"recorded":1' in out

        decided = sandbox.store.get_request(request_id)
        assert (decided.status, decided.chosen_option) == (RequestStatus.DECIDED, "Approve")
        assert decided.responded_by == REVIEWERS[channel].lstrip("+")
        # The webhook answered the reviewer through the sandbox, as it would through Meta.
        reply = sandbox.messages(before + 1)[before]
        assert (reply["channel"], reply["text"]) == (channel, "✅ Recorded: Approve. Thank you.")

    def test_tap_unknown_request_or_option_fails_with_a_hint(self, sandbox, capsys, monkeypatch):
        for name, value in sandbox.settings.items():
            monkeypatch.setenv(name, value)
        request_id = _prompt(sandbox, "instagram", "run-errors")
        common = ["--sandbox-url", sandbox.url, "--webhook-url", sandbox.webhook_url]

        assert main(["sandbox", "tap", "nosuchrequest", "Approve", *common]) == 1
        assert "matches no prompt; `instagram-hil sandbox messages` lists them" in capsys.readouterr().err
        assert main(["sandbox", "tap", request_id, "Maybe", *common]) == 1
        assert "choose one of Approve, Reject" in capsys.readouterr().err
        wrong_secret = ["sandbox", "tap", request_id, "Approve", *common, "--app-secret", "not-the-secret"]
        assert main(wrong_secret) == 1
        assert "webhook answered 403" in capsys.readouterr().out
        assert sandbox.store.get_request(request_id).status is RequestStatus.PENDING

    def test_commands_say_when_the_sandbox_is_not_running(self, capsys):
        nowhere = f"http://127.0.0.1:{_free_port()}"
        assert main(["sandbox", "messages", "--sandbox-url", nowhere]) == 1
        assert "start `instagram-hil sandbox serve`" in capsys.readouterr().err
