"""Fixtures of the reliability suite, and the "reliability figures" table printed at the end of a run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import pytest

from airflow_provider_instagram_hil.store import DecisionStore

from .live import LiveWebhook
from .support import FIGURES, SOAK, postgres_schema_url


class Backend(NamedTuple):
    name: str
    url: str


def pytest_terminal_summary(terminalreporter) -> None:
    rows = FIGURES.rows()
    if not rows:
        return
    terminalreporter.write_sep("=", f"reliability figures ({'soak' if SOAK else 'fast'})")
    width = max(len(scope) for scope, _ in rows)
    for scope, values in sorted(rows):
        cells = "  ".join(f"{name}={_number(value)}" for name, value in values.items())
        terminalreporter.write_line(f"{scope:<{width}}  {cells}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


@pytest.fixture
def figures(request) -> Callable[..., None]:
    """``figures(name, value, scope=None)``: add to this test's row (scope: the test id by default)."""
    default_scope = request.node.name.removeprefix("test_")

    def _add(name: str, value: float = 1, *, scope: str | None = None) -> None:
        FIGURES.add(scope or default_scope, name, value)

    return _add


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request, tmp_path_factory) -> Iterator[Backend]:
    """A decision store shared by the suite's processes: a SQLite file, then a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path_factory.mktemp('store') / 'instagram_hil.db'}")
        return
    with postgres_schema_url() as url:
        yield Backend("postgres", url)


@pytest.fixture(scope="session")
def backend_store(backend) -> Iterator[DecisionStore]:
    """This process's own store on the backend."""
    store = DecisionStore(backend.url)
    store.ensure_schema()
    yield store
    store.dispose()


@pytest.fixture(scope="session")
def live_webhook(backend, backend_store, tmp_path_factory) -> Iterator[LiveWebhook]:
    """``instagram-hil webhook`` as a real process on the backend, replying to a sandbox Graph API.

    Shared by the modules (the crash test kills and restarts it on the same port); tests tell their
    requests and replies apart by their own random request and reviewer ids.
    """
    live = LiveWebhook(backend.url, tmp_path_factory.mktemp("webhook-home"))
    try:
        yield live.start()
    finally:
        live.stop()
