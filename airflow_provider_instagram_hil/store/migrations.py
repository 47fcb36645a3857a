"""Schema migrations of the decision store, one function per version step.

Each step runs inside the caller's transaction, under the schema lock, so a crash leaves the old schema
whole (SQLite and PostgreSQL both roll DDL back). Steps describe the tables they read as they were at
that version, never through ``schema.py`` (which always describes the newest).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, insert, inspect, select
from sqlalchemy.engine import Connection

from airflow_provider_instagram_hil.exceptions import SchemaVersionError
from airflow_provider_instagram_hil.store.schema import (
    UtcDateTime,
    contacts,
    metadata,
    outbox,
    recipients,
    requests,
    responses,
)

_BATCH = 1000

# Version 1: one row per request; recipients as a JSON list, room for one decision.
_v1 = MetaData()
_v1_requests = Table(
    "ighil_requests_v1",
    _v1,
    Column("request_id", String(64), primary_key=True),
    Column("dag_id", String(250)),
    Column("run_id", String(250)),
    Column("task_id", String(250)),
    Column("map_index", Integer),
    Column("try_number", Integer),
    Column("channel", String(32)),
    Column("recipients", Text),
    Column("options", Text),
    Column("default_option", String(100)),
    Column("created_at", UtcDateTime),
    Column("expires_at", UtcDateTime),
    Column("status", String(16)),
    Column("prompt_message_id", String(255)),
    Column("chosen_option", String(100)),
    Column("responded_by", String(64)),
    Column("responded_at", UtcDateTime),
    Column("decision_mid", String(255)),
    Column("timed_out", Boolean),
)


def _v1_to_v2(conn: Connection) -> None:
    """Recipients and the decision move to rows of their own; the outbox appears.

    The v1 table is renamed aside (its index and constraint names freed first, since PostgreSQL keeps
    them per schema), the v2 tables are created, rows are copied in batches, and the v1 table dropped.
    """
    conn.exec_driver_sql("DROP INDEX ix_ighil_requests_status_expires")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE ighil_requests DROP CONSTRAINT uq_ighil_requests_try")
        conn.exec_driver_sql(
            "ALTER TABLE ighil_requests RENAME CONSTRAINT ighil_requests_pkey TO ighil_requests_v1_pkey"
        )
    conn.exec_driver_sql("ALTER TABLE ighil_requests RENAME TO ighil_requests_v1")
    metadata.create_all(conn, tables=[requests, recipients, responses, outbox])
    for batch in _v1_batches(conn):
        conn.execute(insert(requests), [_v2_request(row) for row in batch])
        conn.execute(insert(recipients), [r for row in batch for r in _v2_recipients(row)])
        answered = [_v2_response(row) for row in batch if _was_answered(row)]
        if answered:
            conn.execute(insert(responses), answered)
    conn.exec_driver_sql("DROP TABLE ighil_requests_v1")


def _v1_batches(conn: Connection) -> Iterator[Sequence[Any]]:
    last = ""
    while True:
        batch = conn.execute(
            select(_v1_requests)
            .where(_v1_requests.c.request_id > last)
            .order_by(_v1_requests.c.request_id)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        yield batch
        last = batch[-1].request_id


def _v2_request(row: Any) -> dict[str, Any]:
    return {
        "request_id": row.request_id,
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "task_id": row.task_id,
        "map_index": row.map_index,
        "try_number": row.try_number,
        "source": "operator",
        "subject": None,
        "options": row.options,
        # v1 did not store them; the first answer decided, whatever it was.
        "reject_options": "[]",
        "default_option": row.default_option,
        "policy": "first",
        "min_approvals": None,
        "veto": False,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "status": row.status,
        "chosen_option": row.chosen_option,
        "responded_by": row.responded_by,
        "responded_at": row.responded_at,
        "timed_out": bool(row.timed_out),
        "closed_reason": None,
    }


def _v2_recipients(row: Any) -> list[dict[str, Any]]:
    ids = list(dict.fromkeys(str(r) for r in json.loads(row.recipients or "[]")))
    prompted = row.prompt_message_id is not None
    # v1 kept the message id of the first recipient's prompt and sent to all of them at once.
    return [
        {
            "request_id": row.request_id,
            "channel": row.channel,
            "recipient_id": recipient_id,
            "name": None,
            "role": "reviewer",
            "prompt_message_id": row.prompt_message_id if n == 0 else None,
            "prompted_at": row.created_at if prompted else None,
            "reminded_at": None,
            "delivery": "sent" if prompted else "pending",
            "delivery_error": None,
        }
        for n, recipient_id in enumerate(ids)
    ]


def _was_answered(row: Any) -> bool:
    return row.status == "decided" and not row.timed_out and row.responded_by is not None


def _v2_response(row: Any) -> dict[str, Any]:
    return {
        "request_id": row.request_id,
        "responder_id": row.responded_by,
        "channel": row.channel,
        "option": row.chosen_option,
        "reason": None,
        "mid": row.decision_mid,
        "received_at": row.responded_at,
        "source": row.channel,
    }


def _v2_to_v3(conn: Connection) -> None:
    """Two request columns (``require_reason``, ``timezone``), the outbox's ``event_key`` and its unique
    index, and the contacts table.

    Every addition is skipped where it exists already: a store migrated from schema 1 in the same run got
    today's tables from the step before.
    """
    found = {table: {c["name"] for c in inspect(conn).get_columns(table)} for table in _V3_COLUMNS}
    for table, columns in _V3_COLUMNS.items():
        for name, ddl in columns.items():
            if name not in found[table]:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}")
    indexes = {index["name"] for index in inspect(conn).get_indexes("ighil_outbox")}
    if "ux_ighil_outbox_event_key" not in indexes:
        conn.exec_driver_sql("CREATE UNIQUE INDEX ux_ighil_outbox_event_key ON ighil_outbox (event_key)")
    metadata.create_all(conn, tables=[contacts], checkfirst=True)


#: Columns schema 3 adds, as ``ALTER TABLE ... ADD COLUMN`` spells them on SQLite and PostgreSQL alike.
_V3_COLUMNS = {
    "ighil_requests": {"require_reason": "BOOLEAN DEFAULT false NOT NULL", "timezone": "VARCHAR(64)"},
    "ighil_outbox": {"event_key": "VARCHAR(255)"},
}


#: ``MIGRATIONS[n]`` upgrades a schema from version ``n`` to ``n + 1`` inside the caller's transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def upgrade(conn: Connection, found: int, target: int) -> None:
    """Run every step from ``found`` to ``target``, or refuse when one is missing."""
    for version in range(found, target):
        step = MIGRATIONS.get(version)
        if step is None:
            raise SchemaVersionError(
                f"No migration from decision-store schema {version} to {version + 1}; "
                "this store was written by an unsupported version of the provider."
            )
        step(conn)
