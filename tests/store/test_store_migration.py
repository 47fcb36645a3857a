"""Schema 1 to 2, in place: a real v1 SQLite file and a real v1 PostgreSQL schema, written by provider 0.1.0.

Both fixtures hold the same six requests: pending and prompted, pending and never prompted, decided by a
reviewer, expired, decided by the default at the deadline, and cancelled (see ``data/``).
"""

from __future__ import annotations

import secrets
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from airflow_provider_instagram_hil.store import DecisionStore, Delivery, Outcome, RequestStatus
from airflow_provider_instagram_hil.store.engine import build_engine
from airflow_provider_instagram_hil.store.policy import FIRST
from airflow_provider_instagram_hil.store.schema import SCHEMA_VERSION, schema_version

from .store_support import run_processes

DATA = Path(__file__).parent / "data"
REVIEWER = "17841400000000001"
OTHER_REVIEWER = "17841400000000002"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def _load(request, tmp_path, version: int) -> str:
    """A copy of the schema-``version`` fixture store on the requested backend; its URL."""
    if request.param == "sqlite":
        path = tmp_path / "instagram_hil.db"
        shutil.copy(DATA / f"v{version}_store.db", path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    schema = url.rsplit("search_path%3D", 1)[-1]
    dump = (DATA / f"v{version}_store.postgres.sql").read_text().replace("__SCHEMA__", schema)
    engine = build_engine(url)
    with engine.begin() as conn:
        for statement in _statements(dump):
            conn.exec_driver_sql(statement)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def v1_url(request, tmp_path) -> str:
    """A store of schema 1, as provider 0.1.0 left it."""
    return _load(request, tmp_path, 1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def v2_url(request, tmp_path) -> str:
    """A store of schema 2 (several reviewers, responses, the outbox), as the provider left it."""
    return _load(request, tmp_path, 2)


def _statements(dump: str) -> list[str]:
    lines = [line for line in dump.splitlines() if not line.startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";\n") if part.strip()]


def _by_run(store: DecisionStore, dag_id: str = "v1_dag") -> dict[str, object]:
    rows = store.maintenance.list_requests(dag_id=dag_id)
    return {row.run_id: store.get_request(row.request_id) for row in rows}


def _version(url: str) -> int:
    engine = build_engine(url)
    with engine.connect() as conn:
        found = conn.execute(select(schema_version.c.version)).scalar()
    engine.dispose()
    return int(found)


class TestMigrationFromV1:
    def test_every_request_keeps_its_state(self, v1_url):
        assert _version(v1_url) == 1
        store = DecisionStore(v1_url)

        requests = _by_run(store)

        assert _version(v1_url) == SCHEMA_VERSION
        assert set(requests) == {f"run_{n}" for n in range(1, 7)}
        statuses = {run: (r.status, r.chosen_option, r.timed_out) for run, r in requests.items()}
        assert statuses == {
            "run_1": (RequestStatus.PENDING, None, False),
            "run_2": (RequestStatus.PENDING, None, False),
            "run_3": (RequestStatus.DECIDED, "Reject", False),
            "run_4": (RequestStatus.EXPIRED, None, True),
            "run_5": (RequestStatus.DECIDED, "Approve", True),
            "run_6": (RequestStatus.CANCELLED, None, False),
        }
        for request in requests.values():
            assert tuple(r.recipient_id for r in request.recipients) == (REVIEWER, OTHER_REVIEWER)
            assert {r.channel for r in request.recipients} == {"instagram"}
            assert request.options == ("Approve", "Reject")
            assert (request.policy, request.reject_options, request.source) == (FIRST, (), "operator")
            assert request.created_at == T0
        assert store.maintenance.integrity_problems() == []
        store.dispose()

    def test_the_decision_becomes_a_response(self, v1_url):
        store = DecisionStore(v1_url)

        decided = _by_run(store)["run_3"]

        ((response),) = decided.responses
        assert (response.responder_id, response.option, response.mid, response.channel) == (
            OTHER_REVIEWER,
            "Reject",
            "m_tap_3",
            "instagram",
        )
        assert response.received_at == decided.responded_at == T0 + timedelta(minutes=5)
        # A redelivery of the v1 tap is still recognised.
        again = store.record_decision(
            decided.request_id, option="Reject", responder_id=OTHER_REVIEWER, mid="m_tap_3"
        )
        assert again.outcome is Outcome.DUPLICATE
        # Timeouts were nobody's answer.
        assert _by_run(store)["run_5"].responses == ()
        store.dispose()

    def test_prompts_already_sent_are_not_sent_again(self, v1_url):
        store = DecisionStore(v1_url)

        requests = _by_run(store)

        prompted, unprompted = requests["run_1"], requests["run_2"]
        assert prompted.recipients[0].prompt_message_id == "m_prompt_1"
        assert {r.delivery for r in prompted.recipients} == {Delivery.SENT}
        assert {r.delivery for r in unprompted.recipients} == {Delivery.PENDING}
        store.dispose()

    def test_a_migrated_pending_request_can_be_answered(self, v1_url):
        store = DecisionStore(v1_url)
        pending = _by_run(store)["run_1"]

        result = store.record_decision(pending.request_id, option="Approve", responder_id=REVIEWER, mid="new")

        assert (result.outcome, result.closed) == (Outcome.RECORDED, True)
        assert store.get_states([pending.request_id])[pending.request_id].chosen_option == "Approve"
        store.dispose()

    def test_the_v1_table_is_gone_and_the_current_tables_exist(self, v1_url):
        DecisionStore(v1_url).ensure_schema()

        engine = build_engine(v1_url)
        names = set(inspect(engine).get_table_names())
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("ighil_requests")}
        engine.dispose()
        assert names == {
            "ighil_schema_version",
            "ighil_requests",
            "ighil_recipients",
            "ighil_responses",
            "ighil_outbox",
            "ighil_contacts",
        }
        assert "ix_ighil_requests_status_expires" in indexes

    def test_processes_opening_the_v1_store_together_migrate_it_once(self, v1_url):
        outcomes = run_processes(_open_store, [(v1_url,)] * 4)

        assert outcomes == [{"cancelled": 1, "decided": 2, "expired": 1, "pending": 2}] * 4
        assert _version(v1_url) == SCHEMA_VERSION
        store = DecisionStore(v1_url)
        assert len(store.maintenance.list_requests()) == 6
        assert store.maintenance.integrity_problems() == []
        store.dispose()

    def test_a_failed_migration_leaves_the_v1_store_whole(self, v1_url, monkeypatch):
        from airflow_provider_instagram_hil.store import migrations

        original = migrations._v2_response

        def broken(row):
            original(row)
            raise RuntimeError("disk full")

        monkeypatch.setattr(migrations, "_v2_response", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            DecisionStore(v1_url).ensure_schema()

        assert _version(v1_url) == 1
        engine = build_engine(v1_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM ighil_requests")).scalar() == 6
        assert "ighil_recipients" not in inspect(engine).get_table_names()
        engine.dispose()
        monkeypatch.undo()
        store = DecisionStore(v1_url)
        assert len(store.maintenance.list_requests()) == 6
        assert _version(v1_url) == SCHEMA_VERSION
        store.dispose()


class TestMigrationFromV2:
    def test_every_request_keeps_its_recipients_responses_and_replies(self, v2_url):
        assert _version(v2_url) == 2
        store = DecisionStore(v2_url)

        requests = _by_run(store, "v2_dag")

        assert _version(v2_url) == SCHEMA_VERSION
        statuses = {run: (r.status, r.chosen_option) for run, r in requests.items()}
        assert statuses == {
            "run_1": (RequestStatus.PENDING, None),
            "run_2": (RequestStatus.DECIDED, "Reject"),
            "run_3": (RequestStatus.PENDING, None),
            "run_4": (RequestStatus.PENDING, None),
            "run_5": (RequestStatus.CANCELLED, None),
            "run_6": (RequestStatus.DECIDED, "Reject"),
        }
        deliveries = {(r.name, r.delivery) for r in requests["run_1"].recipients}
        assert deliveries == {("alice", Delivery.SENT), ("bob", Delivery.FAILED)}
        (answer,) = requests["run_2"].responses
        assert (answer.responder_id, answer.option, answer.reason) == (
            REVIEWER,
            "Reject",
            "numbers look wrong",
        )
        assert [(r.responder_id, r.option) for r in requests["run_3"].responses] == [
            (OTHER_REVIEWER, "Approve")
        ]
        assert requests["run_4"].source == "airflow-hitl"
        assert [r.channel for r in requests["run_4"].recipients] == ["messenger"]
        assert store.outbox.counts() == {"pending": 1}
        assert store.maintenance.integrity_problems() == []
        store.dispose()

    def test_the_quorum_in_progress_still_closes_on_the_next_approval(self, v2_url):
        store = DecisionStore(v2_url)
        run_3 = _by_run(store, "v2_dag")["run_3"]

        result = store.record_decision(run_3.request_id, option="Approve", responder_id=REVIEWER, mid="m_new")

        assert (result.outcome, result.closed, result.request.chosen_option) == (
            Outcome.RECORDED,
            True,
            "Approve",
        )
        store.dispose()

    def test_the_new_columns_and_table_exist_with_their_defaults(self, v2_url):
        store = DecisionStore(v2_url)
        store.ensure_schema()
        engine = build_engine(v2_url)
        with engine.connect() as conn:
            flags = conn.execute(text("SELECT DISTINCT require_reason FROM ighil_requests")).scalars().all()
            zones = conn.execute(text("SELECT DISTINCT timezone FROM ighil_requests")).scalars().all()
            keys = conn.execute(text("SELECT event_key FROM ighil_outbox")).scalars().all()
            assert conn.execute(text("SELECT COUNT(*) FROM ighil_contacts")).scalar() == 0
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("ighil_outbox")}
        engine.dispose()
        assert [bool(flag) for flag in flags] == [False]
        assert (zones, keys) == ([None], [None])
        assert "ux_ighil_outbox_event_key" in indexes
        store.dispose()


def _open_store(url, barrier, results):
    store = DecisionStore(url)
    try:
        barrier.wait(timeout=60)
        results.put(dict(sorted(store.maintenance.count_by_status().items())))
    except Exception as exc:
        results.put(f"error: {type(exc).__name__}: {exc}")
    finally:
        store.dispose()


@pytest.mark.parametrize("version", [1, 2])
def test_the_fixture_files_are_real_old_stores(version):
    """Guard against regenerating the fixtures with a newer provider by mistake."""
    dump = (DATA / f"v{version}_store.postgres.sql").read_text()
    assert f"INSERT INTO __SCHEMA__.ighil_schema_version VALUES (1, {version});" in dump
    assert ("recipients text NOT NULL" in dump) is (version == 1)
    assert "require_reason" not in dump
    assert secrets.compare_digest((DATA / f"v{version}_store.db").read_bytes()[:16], b"SQLite format 3\x00")
