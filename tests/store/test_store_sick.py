"""A store that is sick but not dead: every call ends in bounded time, names its cause, and recovers.

Stalls are real: a proxy in front of the suite's PostgreSQL that stops forwarding (what a client sees of
a stopped or hung server), and a listener that accepts and never answers. Read-only is real too: the
file's immutable attribute (root) or its mode.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from stalling_servers import SilentListener, StallingProxy, read_only_file, upstream_of, via

from airflow_provider_instagram_hil.exceptions import StoreUnavailableError
from airflow_provider_instagram_hil.store import DecisionStore, Outcome
from airflow_provider_instagram_hil.store.engine import StoreTimeouts, build_engine
from airflow_provider_instagram_hil.store.failures import failure_cause
from airflow_provider_instagram_hil.store.schema import requests

from .store_support import REVIEWER

#: Tight limits, so that the tests are quick; the defaults are checked in test_store_timeouts.
TIGHT = StoreTimeouts(connect=2.0, statement=1.0, lock=0.5, pool=0.5)
#: What the machine may add to a bound (2 shared cores, other engineers' tests): generous on purpose.
SLACK = 1.5


def _register(store: DecisionStore) -> str:
    request, _ = store.register_request(
        dag_id="sick",
        run_id=f"run_{time.monotonic_ns()}",
        task_id="approve",
        recipients=[REVIEWER],
        options=["approve", "reject"],
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return request.request_id


def _fails(operation) -> tuple[float, StoreUnavailableError]:
    """Run ``operation``, which must fail; return how long it took and the error."""
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        operation()
    return time.monotonic() - started, caught.value


@pytest.fixture
def proxy(postgres_url):
    with StallingProxy(*upstream_of(postgres_url)) as stalling:
        yield stalling


@pytest.fixture
def proxied_store(postgres_url, proxy):
    url = via(postgres_url, proxy.port)
    store = DecisionStore(url, engine=build_engine(url, TIGHT))
    store.ensure_schema()
    yield store
    store.dispose()


@pytest.mark.postgres
class TestStalledPostgres:
    def test_pooled_connection_answers_within_the_connect_bound_and_recovers(self, proxied_store, proxy):
        request_id = _register(proxied_store)  # warms the pool
        proxy.stall()
        elapsed, error = _fails(
            lambda: proxied_store.record_decision(request_id, option="approve", responder_id=REVIEWER),
        )
        assert elapsed < TIGHT.connect + SLACK
        assert "timeout" in str(error)

        proxy.resume()
        result = proxied_store.record_decision(request_id, option="approve", responder_id=REVIEWER)
        assert result.outcome is Outcome.RECORDED

    def test_statement_already_sent_is_bounded(self, proxied_store, proxy):
        with proxied_store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            proxy.stall()
            started = time.monotonic()
            with pytest.raises(Exception) as caught:
                conn.execute(text("SELECT 2"))
            elapsed = time.monotonic() - started
        assert elapsed < TIGHT.statement + 0.5 + SLACK
        assert failure_cause(caught.value).startswith("timeout: no answer within 1.5 s")
        proxy.resume()
        assert proxied_store.get_request(_register(proxied_store)) is not None

    def test_every_thread_gets_its_answer_while_stalled(self, proxied_store, proxy):
        request_id = _register(proxied_store)
        proxy.stall()
        answers: list[float] = []

        def tap() -> None:
            started = time.monotonic()
            try:
                proxied_store.record_decision(request_id, option="approve", responder_id=REVIEWER)
            except StoreUnavailableError:
                answers.append(time.monotonic() - started)

        threads = [threading.Thread(target=tap) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        # Eight threads, a pool of 5 + 10 overflow: each one is refused within connect + pool checkout.
        assert len(answers) == 8
        assert max(answers) < TIGHT.connect + TIGHT.pool + SLACK
        proxy.resume()
        assert proxied_store.get_request(request_id) is not None

    def test_server_side_limits_keep_the_connection(self, proxied_store, proxy):
        with proxied_store.engine.connect() as conn:
            with pytest.raises(Exception) as caught:
                conn.execute(text("SELECT pg_sleep(5)"))
            assert failure_cause(caught.value) == "statement timeout"
        assert proxy.connections == 1  # the server cancelled it: nothing was replaced

    def test_row_lock_held_elsewhere(self, postgres_url, proxied_store):
        request_id = _register(proxied_store)
        holder = build_engine(postgres_url)
        try:
            with holder.begin() as conn:
                conn.execute(
                    select(requests.c.request_id).where(requests.c.request_id == request_id).with_for_update()
                )
                elapsed, error = _fails(
                    lambda: proxied_store.record_decision(
                        request_id, option="approve", responder_id=REVIEWER
                    ),
                )
        finally:
            holder.dispose()
        assert elapsed < TIGHT.lock + SLACK
        assert "lock timeout" in str(error)


class TestUnreachablePostgres:
    """No PostgreSQL server needed: the store points at loopback ports that misbehave."""

    def test_server_that_never_answers(self):
        with SilentListener() as silent:
            url = f"postgresql://postgres@127.0.0.1:{silent.port}/test"
            store = DecisionStore(url, engine=build_engine(url, TIGHT))
            try:
                elapsed, error = _fails(lambda: store.get_request("0" * 32))
            finally:
                store.dispose()
        assert elapsed < TIGHT.connect + SLACK
        assert "is unavailable: timeout" in str(error)

    def test_concurrent_first_contacts_share_one_attempt(self):
        # Six deliveries arrive while a freshly started webhook has never reached its store: they do not
        # wait for each other's connection attempts one after the other.
        with SilentListener() as silent:
            url = f"postgresql://postgres@127.0.0.1:{silent.port}/test"
            store = DecisionStore(url, engine=build_engine(url, TIGHT))
            elapsed: list[float] = []
            barrier = threading.Barrier(6)

            def deliver() -> None:
                barrier.wait(timeout=10)
                elapsed.append(_fails(lambda: store.get_request("0" * 32))[0])

            threads = [threading.Thread(target=deliver) for _ in range(6)]
            try:
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=60)
            finally:
                store.dispose()
        assert len(elapsed) == 6
        assert max(elapsed) < 2 * TIGHT.connect + SLACK

    def test_closed_port_is_refused(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # bound, never listening: connections are refused
            store = DecisionStore(f"postgresql://postgres@127.0.0.1:{port}/test")
            try:
                _, error = _fails(lambda: store.get_request("0" * 32))
            finally:
                store.dispose()
        assert "is unavailable: refused" in str(error)


class TestSqlite:
    def test_read_only_once_recovers_once_writable(self, sqlite_url, tmp_path):
        store = DecisionStore(sqlite_url)
        request_id = _register(store)
        store.dispose()  # the next connection opens the file while it is read-only
        try:
            with read_only_file(str(tmp_path / "instagram_hil.db")):
                for _ in range(2):  # the pool keeps the read-only connection between operations
                    _, error = _fails(
                        lambda: store.record_decision(request_id, option="approve", responder_id=REVIEWER)
                    )
                    assert "is unavailable: read-only" in str(error)
            # Writable again: the same store, no restart.
            result = store.record_decision(request_id, option="approve", responder_id=REVIEWER)
            assert result.outcome is Outcome.RECORDED
        finally:
            store.dispose()

    def test_lock_held_by_another_writer(self, sqlite_url):
        store = DecisionStore(sqlite_url, engine=build_engine(sqlite_url, TIGHT))
        request_id = _register(store)
        holder = build_engine(sqlite_url)
        try:
            with holder.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                elapsed, error = _fails(
                    lambda: store.record_decision(request_id, option="approve", responder_id=REVIEWER),
                )
                conn.exec_driver_sql("ROLLBACK")
        finally:
            holder.dispose()
            store.dispose()
        assert elapsed < TIGHT.lock + SLACK
        assert "is unavailable: locked" in str(error)

    def test_pool_exhausted(self, sqlite_url):
        timeouts = StoreTimeouts(pool=0.3)
        engine = build_engine(sqlite_url, timeouts)
        store = DecisionStore(sqlite_url, engine=engine)
        store.ensure_schema()
        held = [engine.connect() for _ in range(engine.pool.size() + engine.pool._max_overflow)]  # type: ignore[attr-defined]
        try:
            elapsed, error = _fails(lambda: store.get_request("0" * 32))
        finally:
            for conn in held:
                conn.close()
            store.dispose()
        assert elapsed < timeouts.pool + SLACK
        assert "is unavailable: busy: no free pooled connection within 0.3 s" in str(error)
