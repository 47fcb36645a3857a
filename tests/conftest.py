"""Fixtures shared by the whole suite: an isolated AIRFLOW_HOME, decision stores, test connections."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from credentials import TEST_APP_SECRET, TEST_PHONE_NUMBER_ID, TEST_TOKEN, TEST_VERIFY_TOKEN

# Airflow reads AIRFLOW_HOME when first imported: isolate the suite before any test imports it.
_HOME = tempfile.mkdtemp(prefix="ighil-test-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

POSTGRES_ENV = "INSTAGRAM_HIL_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "INSTAGRAM_HIL_REQUIRE_POSTGRES"


def _postgres_base_url() -> str | None:
    """The PostgreSQL URL for tests, or skip (fail in CI) with the reason."""
    url = os.environ.get(POSTGRES_ENV)
    required = os.environ.get(REQUIRE_POSTGRES_ENV) == "1"
    if not url:
        if required:
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_ENV} is not set")
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    from sqlalchemy import create_engine, text

    from airflow_provider_instagram_hil.store.engine import build_engine

    try:
        engine = build_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        if required:
            pytest.fail(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {type(exc).__name__}: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {type(exc).__name__}")
    del create_engine
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = _postgres_base_url()
    assert base is not None
    from sqlalchemy import text

    from airflow_provider_instagram_hil.store.engine import build_engine

    schema = f"ighil_t_{secrets.token_hex(6)}"
    admin = build_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'instagram_hil.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request) -> str:
    """A store URL on SQLite, then on PostgreSQL (skipped without it, required in CI)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url):
    from airflow_provider_instagram_hil.store import DecisionStore

    decision_store = DecisionStore(store_url)
    yield decision_store
    decision_store.dispose()


@pytest.fixture
def instagram_conn_env(monkeypatch):
    """Set ``AIRFLOW_CONN_INSTAGRAM_DEFAULT`` to a connection with test secrets; return a setter."""
    import json

    def _set(conn_id: str = "instagram_default", **overrides: object) -> dict:
        extra = {"app_secret": TEST_APP_SECRET, "verify_token": TEST_VERIFY_TOKEN, "api_version": "v25.0"}
        extra.update(overrides.pop("extra", {}) or {})  # type: ignore[arg-type]
        conn = {
            "conn_type": "instagram",
            "host": overrides.pop("host", "https://graph.facebook.com"),
            "password": overrides.pop("password", TEST_TOKEN),
            "extra": extra,
        }
        conn.update(overrides)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn

    return _set


@pytest.fixture
def channel_conn_env(monkeypatch):
    """Set ``AIRFLOW_CONN_<ID>`` to a ``messenger`` or ``whatsapp`` connection with test secrets."""
    import json

    def _set(conn_type: str, conn_id: str | None = None, **overrides: object) -> dict:
        extra: dict = {
            "app_secret": TEST_APP_SECRET,
            "verify_token": TEST_VERIFY_TOKEN,
            "api_version": "v25.0",
        }
        if conn_type == "whatsapp":
            extra["phone_number_id"] = TEST_PHONE_NUMBER_ID
        extra.update(overrides.pop("extra", {}) or {})  # type: ignore[arg-type]
        conn = {
            "conn_type": conn_type,
            "host": overrides.pop("host", "https://graph.facebook.com"),
            "password": overrides.pop("password", TEST_TOKEN),
            "extra": extra,
        }
        conn.update(overrides)
        monkeypatch.setenv(f"AIRFLOW_CONN_{(conn_id or f'{conn_type}_default').upper()}", json.dumps(conn))
        return conn

    return _set


# -- the "reliability figures" table (tests/reliability) --------------------------------------------
# Here, not in tests/reliability/conftest.py: under pytest-xdist only the controller prints, and it loads
# this conftest alone; the workers send their figures with each test's report.


def pytest_runtest_logreport(report) -> None:
    """Replay the figures a pytest-xdist worker measured (its tests' teardown reports carry them)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or report.when != "teardown":
        return
    from reliability.support import FIGURES, FIGURES_PROPERTY

    for name, operations in report.user_properties:
        if name == FIGURES_PROPERTY:
            FIGURES.replay(operations)


def pytest_terminal_summary(terminalreporter) -> None:
    from reliability.support import FIGURES, SOAK

    rows = FIGURES.rows()
    if not rows:
        return
    terminalreporter.write_sep("=", f"reliability figures ({'soak' if SOAK else 'fast'})")
    width = max(len(scope) for scope, _ in rows)
    for scope, values in sorted(rows):
        cells = "  ".join(f"{name}={_figure(value)}" for name, value in values.items())
        terminalreporter.write_line(f"{scope:<{width}}  {cells}")


def _figure(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
