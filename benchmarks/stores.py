"""Fresh decision stores for one benchmark case, and many pending requests registered in bulk."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from benchmarks import DEFAULT_POSTGRES_URL, POSTGRES_URL_ENV

REVIEWER_ID = "6200000000000001"
OPTIONS = ("Approve", "Reject")
#: Rows per INSERT batch: far below SQLite's and PostgreSQL's bind-parameter limits.
INSERT_BATCH = 2000


@dataclass(frozen=True)
class BenchStore:
    """A store URL for one case; ``application_name`` tags its PostgreSQL connections (else None)."""

    backend: str
    url: str
    application_name: str | None = None


def postgres_base_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


def postgres_version(base_url: str) -> str | None:
    """``server_version`` of the PostgreSQL at ``base_url``, or None when it cannot be reached."""
    try:
        import psycopg

        from benchmarks.measure import _libpq_url

        with psycopg.connect(_libpq_url(base_url), connect_timeout=3, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else None
    except Exception:
        return None


@contextlib.contextmanager
def fresh_store(backend: str, workdir: Path, postgres_url: str | None = None) -> Iterator[BenchStore]:
    """A store URL with no tables yet: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    token = secrets.token_hex(5)
    if backend == "sqlite":
        path = workdir / f"store-{token}.db"
        try:
            yield BenchStore("sqlite", f"sqlite:///{path}")
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    Path(f"{path}{suffix}").unlink()
        return
    if backend != "postgres":
        raise ValueError(f"unknown backend {backend!r}")
    import psycopg

    from benchmarks.measure import _libpq_url

    base = postgres_base_url(postgres_url)
    schema = f"ighil_bench_{token}"
    app_name = f"ighil_bench_{token}"
    with psycopg.connect(_libpq_url(base), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}&application_name={app_name}"
    try:
        yield BenchStore("postgres", url, app_name)
    finally:
        with psycopg.connect(_libpq_url(base), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def register_pending(
    store: object,
    count: int,
    *,
    expires_in: timedelta = timedelta(hours=2),
    recipients: Sequence[str] = (REVIEWER_ID,),
    options: Sequence[str] = OPTIONS,
    prefix: str = "bench",
) -> list[str]:
    """Insert ``count`` pending requests in a few multi-row INSERTs; return their ids in order.

    The rows are what ``DecisionStore.register_request`` writes; going around it only saves one round trip
    per request while setting up.

    :param store: a ``DecisionStore`` (its schema is created if missing).
    """
    from sqlalchemy import insert

    from airflow_provider_instagram_hil.ids import new_request_id
    from airflow_provider_instagram_hil.store import Delivery, RequestStatus
    from airflow_provider_instagram_hil.store.schema import recipients as recipient_rows
    from airflow_provider_instagram_hil.store.schema import requests

    store.ensure_schema()  # type: ignore[attr-defined]
    now = datetime.now(timezone.utc)
    run = f"{prefix}-{secrets.token_hex(4)}"
    rows = [
        {
            "request_id": new_request_id(),
            "dag_id": "bench_dag",
            "run_id": run,
            "task_id": "approve",
            "map_index": index,
            "try_number": 1,
            "source": "operator",
            "options": json.dumps(list(options)),
            "reject_options": "[]",
            "default_option": None,
            "policy": "first",
            "veto": False,
            "created_at": now,
            "expires_at": now + expires_in,
            "status": RequestStatus.PENDING.value,
            "timed_out": False,
        }
        for index in range(count)
    ]
    asked = [
        {
            "request_id": row["request_id"],
            "channel": "instagram",
            "recipient_id": recipient,
            "role": "reviewer",
            "delivery": Delivery.SENT.value,
        }
        for row in rows
        for recipient in recipients
    ]
    engine = store.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for start in range(0, len(rows), INSERT_BATCH):
            conn.execute(insert(requests), rows[start : start + INSERT_BATCH])
        for start in range(0, len(asked), INSERT_BATCH):
            conn.execute(insert(recipient_rows), asked[start : start + INSERT_BATCH])
    return [str(row["request_id"]) for row in rows]
