"""The reply outbox: messages owed to reviewers, written with what they report and sent later.

A reply is inserted in the same transaction as the response it confirms, so a confirmation exists
exactly when the response does. The webhook's sender claims due rows for a lease, sends them, and marks
them sent; a process killed mid-send leaves its claim to run out, and the row is sent again (the one case
where a reviewer may get a message twice: Meta may have accepted it before the process died, and Meta has
no idempotency key). A row marked sent is never sent again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from airflow_provider_instagram_hil.exceptions import StoreUnavailableError
from airflow_provider_instagram_hil.store.models import OutboxItem, OutboxMessage
from airflow_provider_instagram_hil.store.schema import MAX_ERROR_CHARS, outbox

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.store.store import DecisionStore

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
#: Kept until its recipient next writes to the account: not claimed until ``release_held``.
HELD = "held"
#: The kind of a row that carries an approval prompt (sent with its buttons), not a plain reply.
PROMPT = "prompt"
#: The same, for an operator that asked for persistent buttons (``persistent_buttons=True``).
PROMPT_BUTTONS = "prompt-buttons"
#: The kinds of rows that carry an approval prompt.
PROMPTS = frozenset({PROMPT, PROMPT_BUTTONS})

_MARK_SENT = (
    update(outbox)
    .where(outbox.c.id == bindparam("p_id"), outbox.c.state == PENDING)
    .values(
        state=SENT,
        sent_at=bindparam("p_now", type_=outbox.c.sent_at.type),
        message_id=bindparam("p_message_id"),
        claimed_until=None,
        last_error=None,
    )
)


def item_from_row(row: Any, *, attempts: int | None = None, in_doubt: bool = False) -> OutboxItem:
    """Read an :class:`OutboxItem` from an outbox row."""
    return OutboxItem(
        id=row.id,
        channel=row.channel,
        recipient_id=row.recipient_id,
        kind=row.kind,
        text=row.text,
        request_id=row.request_id,
        attempts=row.attempts if attempts is None else attempts,
        created_at=row.created_at,
        in_doubt=in_doubt,
    )


def enqueue(conn: Connection, messages: Iterable[OutboxMessage], now: datetime) -> int:
    """Insert ``messages`` inside ``conn``'s transaction; return how many."""
    rows = [
        {
            "request_id": message.request_id,
            "channel": message.channel,
            "recipient_id": message.recipient_id,
            "kind": message.kind,
            "text": message.text,
            "created_at": now,
            "not_before": message.not_before or now,
            "state": HELD if message.held else PENDING,
            "attempts": 0,
            "event_key": message.event_key,
        }
        for message in messages
    ]
    keys = [row["event_key"] for row in rows if row["event_key"] is not None]
    if keys:  # a redelivered event: its replies are queued already
        queued = set(conn.execute(select(outbox.c.event_key).where(outbox.c.event_key.in_(keys))).scalars())
        rows = [row for row in rows if row["event_key"] is None or row["event_key"] not in queued]
    if rows:
        conn.execute(insert(outbox), rows)
    return len(rows)


def release_held(
    conn: Connection, channel: str, recipient_id: str, request_ids: Iterable[str], now: datetime
) -> int:
    """Inside ``conn``'s transaction, make the held rows of ``recipient_id`` on ``channel`` for
    ``request_ids`` due at ``now``; return how many."""
    ids = list(request_ids)
    if not ids:
        return 0
    result = conn.execute(
        update(outbox)
        .where(
            outbox.c.state == HELD,
            outbox.c.channel == channel,
            outbox.c.recipient_id == recipient_id,
            outbox.c.request_id.in_(ids),
        )
        .values(state=PENDING, not_before=now)
    )
    return int(result.rowcount)


class OutboxQueue:
    """Claim, send-confirm and retry the outbox rows of one store.

    :param store: the decision store holding the outbox.
    """

    def __init__(self, store: DecisionStore) -> None:
        self.store = store

    def add(self, messages: Iterable[OutboxMessage], *, now: datetime | None = None) -> int:
        """Queue messages in a transaction of their own; return how many (those with an ``event_key``
        already queued, by an earlier delivery of the same event, are left out)."""
        try:
            with self.store.transaction() as conn:
                return enqueue(conn, messages, now or _utcnow())
        except StoreUnavailableError as exc:
            if isinstance(exc.__cause__, IntegrityError):  # another process queued them a moment ago
                return 0
            raise

    def claim(self, limit: int, lease: timedelta, *, now: datetime | None = None) -> list[OutboxItem]:
        """Claim up to ``limit`` due rows for ``lease``; other senders skip them until it runs out.

        A row whose earlier claim ran out without a result comes back marked ``in_doubt``.
        """
        now = now or _utcnow()
        due = select(
            outbox.c.id,
            outbox.c.channel,
            outbox.c.recipient_id,
            outbox.c.kind,
            outbox.c.text,
            outbox.c.request_id,
            outbox.c.attempts,
            outbox.c.claimed_until,
            outbox.c.created_at,
        ).where(
            outbox.c.state == PENDING,
            outbox.c.not_before <= now,
            or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until <= now),
        )
        with self.store.transaction(write=True) as conn:
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            rows = conn.execute(due.order_by(outbox.c.id).limit(limit)).all()
            if rows:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([row.id for row in rows]))
                    .values(claimed_until=now + lease, attempts=outbox.c.attempts + 1)
                )
        return [
            item_from_row(row, attempts=row.attempts + 1, in_doubt=row.claimed_until is not None)
            for row in rows
        ]

    def mark_sent(self, item_id: int, message_id: str | None, *, now: datetime | None = None) -> bool:
        """Record that Meta accepted the message; return False if it was no longer pending."""
        with self.store.transaction() as conn:
            result = conn.execute(
                _MARK_SENT, {"p_id": item_id, "p_now": now or _utcnow(), "p_message_id": message_id}
            )
        return result.rowcount == 1

    def mark_failed(self, item_id: int, error: str, *, retry_at: datetime | None) -> None:
        """Record a failed attempt: try again at ``retry_at``, or give up when it is None."""
        values: dict[str, object] = {"last_error": error[:MAX_ERROR_CHARS], "claimed_until": None}
        if retry_at is None:
            values["state"] = FAILED
        else:
            values["not_before"] = retry_at
        with self.store.transaction() as conn:
            conn.execute(
                update(outbox).where(outbox.c.id == item_id, outbox.c.state == PENDING).values(**values)
            )

    def sent_like(self, item: OutboxItem, since: datetime) -> int:
        """How many other rows with ``item``'s recipient, channel and text were sent since ``since``.

        The sender compares it with what Meta's conversation shows, to tell whether an in-doubt row
        already went out.
        """
        with self.store.transaction() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(outbox)
                    .where(
                        outbox.c.id != item.id,
                        outbox.c.state == SENT,
                        outbox.c.channel == item.channel,
                        outbox.c.recipient_id == item.recipient_id,
                        outbox.c.text == item.text,
                        outbox.c.sent_at >= since,
                    )
                ).scalar_one()
            )

    def counts(self) -> dict[str, int]:
        """Rows per state (``pending``, ``sent``, ``failed``, ``held``)."""
        with self.store.transaction() as conn:
            rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).all()
        return {state: count for state, count in rows}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
