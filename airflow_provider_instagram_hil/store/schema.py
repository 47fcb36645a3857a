"""Tables of the decision store, and the schema version they carry."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

#: Bump when the tables change, and add a step to ``migrations.MIGRATIONS``.
SCHEMA_VERSION = 1

metadata = MetaData()


class UtcDateTime(TypeDecorator):
    """A timezone-aware datetime stored as naive UTC, so SQLite and PostgreSQL compare it alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("the decision store only accepts timezone-aware datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


schema_version = Table(
    "ighil_schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

requests = Table(
    "ighil_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("dag_id", String(250), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("task_id", String(250), nullable=False),
    Column("map_index", Integer, nullable=False, default=-1),
    Column("try_number", Integer, nullable=False, default=1),
    Column("channel", String(32), nullable=False),
    # JSON lists kept as text: portable across SQLite and PostgreSQL, read whole every time.
    Column("recipients", Text, nullable=False),
    Column("options", Text, nullable=False),
    Column("default_option", String(100), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("prompt_message_id", String(255), nullable=True),
    Column("chosen_option", String(100), nullable=True),
    Column("responded_by", String(64), nullable=True),
    Column("responded_at", UtcDateTime, nullable=True),
    Column("decision_mid", String(255), nullable=True),
    Column("timed_out", Boolean, nullable=False, default=False),
    UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "try_number", name="uq_ighil_requests_try"),
)

Index("ix_ighil_requests_status_expires", requests.c.status, requests.c.expires_at)
