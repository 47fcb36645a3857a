"""The decision store's database: its engine, the schema made ready once, and bounded transactions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Self, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from airflow_provider_instagram_hil.exceptions import StoreUnavailableError
from airflow_provider_instagram_hil.store import bootstrap
from airflow_provider_instagram_hil.store.engine import StoreTimeouts, build_engine
from airflow_provider_instagram_hil.store.failures import failure_cause
from airflow_provider_instagram_hil.store.urls import display_url

T = TypeVar("T")


class StoreDatabase:
    """One database of the decision store, in any SQLAlchemy dialect.

    :param url: SQLAlchemy URL, e.g. ``sqlite:////opt/airflow/instagram_hil.db`` or ``postgresql://...``.
    :param create: create the tables when missing (default True).
    :param engine: the engine to use (default: one built by :func:`~.engine.build_engine`).
    """

    _instances: dict[str, StoreDatabase] = {}
    _instances_lock = threading.Lock()

    def __init__(self, url: str, *, create: bool = True, engine: Engine | None = None) -> None:
        self.url = url
        self.display_url = display_url(url)
        self.engine = engine or build_engine(url)
        self._ready = False
        self._create = create
        self._ready_lock = threading.Lock()
        self._attempts = 0
        self._failure: StoreUnavailableError | None = None

    @classmethod
    def for_url(cls, url: str, timeouts: StoreTimeouts | None = None) -> Self:
        """Return the process-wide store for ``url`` (one engine and pool per URL).

        :param timeouts: the time limits of its engine, used when this call creates it.
        """
        with cls._instances_lock:
            store = cls._instances.get(url)
            if not isinstance(store, cls):
                store = cls._instances[url] = cls(url, engine=build_engine(url, timeouts))
            return store

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display_url!r})"

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- schema and transactions ----------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the tables if missing, migrate an older schema, refuse a newer or foreign one."""
        if self._ready:
            return
        attempts_seen = self._attempts
        with self._ready_lock:
            if self._ready:
                return
            if self._attempts != attempts_seen and self._failure is not None:
                # An attempt ran while this caller queued for the lock, and failed: share its answer
                # instead of waiting out a connect timeout of its own.
                raise self._failure
            self._attempts += 1
            try:
                self._guard(self._bring_schema)
            except StoreUnavailableError as exc:
                self._failure = exc
                raise
            self._failure = None
            self._ready = True

    def _bring_schema(self) -> None:
        bootstrap.ensure_schema(self.engine, self.display_url, create=self._create)

    def _guard(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: SQLAlchemyError) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"Decision store {self.display_url} is unavailable: {failure_cause(exc)}"
        )

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """One transaction; with ``write`` it takes SQLite's write lock first (PostgreSQL locks rows).

        :raises StoreUnavailableError: the database failed; nothing was committed.
        """
        self.ensure_schema()
        try:
            with self.engine.begin() as conn:
                if write and conn.dialect.name == "sqlite":
                    # pysqlite has not begun yet (it waits for the first DML): take the write lock now,
                    # so a read-then-write cannot interleave with another process's.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc
