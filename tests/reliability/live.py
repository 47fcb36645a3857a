"""The real ``instagram-hil webhook`` process (via ``SandboxStack``) and a sender that retries like Meta."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import requests

from airflow_provider_instagram_hil.sandbox.graph_api import SandboxGraphApi
from airflow_provider_instagram_hil.sandbox.stack import SandboxStack

from .support import REPO, TapSpec, signed_headers, tap_body

OUTCOME_LINE = re.compile(r"Tap \S+ on request \S+: (\w+)")


class LiveWebhook:
    """``instagram-hil webhook`` on loopback, replying through an in-process sandbox Graph API.

    Only the webhook half of :class:`SandboxStack` is started (no Airflow database is needed): its
    environment, connection and same-port restart are reused as they are.

    :param store_url: the decision store the webhook writes to.
    :param home: AIRFLOW_HOME for the process (its log lands in ``home/logs/webhook.log``).
    """

    def __init__(self, store_url: str, home: Path) -> None:
        self.stack = SandboxStack(REPO / "example_dags", home=home, store_url=store_url)
        self.graph = SandboxGraphApi(token=self.stack.token, retry_after=0.05)
        self.store_url = store_url
        self.starts = 0

    def start(self) -> LiveWebhook:
        self.stack.home.mkdir(parents=True, exist_ok=True)
        self.graph.start()
        self.stack.graph_url = self.graph.url
        self.restart()
        return self

    def restart(self) -> None:
        """Start the webhook (again, on the same port once it had one)."""
        self.stack.start_webhook()
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL the webhook process: no shutdown, no flush, no goodbye."""
        assert self.stack.webhook is not None
        self.stack.webhook.kill()

    def stop(self) -> None:
        self.stack.stop()
        self.graph.stop()

    @property
    def url(self) -> str:
        return self.stack.webhook_url

    @property
    def app_secret(self) -> str:
        return self.stack.app_secret

    def output(self) -> str:
        """Everything every webhook process so far printed."""
        assert self.stack.webhook is not None
        return self.stack.webhook.output()

    def replies_to(self, recipients: Collection[str], count: int, timeout: float = 60.0) -> list[dict]:
        """Wait until the sandbox got ``count`` messages for ``recipients``; return them all, oldest first.

        Waits on the sandbox's own condition (each wake-up is a new message), never on a clock.
        """
        deadline = time.monotonic() + timeout
        while True:
            seen = self.graph.messages
            found = [m for m in seen if m["recipient_id"] in recipients]
            remaining = deadline - time.monotonic()
            if len(found) >= count or remaining <= 0:
                if len(found) < count:
                    raise TimeoutError(f"{len(found)} of {count} replies arrived within {timeout:g} s")
                return found
            with contextlib.suppress(TimeoutError):
                self.graph.wait_for_messages(len(seen) + 1, timeout=remaining)

    def outcome_counts(self) -> dict[str, int]:
        """How often the webhook logged each store outcome of a tap ("recorded", "duplicate", ...)."""
        counts: dict[str, int] = {}
        for outcome in OUTCOME_LINE.findall(self.output()):
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts


@dataclass
class Delivery:
    """One webhook POST as Meta would retry it until it gets a 200."""

    taps: list[TapSpec]
    body: bytes = b""
    attempts: int = 0
    status: int | None = None
    recorded: int | None = None
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.body = self.body or tap_body(self.taps)


class RetryingSender:
    """Delivers like Meta: a connection error, a timeout or a 5xx means "deliver again" (bounded).

    :param url: the webhook URL (its port stays the same across restarts).
    :param app_secret: signs every body.
    :param server_up: cleared while the server is down; a failed sender waits for it, not for a clock.
    :param max_attempts: attempts per delivery before the sender gives up (the test then fails).
    """

    def __init__(
        self, url: str, app_secret: str, server_up: threading.Event, *, max_attempts: int = 40
    ) -> None:
        self.url = url
        self.app_secret = app_secret
        self.server_up = server_up
        self.max_attempts = max_attempts
        self.retries = 0
        self.in_flight = 0
        self.acknowledged_taps = 0
        self._lock = threading.Condition()

    def wait_for_acknowledged(self, taps: int, timeout: float) -> bool:
        """Block until at least ``taps`` taps were acknowledged with a 200."""
        with self._lock:
            return self._lock.wait_for(lambda: self.acknowledged_taps >= taps, timeout)

    def deliver(self, session: requests.Session, delivery: Delivery) -> None:
        headers = signed_headers(delivery.body, self.app_secret)
        while delivery.attempts < self.max_attempts:
            delivery.attempts += 1
            with self._lock:
                self.in_flight += 1
            try:
                response = session.post(self.url, data=delivery.body, headers=headers, timeout=15)
            except requests.RequestException as exc:
                delivery.errors.append(type(exc).__name__)
                response = None
            finally:
                with self._lock:
                    self.in_flight -= 1
            if response is not None and response.status_code == 200:
                delivery.status = 200
                delivery.recorded = int(response.json()["recorded"])
                with self._lock:
                    self.acknowledged_taps += len(delivery.taps)
                    self._lock.notify_all()
                return
            if response is not None:
                delivery.status = response.status_code
                delivery.errors.append(f"HTTP {response.status_code}")
                if response.status_code < 500:
                    return  # Meta does not retry a 4xx; the test reports it as a failure
            with self._lock:
                self.retries += 1
            if not self.server_up.wait(timeout=90):
                delivery.errors.append("server did not come back within 90 s")
                return
