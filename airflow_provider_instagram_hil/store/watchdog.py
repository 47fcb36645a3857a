"""A deadline for every database call, enforced from outside the thread that waits on it.

A PostgreSQL server that stalls (stopped, swapping, behind a hung proxy) keeps its TCP connections open
and its kernel acknowledges every byte: nothing in the client ever times out, and the server cannot
enforce its own ``statement_timeout`` either. So one daemon thread per process watches the calls in
flight; when one outlives its deadline it aborts that connection (PostgreSQL: shuts the socket down, so
the waiting call fails at once with a lost connection; SQLite: ``interrupt()``). The caller sees a
driver error marked with :data:`TIMEOUT_ATTRIBUTE`, and the pool replaces the connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: Attribute set on an exception raised by a call the watchdog aborted: the deadline in seconds.
TIMEOUT_ATTRIBUTE = "instagram_hil_timeout"

Abort = Callable[[Any], None]


@dataclass(eq=False)
class Armed:
    """One call in flight: its connection, deadline and how to abort it."""

    connection: Any
    seconds: float
    abort: Abort
    deadline: float
    fired: bool = field(default=False)


class Watchdog:
    """Aborts calls that outlive their deadline; one idle daemon thread, woken only when needed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[Armed] = set()
        self._thread: threading.Thread | None = None
        self._next_deadline = float("inf")  # what the watchdog thread sleeps until

    def arm(self, connection: Any, seconds: float, abort: Abort) -> Armed:
        """Start watching a call on ``connection`` that must end within ``seconds``."""
        armed = Armed(connection, seconds, abort, time.monotonic() + seconds)
        with self._cond:
            self._armed.add(armed)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ighil-store-watchdog", daemon=True)
                self._thread.start()
            elif armed.deadline < self._next_deadline:
                self._cond.notify()
        return armed

    def disarm(self, armed: Armed) -> None:
        """Stop watching; after this returns the watchdog never touches the connection for this call."""
        with self._cond:
            self._armed.discard(armed)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._armed:
                    self._next_deadline = float("inf")
                    self._cond.wait()
                    continue
                now = time.monotonic()
                due = [armed for armed in self._armed if armed.deadline <= now]
                for armed in due:
                    self._armed.discard(armed)
                    armed.fired = True
                    # Under the lock: a call that disarms first can never be aborted afterwards.
                    _abort_quietly(armed)
                if not due:
                    self._next_deadline = min(armed.deadline for armed in self._armed)
                    self._cond.wait(self._next_deadline - now)
                    self._next_deadline = float("-inf")  # awake: arm() need not notify


def _abort_quietly(armed: Armed) -> None:
    try:
        armed.abort(armed.connection)
    except Exception:  # a connection closed in between: nothing left to abort
        log.debug("Could not abort a store call after %.1f s", armed.seconds, exc_info=True)


def bounded_call(
    watchdog: Watchdog, method: Callable[..., Any], seconds: float, abort: Abort
) -> Callable[..., Any]:
    """Wrap a dialect method whose first argument is a DBAPI cursor or (pooled) connection.

    An exception raised by a call the watchdog aborted carries :data:`TIMEOUT_ATTRIBUTE`.
    """

    def call(target: Any, *args: Any, **kwargs: Any) -> Any:
        armed = watchdog.arm(_dbapi_connection(target), seconds, abort)
        try:
            return method(target, *args, **kwargs)
        except BaseException as exc:
            if armed.fired:
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(exc, TIMEOUT_ATTRIBUTE, seconds)
            raise
        finally:
            watchdog.disarm(armed)

    return call


def _dbapi_connection(target: Any) -> Any:
    """The DBAPI connection behind a cursor, a pooled connection proxy or a DBAPI connection."""
    if hasattr(target, "dbapi_connection"):
        return target.dbapi_connection
    connection = getattr(target, "connection", None)
    if connection is not None and not callable(connection):
        return connection
    return target


def abort_psycopg(connection: Any) -> None:
    """Shut a psycopg connection's socket down: a call waiting on it fails with a lost connection."""
    fileno = connection.pgconn.socket
    with socket.socket(fileno=os.dup(fileno)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


def abort_sqlite(connection: Any) -> None:
    """Interrupt the statement a sqlite3 connection is running (thread-safe by design)."""
    connection.interrupt()
