"""Engines for the decision store: SQLite tuned for several processes, anything else as given."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000


def display_url(url: str) -> str:
    """Render ``url`` for logs and messages, with any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable store URL>"


def build_engine(url: str) -> Engine:
    """Create an engine for ``url``.

    SQLite files get WAL mode (readers never block the writer), a busy timeout (writers queue instead
    of failing) and ``synchronous=NORMAL`` (durable across process crashes, which is what WAL promises).
    """
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        # One driver for SQLAlchemy 1.4, 2.0 (default psycopg2) and 2.1 (default psycopg):
        # the [postgres] extra's.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, future=True)

    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        # If this fails, the first connection fails too and the store reports StoreUnavailableError.
        with contextlib.suppress(OSError):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        future=True,
    )

    @event.listens_for(engine, "connect")
    def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL mode, waiting out other processes doing the same.

    SQLite answers "database is locked" at once, without the busy handler, when two connections switch a
    fresh file to WAL together (webhook and triggerer starting side by side); the mode then persists.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
