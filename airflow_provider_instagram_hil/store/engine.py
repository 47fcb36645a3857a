"""Engines for the decision store: every database call bounded in time, failed connections replaced.

A store that is sick but not dead (a stalled server, a lock held for minutes, a SQLite file that was
read-only when a pooled connection opened it) must cost the webhook seconds, not its threads: Meta wants
an answer within 5 s, and a 503 makes it deliver again. So an engine built here

- bounds pool checkout, connecting, every statement, commit and rollback, and lock waits
  (:class:`StoreTimeouts`): on PostgreSQL ``connect_timeout``, ``statement_timeout`` and
  ``lock_timeout`` where the server can enforce them, and the :mod:`watchdog` where it cannot (a stalled
  server); on SQLite the busy timeout and ``interrupt()``;
- replaces a connection after an error that leaves it unusable (:func:`needs_fresh_connection`), so the
  next operation gets a fresh one and the store recovers without a restart;
- leaves naming the cause to :func:`~airflow_provider_instagram_hil.store.failures.failure_cause`, for
  the store's error messages.

SQLite files also get WAL mode (readers never block the writer) and ``synchronous=NORMAL`` (durable
across process crashes, which is what WAL promises).
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, ExceptionContext, make_url

from airflow_provider_instagram_hil.store.failures import needs_fresh_connection
from airflow_provider_instagram_hil.store.watchdog import (
    TIMEOUT_ATTRIBUTE,
    Abort,
    Watchdog,
    abort_psycopg,
    abort_sqlite,
    bounded_call,
)

#: One watchdog thread per process, shared by every engine.
WATCHDOG = Watchdog()
#: The watchdog waits this much longer than the server's own ``statement_timeout``: a server that is
#: alive cancels the statement itself and the connection stays usable.
WATCHDOG_GRACE = 0.5
_BOUNDED_METHODS = ("do_execute", "do_execute_no_params", "do_executemany", "do_commit", "do_rollback")


@dataclass(frozen=True)
class StoreTimeouts:
    """Time limits of the store's database calls, in seconds (``[instagram_hil] store_*_timeout``).

    The defaults answer Meta well within its 5 s: a stalled server costs a request at most ``connect``
    seconds (the health check of a pooled connection, or a new connection) or ``statement`` + 0.5 s
    (a statement already sent), then the webhook answers 503.

    :param connect: opening a connection; also the health check of a pooled one. PostgreSQL counts it
        in whole seconds, at least 2 (libpq's rule).
    :param statement: one statement, commit or rollback.
    :param lock: waiting for a lock held by another transaction (SQLite: the busy timeout).
    :param pool: waiting for a free connection of the engine's pool.
    """

    connect: float = 2.0
    statement: float = 2.5
    lock: float = 2.0
    pool: float = 1.0

    def __post_init__(self) -> None:
        for name in ("connect", "statement", "lock", "pool"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"store timeout {name} must be a positive number of seconds, got {value!r}")


def build_engine(url: str, timeouts: StoreTimeouts | None = None) -> Engine:
    """Create an engine for ``url`` whose every call is bounded by ``timeouts`` (default: the defaults).

    :param url: SQLAlchemy URL; ``postgresql://`` uses psycopg 3 (the ``[postgres]`` extra).
    :param timeouts: time limits; None uses :class:`StoreTimeouts` defaults.
    """
    timeouts = timeouts or StoreTimeouts()
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        # One driver for SQLAlchemy 1.4, 2.0 (default psycopg2) and 2.1 (default psycopg):
        # the [postgres] extra's.
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    abort: Abort | None = None
    if backend == "sqlite":
        engine = _sqlite_engine(parsed.database or "", url, timeouts)
        abort = abort_sqlite
    elif backend == "postgresql":
        engine = create_engine(
            parsed,
            pool_pre_ping=True,
            pool_timeout=timeouts.pool,
            connect_args={"connect_timeout": max(2, math.ceil(timeouts.connect))},
            future=True,
        )
        abort = abort_psycopg if parsed.get_driver_name() == "psycopg" else None
        _set_postgres_timeouts(engine, timeouts, abort)
    else:  # not tested here: only the pool checkout is bounded
        engine = create_engine(parsed, pool_pre_ping=True, pool_timeout=timeouts.pool, future=True)
    if abort is not None:
        _bound_dialect_calls(engine, timeouts, abort)
    event.listen(engine, "handle_error", _replace_broken_connections)
    return engine


def _sqlite_engine(database: str, url: str, timeouts: StoreTimeouts) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        # If this fails, the first connection fails too and the store reports StoreUnavailableError.
        with contextlib.suppress(OSError):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    file_backed = bool(database) and database != ":memory:" and "mode=memory" not in database
    engine = create_engine(
        url,
        connect_args={"timeout": timeouts.lock, "check_same_thread": False},
        future=True,
        # Only the file pool (QueuePool) takes a checkout timeout; in-memory databases use another.
        **({"pool_timeout": timeouts.pool} if file_backed else {}),
    )
    busy_ms = int(timeouts.lock * 1000)

    @event.listens_for(engine, "connect")
    def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        _enable_wal(cursor, timeouts.lock)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _set_postgres_timeouts(engine: Engine, timeouts: StoreTimeouts, abort: Abort | None) -> None:
    """Let the server end long statements and lock waits itself, keeping the connection usable."""
    statement_ms, lock_ms = int(timeouts.statement * 1000), int(timeouts.lock * 1000)

    @event.listens_for(engine, "connect")
    def _server_timeouts(dbapi_connection: Any, _record: Any) -> None:
        armed = WATCHDOG.arm(dbapi_connection, timeouts.connect, abort) if abort else None
        try:
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            cursor = dbapi_connection.cursor()
            cursor.execute(
                f"SELECT set_config('statement_timeout', '{statement_ms}', false), "
                f"set_config('lock_timeout', '{lock_ms}', false)"
            )
            cursor.close()
            dbapi_connection.autocommit = autocommit
        finally:
            if armed is not None:
                WATCHDOG.disarm(armed)


def _bound_dialect_calls(engine: Engine, timeouts: StoreTimeouts, abort: Abort) -> None:
    """Route every DBAPI call of ``engine`` through the watchdog (the dialect object is the engine's own)."""
    dialect: Any = engine.dialect
    for name in _BOUNDED_METHODS:
        bound = timeouts.statement + WATCHDOG_GRACE
        setattr(dialect, name, bounded_call(WATCHDOG, getattr(dialect, name), bound, abort))
    ping = bounded_call(WATCHDOG, dialect.do_ping, timeouts.connect, abort)

    def do_ping(dbapi_connection: Any) -> bool:
        # A ping the watchdog cut short must not make the pool reconnect at once to the same stalled
        # server (that would cost another ``connect`` seconds): fail this checkout instead.
        try:
            return bool(ping(dbapi_connection))
        except dialect.loaded_dbapi.Error as exc:
            if getattr(exc, TIMEOUT_ATTRIBUTE, None) is None:
                raise
            error = sa_exc.OperationalError("pool pre-ping", None, exc)
            setattr(error, TIMEOUT_ATTRIBUTE, timeouts.connect)
            raise error from exc

    dialect.do_ping = do_ping


def _replace_broken_connections(context: ExceptionContext) -> None:
    """Have the pool discard a connection after an error that leaves it unusable (read-only, timeout...)."""
    if not context.is_disconnect and needs_fresh_connection(context.original_exception):
        context.is_disconnect = True


def _enable_wal(cursor: Any, seconds: float) -> None:
    """Switch the file to WAL mode, waiting out other processes doing the same.

    SQLite answers "database is locked" at once, without the busy handler, when two connections switch a
    fresh file to WAL together (webhook and triggerer starting side by side); the mode then persists.
    """
    deadline = time.monotonic() + seconds
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
