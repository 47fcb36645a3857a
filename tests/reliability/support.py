"""Shared pieces of the reliability suite: scale, figures, PostgreSQL schemas, signed taps, requests."""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_provider_instagram_hil.payloads import encode_payload
from airflow_provider_instagram_hil.sandbox.reviewer import quick_reply_event
from airflow_provider_instagram_hil.store import DecisionStore
from airflow_provider_instagram_hil.webhook.signature import sign_body

REPO = Path(__file__).resolve().parents[2]
SOAK = os.environ.get("INSTAGRAM_HIL_SOAK", "").strip() not in ("", "0")
POSTGRES_ENV = "INSTAGRAM_HIL_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "INSTAGRAM_HIL_REQUIRE_POSTGRES"
OPTIONS = ("Approve", "Reject", "Hold")
SIGNATURE_HEADER = "X-Hub-Signature-256"


def scaled(fast: int, soak: int) -> int:
    """``soak`` under ``INSTAGRAM_HIL_SOAK=1`` (``make soak``), else ``fast`` (``make test``)."""
    return soak if SOAK else fast


class Figures:
    """Numbers the tests measured, printed as one table at the end of the run (see conftest).

    Under pytest-xdist each worker keeps the operations of its current test (:meth:`take_operations`);
    they travel to the controller with the test's report and are replayed there (:meth:`replay`).
    """

    def __init__(self) -> None:
        self._values: dict[str, dict[str, float]] = {}
        self._operations: list[tuple[str, str, str, float]] = []
        self._lock = threading.Lock()

    def add(self, scope: str, name: str, value: float = 1) -> None:
        with self._lock:
            row = self._values.setdefault(scope, {})
            row[name] = row.get(name, 0) + value
            self._operations.append(("add", scope, name, value))

    def set(self, scope: str, name: str, value: float) -> None:
        with self._lock:
            self._values.setdefault(scope, {})[name] = value
            self._operations.append(("set", scope, name, value))

    def take_operations(self) -> list[tuple[str, str, str, float]]:
        """The operations since the last call (and forget them)."""
        with self._lock:
            taken, self._operations = self._operations, []
            return taken

    def replay(self, operations: list[tuple[str, str, str, float]]) -> None:
        """Apply a worker's operations here."""
        for operation, scope, name, value in operations:
            getattr(self, operation)(scope, name, value)

    def rows(self) -> list[tuple[str, dict[str, float]]]:
        with self._lock:
            return [(scope, dict(values)) for scope, values in self._values.items()]


FIGURES = Figures()
#: The user property that carries a worker's figures to the controller (pytest-xdist).
FIGURES_PROPERTY = "reliability_figures"


def igsid() -> str:
    """A random Instagram-scoped id (digits, like Meta's)."""
    return "62" + str(secrets.randbelow(10**14)).zfill(14)


# -- PostgreSQL ---------------------------------------------------------------------------------------


def postgres_base_url() -> str:
    """The test server's URL; skip without it, fail when ``INSTAGRAM_HIL_REQUIRE_POSTGRES=1``."""
    url = os.environ.get(POSTGRES_ENV)
    required = os.environ.get(REQUIRE_POSTGRES_ENV) == "1"
    if not url:
        if required:
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_ENV} is not set")
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    return url


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema (usable by child processes), dropped after."""
    from sqlalchemy import text

    from airflow_provider_instagram_hil.store.engine import build_engine

    base = postgres_base_url()
    admin = build_engine(base)
    schema = f"ighil_rel_{secrets.token_hex(5)}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"PostgreSQL at {POSTGRES_ENV} is unusable: {type(exc).__name__}: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {type(exc).__name__}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# -- taps -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TapSpec:
    """One reviewer tapping one option of one request, as one webhook event with its own ``mid``."""

    request_id: str
    option: str
    sender: str
    mid: str


def new_tap(request_id: str, option: str, sender: str) -> TapSpec:
    return TapSpec(request_id, option, sender, "aWdfZAG1faXRlbToxOklH" + secrets.token_hex(16))


def tap_body(taps: Sequence[TapSpec]) -> bytes:
    """One Meta delivery carrying ``taps`` (several entries in one POST, as Meta batches them)."""
    entries = [
        quick_reply_event(encode_payload(t.request_id, t.option), sender_id=t.sender, mid=t.mid)["entry"][0]
        for t in taps
    ]
    return json.dumps({"object": "instagram", "entry": entries}, separators=(",", ":")).encode()


def signed_headers(body: bytes, secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign_body(body, secret)}


def register_requests(
    store: DecisionStore,
    count: int,
    *,
    recipients_per_request: int = 2,
    expires_in: timedelta = timedelta(hours=1),
    default_option: str | None = None,
    dag_id: str = "reliability",
) -> list[tuple[str, tuple[str, ...]]]:
    """Register ``count`` pending requests, each with its own reviewers; return (id, recipients) pairs."""
    run = secrets.token_hex(4)
    expires_at = datetime.now(timezone.utc) + expires_in
    made = []
    for n in range(count):
        request, created = store.register_request(
            dag_id=dag_id,
            run_id=f"run_{run}",
            task_id="approve",
            map_index=n,
            recipients=[igsid() for _ in range(recipients_per_request)],
            options=list(OPTIONS),
            expires_at=expires_at,
            default_option=default_option,
        )
        assert created
        made.append((request.request_id, tuple(r.recipient_id for r in request.recipients)))
    return made
