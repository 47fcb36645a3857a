"""Fixtures of the reliability suite, and the "reliability figures" table printed at the end of a run."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import NamedTuple

import pytest

from airflow_provider_instagram_hil.store import DecisionStore

from .live import LiveWebhook
from .support import FIGURES, FIGURES_PROPERTY, postgres_schema_url


class Backend(NamedTuple):
    name: str
    url: str


@pytest.fixture(autouse=True)
def _ship_figures(request) -> Iterator[None]:
    """In a pytest-xdist worker, send this test's figures to the controller with its report (the root
    conftest prints them)."""
    yield
    if os.environ.get("PYTEST_XDIST_WORKER"):
        request.node.user_properties.append((FIGURES_PROPERTY, FIGURES.take_operations()))


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
