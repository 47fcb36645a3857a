"""The whole approval flow on one machine: Airflow, the sandbox Graph API and the real webhook.

Used by ``make demo``, the end-to-end tests and the benchmarks. Everything runs as real processes
talking HTTP over loopback; only Meta is replaced, by :mod:`.graph_api`. The three channels are set up
as a deployment would set them up: one connection each (``instagram_default``, ``messenger_default``,
``whatsapp_default``), each with its own token, app secret and verify token, all named in
``[instagram_hil]``, and the sandbox posts WhatsApp status callbacks to the webhook.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import create_engine, text

from airflow_provider_instagram_hil.sandbox.graph_answers import SANDBOX_PHONE_NUMBER_ID
from airflow_provider_instagram_hil.sandbox.processes import ManagedProcess, ProcessFailedError
from airflow_provider_instagram_hil.sandbox.reviewer import post_signed, tap_event, text_event
from airflow_provider_instagram_hil.store import DecisionStore
from airflow_provider_instagram_hil.store.urls import default_store_url

SANDBOX_READY = r"SANDBOX_GRAPH_API_URL=(\S+)"
WEBHOOK_READY = r"Serving Instagram webhook on (http://\S+)"
DEFAULT_REVIEWER_ID = "6200000000000001"
#: The Messenger reviewer (a PSID) and the WhatsApp reviewer (a number; WhatsApp names them by its digits).
DEFAULT_MESSENGER_REVIEWER_ID = "7100000000000001"
DEFAULT_WHATSAPP_REVIEWER = "+15550100001"
#: The approved WhatsApp template the sandbox knows, for the template fallback.
TEMPLATE_NAME = "approval_request"
TEMPLATE_LANGUAGE = "en_US"
TEMPLATE_BODY = "Approval needed: {{1}}"


class SandboxStack:
    """A temporary AIRFLOW_HOME with the sandbox Graph API and ``instagram-hil webhook`` running.

    :param dags_folder: folder holding the DAGs to test (e.g. the repo's ``example_dags``).
    :param home: AIRFLOW_HOME to use; a new temporary folder by default (removed on exit).
    :param store_url: decision store URL; a SQLite file in the home by default.
    :param poll_interval: ``[instagram_hil] poll_interval`` for the triggers.
    :param extra_env: more environment for every process (Airflow variables, say).
    :param live_connection: a real ``AIRFLOW_CONN_INSTAGRAM_DEFAULT`` value (JSON or URI): no sandbox is
        started and prompts go to Meta for real.
    :param webhook_host: interface the webhook binds to.
    :param webhook_port: its port; 0 picks a free one.
    """

    def __init__(
        self,
        dags_folder: Path,
        *,
        home: Path | None = None,
        store_url: str | None = None,
        poll_interval: float = 0.5,
        reviewer_id: str = DEFAULT_REVIEWER_ID,
        extra_env: Mapping[str, str] | None = None,
        live_connection: str | None = None,
        webhook_host: str = "127.0.0.1",
        webhook_port: int = 0,
    ) -> None:
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="ighil-stack-"))
        self.dags_folder = Path(dags_folder).resolve()
        self.store_url = store_url or default_store_url(self.home)
        self.poll_interval = poll_interval
        self.reviewer_id = reviewer_id
        self.token = "sandbox-token-" + secrets.token_hex(8)
        self.app_secret = "sandbox-app-secret-" + secrets.token_hex(8)
        self.verify_token = "sandbox-verify-" + secrets.token_hex(4)
        self.messenger_reviewer_id = DEFAULT_MESSENGER_REVIEWER_ID
        self.whatsapp_reviewer = DEFAULT_WHATSAPP_REVIEWER
        #: Each channel connection's own secrets (one Meta app may serve all three; here they differ, so
        #: the webhook must accept every connection's app secret).
        self.channel_secrets = {
            channel: {
                "token": f"sandbox-{channel}-token-" + secrets.token_hex(8),
                "app_secret": f"sandbox-{channel}-app-secret-" + secrets.token_hex(8),
                "verify_token": f"sandbox-{channel}-verify-" + secrets.token_hex(4),
            }
            for channel in ("messenger", "whatsapp")
        }
        self.extra_env = dict(extra_env or {})
        self.live_connection = live_connection
        self.webhook_host = webhook_host
        self.webhook_port = webhook_port
        self.graph_url = ""
        self.webhook_url = ""
        self.sandbox: ManagedProcess | None = None
        self.webhook: ManagedProcess | None = None
        self._http = requests.Session()

    # -- life cycle ---------------------------------------------------------------------------------

    def __enter__(self) -> SandboxStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Migrate Airflow's database, then start the sandbox Graph API and the webhook."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.run_airflow("db", "migrate", timeout=300)
        if self.live_connection is None:
            self.start_sandbox()
        self.start_webhook()

    def start_sandbox(self) -> None:
        """Start the sandbox Graph API on a free port."""
        self.sandbox = ManagedProcess(
            "sandbox-graph-api",
            [
                sys.executable,
                "-m",
                "airflow_provider_instagram_hil.sandbox.graph_api",
                "--port",
                "0",
                "--token",
                self.token,
                "--page-token",
                self.channel_secrets["messenger"]["token"],
                "--whatsapp-token",
                self.channel_secrets["whatsapp"]["token"],
            ],
            env=self.env(),
            log_path=self.home / "logs" / "sandbox-graph-api.log",
        )
        match = self.sandbox.start_and_wait(SANDBOX_READY)
        self.graph_url = match.group(1)

    def start_webhook(self, *extra_args: str) -> ManagedProcess:
        """Start (or restart) ``instagram-hil webhook`` on a free port."""
        port = str(urlsplit(self.webhook_url).port) if self.webhook_url else str(self.webhook_port)
        self.webhook = ManagedProcess(
            "webhook",
            [
                sys.executable,
                "-m",
                "airflow_provider_instagram_hil.cli",
                "webhook",
                "--host",
                self.webhook_host,
                "--port",
                port,
                *extra_args,
            ],
            env=self.env(),
            log_path=self.home / "logs" / "webhook.log",
        )
        self.webhook_url = self.webhook.start_and_wait(WEBHOOK_READY).group(1)
        if self.graph_url:
            self._prepare_whatsapp()
        return self.webhook

    def _prepare_whatsapp(self) -> None:
        """Let the sandbox post signed status callbacks to the webhook, and approve the template."""
        whatsapp = self.channel_secrets["whatsapp"]
        for path, spec in (
            ("status_webhook", {"url": self.webhook_url, "app_secret": whatsapp["app_secret"]}),
            (
                "templates",
                {
                    "name": TEMPLATE_NAME,
                    "language": TEMPLATE_LANGUAGE,
                    "body": TEMPLATE_BODY,
                    "buttons": ["Approve", "Reject"],
                },
            ),
        ):
            self._http.post(f"{self.graph_url}/_sandbox/{path}", json=spec, timeout=10).raise_for_status()

    def stop(self) -> None:
        for proc in (self.webhook, self.sandbox):
            if proc is not None:
                proc.stop()
        self._http.close()
        DecisionStore.for_url(self.store_url).dispose()
        if self._own_home and not os.environ.get("INSTAGRAM_HIL_KEEP_STACK"):
            shutil.rmtree(self.home, ignore_errors=True)

    # -- environment --------------------------------------------------------------------------------

    def connection(self) -> dict[str, Any]:
        """The ``instagram_default`` connection, pointing at the sandbox Graph API."""
        return {
            "conn_type": "instagram",
            "host": self.graph_url or "http://127.0.0.1:9",
            "password": self.token,
            "extra": {
                "app_secret": self.app_secret,
                "verify_token": self.verify_token,
                "api_version": "v25.0",
                "timeout": 10,
            },
        }

    def channel_connection(self, channel: str) -> dict[str, Any]:
        """The ``messenger_default`` or ``whatsapp_default`` connection, pointing at the sandbox."""
        own = self.channel_secrets[channel]
        extra: dict[str, Any] = {
            "app_secret": own["app_secret"],
            "verify_token": own["verify_token"],
            "api_version": "v25.0",
            "timeout": 10,
        }
        if channel == "whatsapp":
            extra["phone_number_id"] = SANDBOX_PHONE_NUMBER_ID
        return {
            "conn_type": channel,
            "host": self.graph_url or "http://127.0.0.1:9",
            "password": own["token"],
            "extra": extra,
        }

    def env(self) -> dict[str, str]:
        """Environment for every process of the stack."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "0",
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "0",
                "AIRFLOW__INSTAGRAM_HIL__STORE_URL": self.store_url,
                "AIRFLOW__INSTAGRAM_HIL__POLL_INTERVAL": str(self.poll_interval),
                "AIRFLOW_CONN_INSTAGRAM_DEFAULT": self.live_connection or json.dumps(self.connection()),
                "AIRFLOW_VAR_INSTAGRAM_HIL_REVIEWER_ID": self.reviewer_id,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.live_connection is None:
            env.update(
                {
                    "AIRFLOW_CONN_MESSENGER_DEFAULT": json.dumps(self.channel_connection("messenger")),
                    "AIRFLOW_CONN_WHATSAPP_DEFAULT": json.dumps(self.channel_connection("whatsapp")),
                    "AIRFLOW__INSTAGRAM_HIL__MESSENGER_CONN_ID": "messenger_default",
                    "AIRFLOW__INSTAGRAM_HIL__WHATSAPP_CONN_ID": "whatsapp_default",
                    "AIRFLOW_VAR_INSTAGRAM_HIL_MESSENGER_REVIEWER_ID": self.messenger_reviewer_id,
                    "AIRFLOW_VAR_INSTAGRAM_HIL_WHATSAPP_REVIEWER": self.whatsapp_reviewer,
                }
            )
        env.update(self.extra_env)
        return env

    def airflow_bin(self) -> str:
        return str(Path(sys.executable).with_name("airflow"))

    def run_airflow(self, *args: str, timeout: float = 120) -> str:
        """Run one ``airflow`` CLI command to completion; return its output or raise with it."""
        proc = ManagedProcess(
            f"airflow {args[0]}",
            [self.airflow_bin(), *args],
            env=self.env(),
            log_path=self.home / "logs" / "cli.log",
        )
        proc.start()
        code = proc.wait(timeout)
        if code != 0:
            raise ProcessFailedError(f"airflow {' '.join(args)} exited {code}; see {proc.log_path}")
        return proc.output()

    # -- the flow -----------------------------------------------------------------------------------

    def start_dag_test(self, dag_id: str, *, env: Mapping[str, str] | None = None) -> ManagedProcess:
        """Start ``airflow dags test DAG_ID`` in the background; ``.wait()`` for its exit code."""
        proc = ManagedProcess(
            f"dags test {dag_id}",
            [self.airflow_bin(), "dags", "test", dag_id],
            env={**self.env(), **(env or {})},
            log_path=self.home / "logs" / f"dags-test-{dag_id}-{secrets.token_hex(3)}.log",
        )
        proc.start()
        return proc

    def sent_messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Every message the sandbox Graph API received (on ``channel``, when given)."""
        params = {"channel": channel} if channel else {}
        response = self._http.get(f"{self.graph_url}/_sandbox/messages", params=params, timeout=10)
        response.raise_for_status()
        return list(response.json()["messages"])

    def wait_for_messages(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        """Block until the sandbox has received ``count`` messages of any kind; return them all."""
        response = self._http.get(
            f"{self.graph_url}/_sandbox/messages",
            params={"min_count": count, "wait": timeout},
            timeout=timeout + 10,
        )
        response.raise_for_status()
        messages = list(response.json()["messages"])
        if len(messages) < count:
            raise TimeoutError(
                f"{len(messages)} of {count} messages reached the sandbox within {timeout:.0f}s"
            )
        return messages

    def prompt_count(self, channel: str | None = None) -> int:
        """How many prompts (messages with options to tap) the sandbox has received so far."""
        return sum(1 for message in self.sent_messages(channel) if message.get("options"))

    def wait_for_prompt(
        self, count: int = 1, timeout: float = 120, channel: str | None = None
    ) -> dict[str, Any]:
        """Block until the sandbox has received ``count`` prompts (on ``channel``); return the last."""
        params: dict[str, Any] = {"min_count": count, "with_options": 1, "wait": timeout}
        if channel:
            params["channel"] = channel
        response = self._http.get(f"{self.graph_url}/_sandbox/messages", params=params, timeout=timeout + 10)
        response.raise_for_status()
        prompts = [m for m in response.json()["messages"] if m.get("options")]
        if len(prompts) < count:
            raise TimeoutError(f"no prompt reached the sandbox Graph API within {timeout:.0f}s")
        return prompts[count - 1]

    def reviewer_of(self, channel: str) -> str:
        """The example DAGs' reviewer on ``channel``, as that channel's webhook names the sender."""
        if channel == "messenger":
            return self.messenger_reviewer_id
        if channel == "whatsapp":
            return self.whatsapp_reviewer.lstrip("+")
        return self.reviewer_id

    def set_window(self, recipient_id: str, *, open_: bool) -> None:
        """Open or close ``recipient_id``'s 24-hour window in the sandbox."""
        spec = {"recipient_id": recipient_id, "open": open_}
        self._http.post(f"{self.graph_url}/_sandbox/window", json=spec, timeout=10).raise_for_status()

    def handshake(self) -> str:
        """Do Meta's subscription handshake against the webhook; return the echoed challenge."""
        challenge = secrets.token_hex(4)
        response = self._http.get(
            self.webhook_url,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": self.verify_token,
                "hub.challenge": challenge,
            },
            timeout=10,
        )
        if response.status_code != 200 or response.text != challenge:
            raise ProcessFailedError(f"webhook handshake failed: HTTP {response.status_code}")
        return response.text

    def tap(self, prompt: dict[str, Any], option: str, *, sender_id: str | None = None) -> requests.Response:
        """Tap ``option`` on ``prompt`` as the reviewer: Meta's signed webhook POST to our webhook, in the
        shape of the prompt's channel, signed with that channel's app secret."""
        channel = prompt.get("channel", "instagram")
        event = tap_event(prompt, option, sender_id=sender_id or self.reviewer_of(channel))
        secret = (
            self.channel_secrets[channel]["app_secret"]
            if channel in self.channel_secrets
            else self.app_secret
        )
        return post_signed(self.webhook_url, event, secret, session=self._http)

    def type_text(self, text: str, *, sender_id: str | None = None) -> requests.Response:
        """Type ``text`` to the Instagram account as the reviewer (where no buttons show): Meta's signed
        webhook POST of a plain message."""
        event = text_event(text, sender_id=sender_id or self.reviewer_id)
        return post_signed(self.webhook_url, event, self.app_secret, session=self._http)

    def store(self) -> DecisionStore:
        return DecisionStore.for_url(self.store_url)

    def task_states(self, dag_id: str) -> dict[str, str | None]:
        """Task states of the latest run of ``dag_id``, read from Airflow's metadata database."""
        engine = create_engine(f"sqlite:///{self.home / 'airflow.db'}")
        try:
            with engine.connect() as conn:
                run_id = conn.execute(
                    text("SELECT run_id FROM dag_run WHERE dag_id = :d ORDER BY id DESC LIMIT 1"),
                    {"d": dag_id},
                ).scalar()
                rows = conn.execute(
                    text("SELECT task_id, state FROM task_instance WHERE dag_id = :d AND run_id = :r"),
                    {"d": dag_id, "r": run_id},
                ).all()
        finally:
            engine.dispose()
        return {task_id: state for task_id, state in rows}
