"""Helpers for the webhook tests (imported by name: this folder is no package)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event

from airflow_provider_instagram_hil.webhook.signature import sign_body

DATA = Path(__file__).parent / "data"
WEBHOOK_PATH = "/webhooks/instagram"

APP_SECRET = "webhook-test-app-secret-7d41"
ROTATED_SECRET = "webhook-test-next-secret-0c9e"
VERIFY_TOKEN = "webhook-test-verify-token-a17f"

IG_REVIEWER = "17841400000000001"
IG_OTHER_REVIEWER = "17841400000000002"
PAGE_REVIEWER = "6543210987654321"
WA_REVIEWER = "16315551234"
STRANGER = "17841499999999999"

QUICK_REPLY_MID = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjEwNzI0NTgzOTc5"
    "MjUxNjozMTc4NzY0MTk0NDQwMTAzNjM1NTA0OTI4NDk1Mjk3MjE2MAZDZD"
)


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """The ``X-Hub-Signature-256`` header Meta sends for ``body`` (the package's signer, this suite's
    secret)."""
    return sign_body(body, secret)


def load_payload(name: str, request_id: str = "", other_request_id: str = "") -> bytes:
    """The raw bytes of ``data/<name>.json`` with the request-id placeholders filled in.

    Substituted in the bytes, never re-serialised: the signature covers exactly what the file holds.
    """
    body = (DATA / f"{name}.json").read_bytes()
    return body.replace(b"__OTHER_REQUEST_ID__", other_request_id.encode()).replace(
        b"__REQUEST_ID__", request_id.encode()
    )


def post_signed(client, body: bytes, *, secret: str = APP_SECRET, headers: dict | None = None, **kwargs):
    """POST ``body`` signed like Meta does, through a Flask test client."""
    all_headers = {"X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json"}
    all_headers.update(headers or {})
    return client.post(WEBHOOK_PATH, data=body, headers=all_headers, **kwargs)


class RecordingSender:
    """A fake ``send(channel, recipient_id, text)`` that remembers every reply, or fails when told to."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.prompts: list[tuple[str, str, str, list[str]]] = []
        self.persistent: list[bool] = []
        self.channels: list[str] = []
        self.fail_with: Exception | None = None
        self.observer = None  # called with (recipient_id, text) before recording, e.g. to look at the store
        self._lock = threading.Lock()

    def send_prompt(
        self,
        channel: str,
        recipient_id: str,
        text: str,
        request_id: str,
        options: Sequence[str],
        *,
        persistent_buttons: bool = False,
    ) -> str:
        """A kept prompt (``on_window_closed="wait"``), recorded in ``prompts`` (and whether it asked for
        persistent buttons in ``persistent``)."""
        with self._lock:
            self.persistent.append(persistent_buttons)
            self.prompts.append((recipient_id, text, request_id, list(options)))
            self.channels.append(channel)
            return f"mid.prompt.{len(self.prompts)}"

    def __call__(self, channel: str, recipient_id: str, text: str) -> str:
        if self.observer is not None:
            self.observer(recipient_id, text)
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            self.sent.append((recipient_id, text))
            self.channels.append(channel)
            return f"mid.reply.{len(self.sent)}"


@contextmanager
def store_outage(engine):
    """Make every statement on ``engine`` fail the way a lost database connection does."""
    dbapi_error = engine.dialect.loaded_dbapi.OperationalError

    def _fail(*_args):
        raise dbapi_error("simulated outage: server closed the connection unexpectedly")

    event.listen(engine, "before_cursor_execute", _fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", _fail)
