"""Schema creation and versions, an unreachable store, and the integrity check."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text, update

from airflow_provider_instagram_hil.exceptions import SchemaVersionError, StoreUnavailableError
from airflow_provider_instagram_hil.ids import new_request_id
from airflow_provider_instagram_hil.store import DecisionStore, RequestStatus, migrations
from airflow_provider_instagram_hil.store.engine import build_engine
from airflow_provider_instagram_hil.store.schema import SCHEMA_VERSION, schema_version

from .store_support import REVIEWER, T0

PASSWORD = "Sup3r-s3cret-pw"


def _set_version(url, version):
    engine = build_engine(url)
    with engine.begin() as conn:
        conn.execute(update(schema_version).where(schema_version.c.id == 1).values(version=version))
    engine.dispose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestSchema:
    def test_created_on_first_use_with_its_version(self, store_url):
        engine = build_engine(store_url)
        assert "ighil_requests" not in inspect(engine).get_table_names()

        store = DecisionStore(store_url)
        assert store.get_request(new_request_id()) is None

        assert {"ighil_requests", "ighil_schema_version"} <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(select(schema_version.c.id, schema_version.c.version)).all() == [
                (1, SCHEMA_VERSION)
            ]
        store.dispose()
        engine.dispose()

    def test_second_store_reuses_the_tables(self, store, make_request):
        request = make_request()

        again = DecisionStore(store.url)
        assert again.get_request(request.request_id) == request
        again.dispose()

    def test_newer_schema_is_refused(self, store):
        store.ensure_schema()
        _set_version(store.url, SCHEMA_VERSION + 1)

        fresh = DecisionStore(store.url)
        with pytest.raises(SchemaVersionError, match="newer than this provider"):
            fresh.get_states([new_request_id()])
        fresh.dispose()

    def test_foreign_table_without_version_is_refused(self, store_url):
        engine = build_engine(store_url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE ighil_requests (id INTEGER PRIMARY KEY, note TEXT)"))
        engine.dispose()

        store = DecisionStore(store_url)
        with pytest.raises(SchemaVersionError, match="not created by this provider"):
            store.ensure_schema()
        store.dispose()

    def test_empty_version_table_is_refused(self, store):
        store.ensure_schema()
        with store.engine.begin() as conn:
            conn.execute(schema_version.delete())

        with pytest.raises(SchemaVersionError, match="empty"):
            DecisionStore(store.url).ensure_schema()

    def test_older_schema_without_a_migration_is_refused(self, store, monkeypatch):
        store.ensure_schema()
        _set_version(store.url, SCHEMA_VERSION - 1)
        monkeypatch.delitem(migrations.MIGRATIONS, SCHEMA_VERSION - 1)

        with pytest.raises(SchemaVersionError, match="No migration"):
            DecisionStore(store.url).ensure_schema()

    def test_older_schema_is_migrated_once(self, store, monkeypatch):
        store.ensure_schema()
        _set_version(store.url, SCHEMA_VERSION - 1)
        calls = []
        monkeypatch.setitem(migrations.MIGRATIONS, SCHEMA_VERSION - 1, calls.append)

        DecisionStore(store.url).ensure_schema()
        DecisionStore(store.url).ensure_schema()

        assert len(calls) == 1
        with store.engine.connect() as conn:
            assert conn.execute(select(schema_version.c.version)).scalar() == SCHEMA_VERSION

    def test_create_false_refuses_an_empty_database(self, store_url):
        store = DecisionStore(store_url, create=False)

        with pytest.raises(SchemaVersionError, match="no decision-store tables"):
            store.ensure_schema()


class TestStoreUnavailable:
    def test_postgres_on_a_closed_port(self):
        url = f"postgresql://airflow:{PASSWORD}@127.0.0.1:{_closed_port()}/airflow"
        store = DecisionStore(url)

        with pytest.raises(StoreUnavailableError) as info:
            store.get_request(new_request_id())

        assert PASSWORD not in str(info.value)
        assert PASSWORD not in repr(info.value)
        assert PASSWORD not in repr(store)
        assert "127.0.0.1" in str(info.value)

    def test_sqlite_file_under_a_regular_file(self, tmp_path):
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("")
        store = DecisionStore(f"sqlite:///{blocker / 'sub' / 'instagram_hil.db'}")

        with pytest.raises(StoreUnavailableError, match="unavailable"):
            store.ensure_schema()

    def test_sqlite_path_is_a_directory(self, tmp_path):
        store = DecisionStore(f"sqlite:///{tmp_path}")

        with pytest.raises(StoreUnavailableError):
            store.maintenance.count_by_status()

    def test_recovers_when_the_database_comes_back(self, tmp_path):
        parent = tmp_path / "later"
        parent.write_text("")
        store = DecisionStore(f"sqlite:///{parent / 'instagram_hil.db'}")
        with pytest.raises(StoreUnavailableError):
            store.ensure_schema()

        parent.unlink()
        parent.mkdir()

        assert store.maintenance.count_by_status() == {}
        store.dispose()


class TestIntegrityProblems:
    @pytest.fixture
    def normal_flow(self, store, make_request):
        deadline = T0 + timedelta(minutes=30)
        decided = make_request(expires_at=deadline)
        store.record_decision(decided.request_id, option="approve", responder_id=REVIEWER, mid="m1", now=T0)
        defaulted = make_request(expires_at=deadline, default_option="reject")
        store.expire_request(defaulted.request_id, now=deadline)
        expired = make_request(expires_at=deadline)
        store.expire_request(expired.request_id, now=deadline)
        cancelled = make_request(expires_at=deadline)
        store.cancel_request(cancelled.request_id)
        pending = make_request(expires_at=datetime.now(timezone.utc) + timedelta(hours=1))
        return {"decided": decided, "pending": pending, "expired": expired}

    def test_empty_after_a_normal_flow(self, store, normal_flow):
        assert store.maintenance.integrity_problems() == []
        assert store.maintenance.count_by_status() == {
            RequestStatus.DECIDED.value: 2,
            RequestStatus.EXPIRED.value: 1,
            RequestStatus.CANCELLED.value: 1,
            RequestStatus.PENDING.value: 1,
        }

    @pytest.mark.parametrize(
        ("target", "values", "problem"),
        [
            pytest.param(
                "decided", {"chosen_option": "maybe"}, "not one of the options", id="foreign-option"
            ),
            pytest.param(
                "decided", {"chosen_option": None}, "without an option", id="decided-without-option"
            ),
            pytest.param(
                "decided", {"responded_by": "intruder"}, "did not respond", id="decided-by-stranger"
            ),
            pytest.param(
                "pending", {"chosen_option": "approve"}, "carries a chosen option", id="pending-chosen"
            ),
            pytest.param("expired", {"status": "bogus"}, "unknown status", id="unknown-status"),
            pytest.param("pending", {"options": "{not json"}, "not a JSON list", id="options-not-json"),
            pytest.param(
                "decided", {"reject_options": '"x"'}, "not a JSON list", id="reject-options-not-a-list"
            ),
        ],
    )
    def test_reports_a_corrupted_row(self, store, normal_flow, target, values, problem):
        from airflow_provider_instagram_hil.store.schema import requests

        request_id = normal_flow[target].request_id
        with store.engine.begin() as conn:
            conn.execute(update(requests).where(requests.c.request_id == request_id).values(**values))

        problems = store.maintenance.integrity_problems()

        assert problems, "corruption went unnoticed"
        assert any(request_id in p and problem in p for p in problems), problems
