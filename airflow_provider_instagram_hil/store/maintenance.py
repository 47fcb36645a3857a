"""Looking after a store: list and audit requests, check invariants, prune what is old."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from airflow_provider_instagram_hil.store import decisions
from airflow_provider_instagram_hil.store.models import OutboxItem, RequestStatus
from airflow_provider_instagram_hil.store.outbox import item_from_row
from airflow_provider_instagram_hil.store.rows import json_list
from airflow_provider_instagram_hil.store.schema import outbox, recipients, requests, responses

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.store.models import ApprovalRequest
    from airflow_provider_instagram_hil.store.store import DecisionStore

#: A pending request this long past its deadline has no trigger left to close it: Airflow fails a
#: deferred task ten minutes after its deadline (the operator's grace), so nobody is waiting for it.
ORPHAN_GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class RequestSummary:
    """One line of ``instagram-hil requests list``."""

    request_id: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    status: str
    chosen_option: str | None
    created_at: datetime
    expires_at: datetime
    responses: int


@dataclass(frozen=True)
class SentMessage:
    """One outbox row, for the audit trail."""

    item: OutboxItem
    state: str
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


class StoreMaintenance:
    """Operator tools over one store (the ``instagram-hil`` command uses them).

    :param store: the decision store.
    """

    def __init__(self, store: DecisionStore) -> None:
        self.store = store

    def list_requests(
        self,
        *,
        dag_id: str | None = None,
        status: str | None = None,
        older_than: timedelta | None = None,
        limit: int = 100,
        now: datetime | None = None,
    ) -> list[RequestSummary]:
        """Requests newest first, filtered by DAG, status and age (created before ``now - older_than``)."""
        answers = (
            select(responses.c.request_id, func.count().label("n"))
            .group_by(responses.c.request_id)
            .subquery()
        )
        query = (
            select(requests, func.coalesce(answers.c.n, 0).label("n_responses"))
            .outerjoin(answers, answers.c.request_id == requests.c.request_id)
            .order_by(requests.c.created_at.desc())
            .limit(limit)
        )
        if dag_id is not None:
            query = query.where(requests.c.dag_id == dag_id)
        if status is not None:
            query = query.where(requests.c.status == status)
        if older_than is not None:
            query = query.where(requests.c.created_at < (now or _utcnow()) - older_than)
        with self.store.transaction() as conn:
            rows = conn.execute(query).all()
        return [
            RequestSummary(
                request_id=row.request_id,
                dag_id=row.dag_id,
                run_id=row.run_id,
                task_id=row.task_id,
                map_index=row.map_index,
                try_number=row.try_number,
                status=row.status,
                chosen_option=row.chosen_option,
                created_at=row.created_at,
                expires_at=row.expires_at,
                responses=row.n_responses,
            )
            for row in rows
        ]

    def audit_trail(self, request_id: str) -> tuple[ApprovalRequest, list[SentMessage]] | None:
        """The request with its recipients and responses, and every message queued for it."""
        with self.store.transaction() as conn:
            request = decisions.load_request(conn, request_id)
            if request is None:
                return None
            rows = conn.execute(select(outbox).where(outbox.c.request_id == request_id).order_by(outbox.c.id))
            sent = [
                SentMessage(
                    item=item_from_row(row),
                    state=row.state,
                    created_at=row.created_at,
                    sent_at=row.sent_at,
                    last_error=row.last_error,
                )
                for row in rows
            ]
        return request, sent

    def count_by_status(self) -> dict[str, int]:
        """Number of requests in each status."""
        with self.store.transaction() as conn:
            rows = conn.execute(select(requests.c.status, func.count()).group_by(requests.c.status)).all()
        return {status: count for status, count in rows}

    def overdue(
        self, *, grace: timedelta = timedelta(0), now: datetime | None = None
    ) -> list[tuple[str, datetime]]:
        """Pending requests whose deadline passed more than ``grace`` ago: (request id, deadline)."""
        cutoff = (now or _utcnow()) - grace
        with self.store.transaction() as conn:
            rows = conn.execute(
                select(requests.c.request_id, requests.c.expires_at)
                .where(requests.c.status == RequestStatus.PENDING.value, requests.c.expires_at <= cutoff)
                .order_by(requests.c.expires_at)
            ).all()
        return [(row.request_id, row.expires_at) for row in rows]

    def prune(self, older_than: timedelta, *, batch_size: int = 500, now: datetime | None = None) -> int:
        """Delete closed requests created before ``now - older_than``, with all their rows.

        Works in batches, each its own short transaction, so a running webhook waits at most one batch.
        Pending requests are never deleted, however old.

        :return: how many requests were deleted.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        cutoff = (now or _utcnow()) - older_than
        deleted = 0
        while True:
            with self.store.transaction(write=True) as conn:
                ids = (
                    conn.execute(
                        select(requests.c.request_id)
                        .where(
                            requests.c.status != RequestStatus.PENDING.value, requests.c.created_at < cutoff
                        )
                        .limit(batch_size)
                    )
                    .scalars()
                    .all()
                )
                deleted += decisions.delete_requests(conn, list(ids))
            if len(ids) < batch_size:
                return deleted

    def integrity_problems(self) -> list[str]:
        """Check invariants every row must hold; return a description of each violation."""
        with self.store.transaction() as conn:
            problems = list(_request_problems(conn))
            problems += _orphans(conn)
            if conn.dialect.name == "sqlite":
                verdict = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                if verdict != "ok":
                    problems.append(f"sqlite integrity_check: {verdict}")
        return problems


def _request_problems(conn) -> Iterator[str]:
    asked: dict[str, set[tuple[str, str]]] = {}
    for row in conn.execute(select(recipients.c.request_id, recipients.c.channel, recipients.c.recipient_id)):
        asked.setdefault(row.request_id, set()).add((row.channel, row.recipient_id))
    answered: dict[str, list[tuple[str, str, str]]] = {}
    for row in conn.execute(
        select(responses.c.request_id, responses.c.channel, responses.c.responder_id, responses.c.option)
    ):
        answered.setdefault(row.request_id, []).append((row.channel, row.responder_id, row.option))
    statuses = {s.value for s in RequestStatus}
    for row in conn.execute(select(requests)):
        rid, status = row.request_id, row.status
        if status not in statuses:
            yield f"{rid}: unknown status {status!r}"
        options = json_list(row.options)
        if options is None or json_list(row.reject_options) is None:
            yield f"{rid}: options are not a JSON list"
            continue
        if not asked.get(rid):
            yield f"{rid}: has no recipients"
        decided = status == RequestStatus.DECIDED.value
        if decided and row.chosen_option is None:
            yield f"{rid}: decided without an option"
        elif decided and row.chosen_option not in options:
            yield f"{rid}: chosen option is not one of the options"
        if not decided and row.chosen_option is not None:
            yield f"{rid}: {status} but carries a chosen option"
        if (
            decided
            and not row.timed_out
            and row.responded_by not in {who for _, who, _ in answered.get(rid, [])}
        ):
            yield f"{rid}: decided by someone who did not respond"
        for channel, who, option in answered.get(rid, []):
            # Answers given in Airflow's own UI are mirrored here; the recipients are who we asked.
            if channel != "airflow" and (channel, who) not in asked.get(rid, set()):
                yield f"{rid}: response by {who} on {channel}, who was not asked there"
            if option not in options:
                yield f"{rid}: response with {option!r}, not one of its options"


def _orphans(conn) -> list[str]:
    known = select(requests.c.request_id)
    problems = []
    for table in (recipients, responses):
        count = conn.execute(
            select(func.count()).select_from(table).where(table.c.request_id.not_in(known))
        ).scalar()
        if count:
            problems.append(f"{count} {table.name} row(s) belong to no request")
    return problems


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
