"""What went wrong with the store's database, in words an operator on call can act on.

:func:`failure_cause` names the cause of a failed store operation (read-only, locked, timeout,
refused...), for error messages and logs; :func:`needs_fresh_connection` says whether the connection
that failed must not be used again (the pool then replaces it, so the store recovers without a restart).
Both read driver errors by duck typing (``sqlite_errorname``, ``sqlstate``): no driver import here.
"""

from __future__ import annotations

import re

from sqlalchemy import exc as sa_exc

from airflow_provider_instagram_hil.store.watchdog import TIMEOUT_ATTRIBUTE

_SQLITE_CAUSES = (
    ("SQLITE_READONLY", "read-only"),
    ("SQLITE_BUSY", "locked"),
    ("SQLITE_LOCKED", "locked"),
    ("SQLITE_CANTOPEN", "cannot open the database file"),
    ("SQLITE_FULL", "disk full"),
    ("SQLITE_IOERR", "I/O error"),
    ("SQLITE_CORRUPT", "corrupt database"),
    ("SQLITE_NOTADB", "not a database"),
    ("SQLITE_PERM", "permission denied"),
    ("SQLITE_INTERRUPT", "interrupted"),
)
#: SQLite errors after which a connection stays unusable even once the file is fixed: a file that was
#: read-only when the connection opened it stays read-only to that connection for good.
_SQLITE_STALE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_NOTADB", "SQLITE_CORRUPT")

_PG_CAUSES = {
    "57014": "statement timeout",
    "55P03": "lock timeout",
    "25006": "read-only",
    "40P01": "deadlock",
    "53300": "too many connections",
    "53100": "disk full",
    "28P01": "authentication failed",
    "28000": "authentication failed",
    "3D000": "no such database",
    "57P01": "server shutting down",
    "57P02": "server crashed",
    "57P03": "server not accepting connections yet",
}
#: PostgreSQL errors after which the connection is worth replacing: a primary that became a standby
#: (read-only) or a server restarting answers the next, fresh connection differently.
_PG_STALE = ("25006", "57P01", "57P02", "57P03")

_MESSAGE_CAUSES = (
    ("refused", "refused"),
    ("timeout expired", "timeout"),
    ("timed out", "timeout"),
    ("could not translate host name", "unknown host"),
    ("name or service not known", "unknown host"),
    ("no route to host", "unreachable"),
    ("network is unreachable", "unreachable"),
    ("server closed the connection", "connection lost"),
    ("consuming input failed", "connection lost"),
    ("connection is lost", "connection lost"),
    ("connection reset", "connection lost"),
    ("password authentication failed", "authentication failed"),
    ("readonly database", "read-only"),
    ("read-only", "read-only"),
    ("database is locked", "locked"),
    ("unable to open database", "cannot open the database file"),
)
_POOL_TIMEOUT = re.compile(r"timeout ([0-9.]+)")


def failure_cause(exc: BaseException) -> str:
    """Name the cause of a failed store operation in a few words, e.g. ``read-only`` or ``timeout``.

    Never quotes the statement, its parameters or the URL: safe for logs and exception messages.

    :param exc: what the store caught (a SQLAlchemy error, usually wrapping a driver error).
    """
    seconds = timed_out_after(exc)
    if seconds is not None:
        return f"timeout: no answer within {seconds:g} s"
    if isinstance(exc, sa_exc.TimeoutError):
        match = _POOL_TIMEOUT.search(str(exc))
        within = f" within {float(match.group(1)):g} s" if match else ""
        return f"busy: no free pooled connection{within}"
    for error in _chain(exc):
        errorname = getattr(error, "sqlite_errorname", None)
        if isinstance(errorname, str):
            for prefix, cause in _SQLITE_CAUSES:
                if errorname.startswith(prefix):
                    return cause
        sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(sqlstate, str):
            if sqlstate in _PG_CAUSES:
                return _PG_CAUSES[sqlstate]
            if sqlstate.startswith("08"):
                return "connection lost"
    text = " ".join(str(error) for error in _chain(exc)).lower()
    for needle, cause in _MESSAGE_CAUSES:
        if needle in text:
            return cause
    return type(_driver_error(exc)).__name__


def needs_fresh_connection(exc: BaseException) -> bool:
    """Whether the connection that raised ``exc`` must be replaced rather than used again."""
    if timed_out_after(exc) is not None:
        return True
    for error in _chain(exc):
        errorname = getattr(error, "sqlite_errorname", None)
        if isinstance(errorname, str) and errorname.startswith(_SQLITE_STALE):
            return True
        sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(sqlstate, str) and (sqlstate in _PG_STALE or sqlstate.startswith("08")):
            return True
    return False


def timed_out_after(exc: BaseException) -> float | None:
    """The deadline (seconds) after which the watchdog aborted the call that raised ``exc``, or None."""
    for error in _chain(exc):
        seconds = getattr(error, TIMEOUT_ATTRIBUTE, None)
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            return float(seconds)
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, the driver error it wraps, and their causes; each once."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
    return found


def _driver_error(exc: BaseException) -> BaseException:
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc
