"""What the benchmarks count and how they summarise it: percentiles, process memory, statements, CPU."""

from __future__ import annotations

import math
import os
import resource
import threading
from collections.abc import Sequence
from typing import Any

import psutil


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values`` with linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """Count, min, p50, p90, p99 and max of latencies given in seconds, reported in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    return {
        "count": len(seconds),
        "min_ms": ms(min(seconds) if seconds else None),
        "p50_ms": ms(percentile(seconds, 50)),
        "p90_ms": ms(percentile(seconds, 90)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds) if seconds else None),
    }


def rss_bytes() -> int:
    """Resident set size of this process now."""
    return int(psutil.Process(os.getpid()).memory_info().rss)


def peak_rss_bytes() -> int:
    """Highest resident set size this process has had (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class StatementCounter:
    """Count the statements and commits an engine sends, from any thread.

    :param engine: a SQLAlchemy engine; listeners are removed by :meth:`close`.
    :param on_executed: called (in the executing thread) after every statement, e.g. to time a commit.
    """

    def __init__(self, engine: Any, on_executed: Any = None) -> None:
        from sqlalchemy import event

        self._event = event
        self._engine = engine
        self._lock = threading.Lock()
        self.statements = 0
        self.commits = 0
        self._on_executed = on_executed
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "commit", self._commit)

    def _before(self, *_args: Any) -> None:
        with self._lock:
            self.statements += 1

    def _after(self, *_args: Any) -> None:
        if self._on_executed is not None:
            self._on_executed()

    def _commit(self, *_args: Any) -> None:
        with self._lock:
            self.commits += 1

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.statements, self.commits

    def close(self) -> None:
        self._event.remove(self._engine, "before_cursor_execute", self._before)
        self._event.remove(self._engine, "after_cursor_execute", self._after)
        self._event.remove(self._engine, "commit", self._commit)


class PostgresBackendCpu:
    """CPU seconds spent by the PostgreSQL server processes that serve one ``application_name``.

    The database runs on the same host in these benchmarks, so its backends' CPU is readable from
    ``/proc``: it is a cost of polling too, paid outside the triggerer. Best effort: None when unreadable.

    :param admin_url: a URL to ask ``pg_stat_activity`` with (its own short connection each time).
    :param application_name: the name the measured engine connects with.
    """

    def __init__(self, admin_url: str, application_name: str) -> None:
        self.admin_url = admin_url
        self.application_name = application_name
        self._start: dict[int, float] = {}

    def _pids(self) -> list[int]:
        import psycopg

        with psycopg.connect(_libpq_url(self.admin_url), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (self.application_name,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.Error, OSError):
            return None
        return float(times.user + times.system)

    def start(self) -> None:
        try:
            self._start = {pid: cpu for pid in self._pids() if (cpu := self._cpu(pid)) is not None}
        except Exception:
            self._start = {}

    def stop(self) -> float | None:
        """CPU seconds since :meth:`start`; backends that appeared meanwhile count whole."""
        try:
            pids = self._pids()
        except Exception:
            return None
        total = 0.0
        for pid in pids:
            cpu = self._cpu(pid)
            if cpu is not None:
                total += cpu - self._start.get(pid, 0.0)
        return total


def _libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq takes it (no ``+driver``)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"
