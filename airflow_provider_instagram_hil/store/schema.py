"""Tables of the decision store, and the schema version they carry.

A request row holds the task instance it belongs to, its options, deadline, policy and outcome. Its
recipients, their responses and the replies owed to them are rows of their own, so several reviewers,
several channels and several answers per request need no JSON inside a column.
"""

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
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql import false
from sqlalchemy.types import TypeDecorator

from airflow_provider_instagram_hil.ids import MAX_MID_CHARS, MAX_PARTY_ID_CHARS

#: Bump when the tables change, and add a step to ``migrations.MIGRATIONS``.
SCHEMA_VERSION = 3

#: The request id column: wider than a request id (``ids.REQUEST_ID_CHARS``).
MAX_REQUEST_ID_CHARS = 64
MAX_OPTION_CHARS = 100
MAX_REASON_CHARS = 500
#: A request keeps its subject (reminders and notices quote it), cut to this many characters.
MAX_SUBJECT_CHARS = 500
MAX_ERROR_CHARS = 255
MAX_TIMEZONE_CHARS = 64

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
    Column("request_id", String(MAX_REQUEST_ID_CHARS), primary_key=True),
    Column("dag_id", String(250), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("task_id", String(250), nullable=False),
    Column("map_index", Integer, nullable=False),
    Column("try_number", Integer, nullable=False),
    # Who asked: this provider's operator, or Airflow's own HITL operator through a notifier.
    Column("source", String(32), nullable=False),
    # The prompt's first line, quoted by reminders and notices; never field values.
    Column("subject", Text, nullable=True),
    # Short JSON lists of option titles: read whole, never queried inside.
    Column("options", Text, nullable=False),
    Column("reject_options", Text, nullable=False),
    Column("default_option", String(MAX_OPTION_CHARS), nullable=True),
    Column("policy", String(16), nullable=False),
    Column("min_approvals", Integer, nullable=True),
    Column("veto", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    # The outcome, once closed: the option, who closed it (None at the deadline) and when.
    Column("chosen_option", String(MAX_OPTION_CHARS), nullable=True),
    Column("responded_by", String(MAX_PARTY_ID_CHARS), nullable=True),
    Column("responded_at", UtcDateTime, nullable=True),
    Column("timed_out", Boolean, nullable=False),
    Column("closed_reason", String(MAX_ERROR_CHARS), nullable=True),
    # Since schema 3: a rejection needs a typed reason; the time zone deadlines are shown in.
    Column("require_reason", Boolean, nullable=False, server_default=false()),
    Column("timezone", String(MAX_TIMEZONE_CHARS), nullable=True),
    UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "try_number", name="uq_ighil_requests_try"),
)
Index("ix_ighil_requests_status_expires", requests.c.status, requests.c.expires_at)
# "Which requests closed since ...?": a waking poller reads just those.
Index("ix_ighil_requests_responded_at", requests.c.responded_at)

recipients = Table(
    "ighil_recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(MAX_REQUEST_ID_CHARS), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("recipient_id", String(MAX_PARTY_ID_CHARS), nullable=False),
    # How messages address this person ("alice"); for Airflow's HITL, the Airflow user it maps to.
    Column("name", String(MAX_PARTY_ID_CHARS), nullable=True),
    Column("role", String(16), nullable=False),
    Column("prompt_message_id", String(MAX_MID_CHARS), nullable=True),
    Column("prompted_at", UtcDateTime, nullable=True),
    Column("reminded_at", UtcDateTime, nullable=True),
    Column("delivery", String(16), nullable=False),
    Column("delivery_error", String(MAX_ERROR_CHARS), nullable=True),
    UniqueConstraint("request_id", "channel", "recipient_id", name="uq_ighil_recipients_request"),
)
# "Which pending requests does this sender have on this channel?" starts here.
Index("ix_ighil_recipients_sender", recipients.c.channel, recipients.c.recipient_id)

responses = Table(
    "ighil_responses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(MAX_REQUEST_ID_CHARS), nullable=False),
    Column("responder_id", String(MAX_PARTY_ID_CHARS), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("option", String(MAX_OPTION_CHARS), nullable=False),
    Column("reason", String(MAX_REASON_CHARS), nullable=True),
    Column("mid", String(MAX_MID_CHARS), nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    UniqueConstraint("request_id", "responder_id", name="uq_ighil_responses_responder"),
)

outbox = Table(
    "ighil_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(MAX_REQUEST_ID_CHARS), nullable=True),
    Column("channel", String(32), nullable=False),
    Column("recipient_id", String(MAX_PARTY_ID_CHARS), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Due time: a failed attempt pushes it back; a claim holds the row until claimed_until.
    Column("not_before", UtcDateTime, nullable=False),
    Column("claimed_until", UtcDateTime, nullable=True),
    Column("state", String(16), nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("message_id", String(MAX_MID_CHARS), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(MAX_ERROR_CHARS), nullable=True),
    # Since schema 3: the inbound event a reply answers (a typed message's mid), so a redelivered event
    # queues its reply once.
    Column("event_key", String(MAX_MID_CHARS), nullable=True),
)
Index("ix_ighil_outbox_due", outbox.c.state, outbox.c.not_before)
Index("ix_ighil_outbox_request", outbox.c.request_id)
Index("ux_ighil_outbox_event_key", outbox.c.event_key, unique=True)

# Since schema 3: when each person last wrote to the account, per channel: Meta lets the account message
# them for 24 hours after that (reminders check it; a prompt waiting for contact is sent on it).
contacts = Table(
    "ighil_contacts",
    metadata,
    Column("channel", String(32), nullable=False),
    Column("sender_id", String(MAX_PARTY_ID_CHARS), nullable=False),
    Column("last_inbound_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("channel", "sender_id", name="pk_ighil_contacts"),
)

#: Child tables, keyed by ``request_id``; deleted together with their request.
CHILD_TABLES = (recipients, responses, outbox)
