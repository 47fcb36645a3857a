"""store.engine: secrets in store URLs, failure causes, and connections replaced after they went bad."""

from __future__ import annotations

import sqlite3
import string
from urllib.parse import quote, quote_plus, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from airflow_provider_instagram_hil.exceptions import StoreUnavailableError
from airflow_provider_instagram_hil.store import DecisionStore
from airflow_provider_instagram_hil.store.engine import StoreTimeouts, build_engine
from airflow_provider_instagram_hil.store.failures import failure_cause, needs_fresh_connection
from airflow_provider_instagram_hil.store.urls import display_url, refuse_secrets_in_url, secret_url_parts

SECRET = "s3cr3t-Pw"

SECRET_URLS = [
    pytest.param(f"postgresql://airflow:{SECRET}@db/airflow", ["password"], id="user-info"),
    pytest.param(f"postgresql://airflow@db/airflow?password={SECRET}", ["?password"], id="query-password"),
    pytest.param(
        f"postgresql://airflow@db/airflow?sslmode=verify-full&sslpassword={SECRET}",
        ["?sslpassword"],
        id="query-sslpassword",
    ),
    pytest.param(
        f"postgresql://airflow:{SECRET}@db/airflow?PASSWORD={SECRET}&sslpassword={SECRET}",
        ["password", "?PASSWORD", "?sslpassword"],
        id="everywhere",
    ),
]


class TestSecretsInUrls:
    @pytest.mark.parametrize(("url", "parts"), SECRET_URLS)
    def test_found_masked_and_refused(self, url, parts):
        assert secret_url_parts(url) == parts
        shown = display_url(url)
        assert SECRET not in shown
        assert "db/airflow" in shown
        with pytest.raises(ValueError, match="must not contain a password") as caught:
            refuse_secrets_in_url(url)
        assert SECRET not in str(caught.value)

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("sqlite:////opt/airflow/instagram_hil.db", id="sqlite"),
            pytest.param("postgresql://airflow@db/airflow?sslmode=require", id="no-password"),
            pytest.param(
                "postgresql://airflow@db/airflow?passfile=/run/pgpass&sslkey=/run/key.pem&sslcert=/run/c.pem",
                id="files-are-not-secrets",
            ),
            pytest.param("postgresql://airflow@db/airflow?options=-csearch_path%3Dhil", id="options"),
        ],
    )
    def test_urls_without_secrets_pass_and_show_as_they_are(self, url):
        refuse_secrets_in_url(url)
        assert secret_url_parts(url) == []
        assert make_url(display_url(url)) == make_url(url)

    def test_unparsable_url_is_never_quoted(self):
        assert display_url(f"::{SECRET}::") == "<unparsable store URL>"
        with pytest.raises(ValueError) as caught:
            refuse_secrets_in_url(f"::{SECRET}::")
        assert SECRET not in str(caught.value)

    @pytest.mark.filterwarnings("ignore:Query string argument")
    def test_store_errors_show_the_masked_url(self, tmp_path):
        blocker = tmp_path / "file"
        blocker.write_text("")
        store = DecisionStore(f"sqlite:///{blocker}/sub/hil.db?password={SECRET}")
        with pytest.raises(StoreUnavailableError) as caught:
            store.get_request("0" * 32)
        assert SECRET not in str(caught.value)
        assert SECRET not in repr(store)
        assert "password=***" in str(caught.value)


class TestSecretsInUrlsFuzzed:
    @settings(max_examples=300, deadline=None)
    @given(
        secret=st.text(min_size=6, max_size=24).map(lambda text: "Zq" + text),
        place=st.sampled_from(["user-info", "password", "sslpassword", "PassWord", "token", "client_secret"]),
        others=st.dictionaries(
            st.sampled_from(["sslmode", "options", "application_name", "connect_timeout", "host"]),
            st.text(alphabet=string.ascii_lowercase + string.digits + "-=_/", max_size=12),  # never "Zq"
            max_size=3,
        ),
    )
    def test_a_secret_anywhere_is_refused_and_never_shown(self, secret, place, others):
        user = f"airflow:{quote(secret, safe='')}" if place == "user-info" else "airflow"
        query = dict(others)
        if place != "user-info":
            query[place] = secret
        url = f"postgresql://{user}@db:5432/airflow" + (f"?{urlencode(query)}" if query else "")
        forms = {secret, quote(secret, safe=""), quote_plus(secret)}
        shown = display_url(url)
        assert not any(form in shown for form in forms), shown
        with pytest.raises(ValueError) as caught:
            refuse_secrets_in_url(url)
        assert not any(form in str(caught.value) for form in forms)


def _sqlite_error(name: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("driver text")
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    return error


class _PgError(Exception):
    def __init__(self, sqlstate: str | None, message: str = "driver text") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class TestFailureCause:
    @pytest.mark.parametrize(
        ("driver_error", "cause", "fresh"),
        [
            pytest.param(_sqlite_error("SQLITE_READONLY"), "read-only", True, id="sqlite-readonly"),
            pytest.param(_sqlite_error("SQLITE_READONLY_DBMOVED"), "read-only", True, id="sqlite-moved"),
            pytest.param(_sqlite_error("SQLITE_BUSY"), "locked", False, id="sqlite-busy"),
            pytest.param(
                _sqlite_error("SQLITE_CANTOPEN"), "cannot open the database file", True, id="cantopen"
            ),
            pytest.param(_sqlite_error("SQLITE_FULL"), "disk full", False, id="sqlite-full"),
            pytest.param(_sqlite_error("SQLITE_IOERR_WRITE"), "I/O error", True, id="sqlite-ioerr"),
            pytest.param(_PgError("57014"), "statement timeout", False, id="pg-statement-timeout"),
            pytest.param(_PgError("55P03"), "lock timeout", False, id="pg-lock-timeout"),
            pytest.param(_PgError("25006"), "read-only", True, id="pg-read-only-standby"),
            pytest.param(_PgError("57P01"), "server shutting down", True, id="pg-admin-shutdown"),
            pytest.param(_PgError("08006"), "connection lost", True, id="pg-connection-failure"),
            pytest.param(_PgError(None, "connection refused"), "refused", False, id="refused"),
            pytest.param(
                _PgError(None, "connection timeout expired"), "timeout", False, id="connect-timeout"
            ),
            pytest.param(ValueError("x"), "ValueError", False, id="unknown"),
        ],
    )
    def test_named_from_the_driver_error(self, driver_error, cause, fresh):
        wrapped = sa_exc.OperationalError("UPDATE ...", {"p": SECRET}, driver_error)
        assert failure_cause(wrapped) == cause
        assert needs_fresh_connection(wrapped) is fresh
        assert SECRET not in failure_cause(wrapped)

    def test_pool_timeout(self):
        error = sa_exc.TimeoutError(
            "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 1.00"
        )
        assert failure_cause(error) == "busy: no free pooled connection within 1 s"


class TestTimeouts:
    @pytest.mark.parametrize("field", ["connect", "statement", "lock", "pool"])
    @pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan"), True, "2"])
    def test_each_limit_must_be_a_positive_number(self, field, value):
        with pytest.raises(ValueError, match=field):
            StoreTimeouts(**{field: value})

    def test_sqlite_lock_wait_is_the_lock_limit(self, sqlite_url):
        engine = build_engine(sqlite_url, StoreTimeouts(lock=0.75))
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 750
        finally:
            engine.dispose()


@pytest.mark.postgres
class TestPostgresConnections:
    def test_server_side_limits_are_set_on_every_connection(self, postgres_url):
        engine = build_engine(postgres_url, StoreTimeouts(statement=1.5, lock=0.75))
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SHOW statement_timeout")).scalar() == "1500ms"
                assert conn.execute(text("SHOW lock_timeout")).scalar() == "750ms"
        finally:
            engine.dispose()

    def test_connection_gone_read_only_is_replaced(self, postgres_url):
        """A pooled connection to a server that became read-only (a failover) is not used again."""
        store = DecisionStore(postgres_url)
        store.ensure_schema()
        opened: list[object] = []
        event.listen(store.engine, "connect", lambda dbapi, _record: opened.append(dbapi))
        with store.engine.connect() as conn:
            conn.execute(text("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"))
            conn.commit()
        try:
            with pytest.raises(StoreUnavailableError, match="is unavailable: read-only"):
                store.cancel_request("0" * 32)
            assert store.cancel_request("0" * 32) is False  # a fresh, writable connection
            assert len(opened) == 1
        finally:
            store.dispose()
