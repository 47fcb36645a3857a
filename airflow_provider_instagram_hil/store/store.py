"""DecisionStore: approval requests and the first decision on each, shared by webhook and triggerer."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import String, any_, bindparam, delete, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.sql import ColumnElement, Select

from airflow_provider_instagram_hil.exceptions import StoreUnavailableError
from airflow_provider_instagram_hil.store import bootstrap
from airflow_provider_instagram_hil.store.engine import build_engine, display_url, failure_cause
from airflow_provider_instagram_hil.store.models import (
    ApprovalRequest,
    DecisionResult,
    Outcome,
    RequestState,
    RequestStatus,
)
from airflow_provider_instagram_hil.store.rows import (
    MAX_MID_CHARS,
    MAX_REQUEST_ID_CHARS,
    REQUEST_ID_BYTES,
    decision_mid_key,
    is_request_id,
    json_list,
    new_request_id,
    request_from_row,
    state_from_row,
)
from airflow_provider_instagram_hil.store.schema import requests

# The id constants and new_request_id() now live in store.rows; they stay importable from here.
__all__ = [
    "MAX_MID_CHARS",
    "MAX_REQUEST_ID_CHARS",
    "REQUEST_ID_BYTES",
    "DecisionStore",
    "new_request_id",
    "utcnow",
]

T = TypeVar("T")

_STATE_COLUMNS = (
    requests.c.request_id,
    requests.c.status,
    requests.c.chosen_option,
    requests.c.responded_by,
    requests.c.responded_at,
    requests.c.timed_out,
    requests.c.expires_at,
)
# Built once: constructing SQLAlchemy expressions per call was a third of the webhook's CPU per tap.
_SELECT_REQUEST = select(requests).where(requests.c.request_id == bindparam("request_id"))
_DECIDE = (
    update(requests)
    .where(
        requests.c.request_id == bindparam("p_request_id"),
        requests.c.status == RequestStatus.PENDING.value,
        requests.c.expires_at > bindparam("p_now", type_=requests.c.expires_at.type),
    )
    .values(
        status=RequestStatus.DECIDED.value,
        chosen_option=bindparam("p_option"),
        responded_by=bindparam("p_responder_id"),
        responded_at=bindparam("p_now", type_=requests.c.responded_at.type),
        decision_mid=bindparam("p_mid"),
    )
)


@functools.cache
def _ids_query(dialect: str, resolved_only: bool) -> Select[Any]:
    """The state query for a list of ids sent as ONE parameter where the database allows it.

    A poller sends thousands of ids every tick; an expanded ``IN (?, ?, ...)`` costs the client far
    more CPU (rendering and binding each placeholder) than a JSON text (SQLite) or an array (PostgreSQL).
    """
    where: ColumnElement[bool]
    if dialect == "sqlite":
        ids: Select[Any] = select(literal_column("value")).select_from(func.json_each(bindparam("ids")))
        where = requests.c.request_id.in_(ids.scalar_subquery())
    elif dialect == "postgresql":
        where = requests.c.request_id == any_(bindparam("ids", type_=ARRAY(String)))
    else:
        where = requests.c.request_id.in_(bindparam("ids", expanding=True))
    query = select(*_STATE_COLUMNS).where(where)
    if resolved_only:
        query = query.where(requests.c.status != RequestStatus.PENDING.value)
    return query


def _ids_param(dialect: str, request_ids: list[str]) -> object:
    return json.dumps(request_ids) if dialect == "sqlite" else request_ids


_STATUS_OUTCOME = {
    RequestStatus.DECIDED: Outcome.ALREADY_DECIDED,
    RequestStatus.EXPIRED: Outcome.EXPIRED,
    RequestStatus.CANCELLED: Outcome.CANCELLED,
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class DecisionStore:
    """Approval requests and their decisions in any SQLAlchemy database.

    Every state change is one conditional ``UPDATE ... WHERE status = 'pending'``, so the first
    decision (or the expiry) wins and every later attempt learns what won instead.

    :param url: SQLAlchemy URL, e.g. ``sqlite:////opt/airflow/instagram_hil.db`` or ``postgresql://...``.
    :param create: create the tables when missing (default True).
    """

    _instances: dict[str, DecisionStore] = {}
    _instances_lock = threading.Lock()

    def __init__(self, url: str, *, create: bool = True, engine: Engine | None = None) -> None:
        self.url = url
        self.display_url = display_url(url)
        self.engine = engine or build_engine(url)
        self._ready = False
        self._create = create
        self._ready_lock = threading.Lock()

    @classmethod
    def for_url(cls, url: str) -> DecisionStore:
        """Return the process-wide store for ``url`` (one engine and pool per URL)."""
        with cls._instances_lock:
            store = cls._instances.get(url)
            if store is None:
                store = cls._instances[url] = cls(url)
            return store

    def __repr__(self) -> str:
        return f"DecisionStore({self.display_url!r})"

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- schema -------------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the tables if missing, migrate an older schema, refuse a newer or foreign one."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            self._guard(lambda: bootstrap.ensure_schema(self.engine, self.display_url, create=self._create))
            self._ready = True

    def _guard(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(
                f"Decision store {self.display_url} is unavailable: {failure_cause(exc)}"
            ) from exc

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        self.ensure_schema()
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(
                f"Decision store {self.display_url} is unavailable: {failure_cause(exc)}"
            ) from exc

    # -- requests -----------------------------------------------------------------------------------

    def register_request(
        self,
        *,
        dag_id: str,
        run_id: str,
        task_id: str,
        recipients: Sequence[str],
        options: Sequence[str],
        expires_at: datetime,
        map_index: int = -1,
        try_number: int = 1,
        default_option: str | None = None,
        channel: str = "instagram",
        now: datetime | None = None,
    ) -> tuple[ApprovalRequest, bool]:
        """Create the pending request of one task try, or return the one it already has.

        Idempotent per (dag_id, run_id, task_id, map_index, try_number): a re-run of the same try gets
        its existing request back (``created`` False) and must not prompt again if
        ``prompt_message_id`` is set. A cancelled request of the same try is replaced.

        :return: the request and whether this call created it.
        """
        if not recipients:
            raise ValueError("a request needs at least one recipient")
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be a timezone-aware datetime")
        if default_option is not None and default_option not in options:
            raise ValueError(f"default_option {default_option!r} is not one of {list(options)!r}")
        key = {
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task_id,
            "map_index": map_index,
            "try_number": try_number,
        }
        row = {
            **key,
            "request_id": new_request_id(),
            "channel": channel,
            "recipients": json.dumps([str(r) for r in recipients]),
            "options": json.dumps(list(options)),
            "default_option": default_option,
            "created_at": now or utcnow(),
            "expires_at": expires_at,
            "status": RequestStatus.PENDING.value,
            "timed_out": False,
        }
        where_key = [requests.c[name] == value for name, value in key.items()]
        with self._begin() as conn:
            conn.execute(
                delete(requests).where(*where_key, requests.c.status == RequestStatus.CANCELLED.value)
            )
            existing = conn.execute(select(requests).where(*where_key)).first()
            if existing is not None:
                return request_from_row(existing), False
            try:
                with conn.begin_nested():
                    conn.execute(insert(requests).values(**row))
            except IntegrityError:
                existing = conn.execute(select(requests).where(*where_key)).one()
                return request_from_row(existing), False
        created = self.get_request(str(row["request_id"]))
        assert created is not None
        return created, True

    def mark_prompt_sent(self, request_id: str, message_id: str) -> None:
        """Remember the Graph message id of the prompt, so a re-run of the try does not send it again."""
        if not is_request_id(request_id):
            return
        with self._begin() as conn:
            conn.execute(
                update(requests)
                .where(requests.c.request_id == request_id)
                .values(prompt_message_id=message_id)
            )

    def cancel_request(self, request_id: str) -> bool:
        """Cancel a pending request (e.g. its prompt could not be sent). Return whether it was pending."""
        if not is_request_id(request_id):
            return False
        with self._begin() as conn:
            result = conn.execute(
                update(requests)
                .where(requests.c.request_id == request_id, requests.c.status == RequestStatus.PENDING.value)
                .values(status=RequestStatus.CANCELLED.value)
            )
        return result.rowcount == 1

    def get_request(self, request_id: str) -> ApprovalRequest | None:
        """Return the whole request, or None when there is no such id."""
        if not is_request_id(request_id):
            return None  # could never have been stored; PostgreSQL would reject a NUL byte as bad data
        with self._begin() as conn:
            row = conn.execute(_SELECT_REQUEST, {"request_id": request_id}).first()
        return request_from_row(row) if row is not None else None

    def get_states(
        self, request_ids: Collection[str], *, resolved_only: bool = False
    ) -> dict[str, RequestState]:
        """Return the state of many requests in one query.

        :param resolved_only: leave out requests still pending (what a poller needs).
        """
        request_ids = [request_id for request_id in request_ids if is_request_id(request_id)]
        if not request_ids:
            return {}
        dialect = self.engine.dialect.name
        query, ids = _ids_query(dialect, resolved_only), _ids_param(dialect, request_ids)
        with self._begin() as conn:
            rows = conn.execute(query, {"ids": ids}).all()
        return {row.request_id: state_from_row(row) for row in rows}

    def pending_expired_before(self, when: datetime, limit: int = 1000) -> list[str]:
        """Ids of pending requests whose deadline is at or before ``when`` (for housekeeping)."""
        with self._begin() as conn:
            rows = conn.execute(
                select(requests.c.request_id)
                .where(requests.c.status == RequestStatus.PENDING.value, requests.c.expires_at <= when)
                .limit(limit)
            ).all()
        return [row.request_id for row in rows]

    # -- decisions ----------------------------------------------------------------------------------

    def record_decision(
        self,
        request_id: str,
        *,
        option: str,
        responder_id: str,
        mid: str | None = None,
        now: datetime | None = None,
    ) -> DecisionResult:
        """Record ``responder_id`` choosing ``option``, if the request still waits for it.

        Only a recipient of the request may decide, only with one of its options, only before
        ``expires_at``. Of several concurrent calls exactly one gets ``Outcome.RECORDED``; a redelivery
        of the recorded event (same ``mid``) gets ``Outcome.DUPLICATE``.
        """
        now = now or utcnow()
        mid = decision_mid_key(mid)
        current = self.get_request(request_id)
        if current is None:
            return DecisionResult(Outcome.UNKNOWN_REQUEST, None)
        if str(responder_id) not in current.recipients:
            return DecisionResult(Outcome.NOT_ALLOWED, current)
        if option not in current.options:
            return DecisionResult(Outcome.INVALID_OPTION, current)
        if current.status is RequestStatus.PENDING and now < current.expires_at:
            with self._begin() as conn:
                result = conn.execute(
                    _DECIDE,
                    {
                        "p_request_id": request_id,
                        "p_now": now,
                        "p_option": option,
                        "p_responder_id": str(responder_id),
                        "p_mid": mid,
                    },
                )
            if result.rowcount == 1:
                # The conditional UPDATE changed exactly these columns: no need to read the row back.
                decided = replace(
                    current,
                    status=RequestStatus.DECIDED,
                    chosen_option=option,
                    responded_by=str(responder_id),
                    responded_at=now,
                    decision_mid=mid,
                )
                return DecisionResult(Outcome.RECORDED, decided)
            current = self.get_request(request_id) or current
        return DecisionResult(_late_outcome(current, mid, now), current)

    def expire_request(self, request_id: str, *, now: datetime | None = None) -> DecisionResult:
        """Close a request at its deadline: record its default option, or mark it expired.

        Atomic against ``record_decision``: a tap at the same instant is either the decision (this
        returns ``ALREADY_DECIDED`` with it) or refused as late, never both.
        """
        now = now or utcnow()
        current = self.get_request(request_id)
        if current is None:
            return DecisionResult(Outcome.UNKNOWN_REQUEST, None)
        if current.status is RequestStatus.PENDING:
            values: dict[str, Any] = {"timed_out": True, "responded_at": now}
            if current.default_option is not None:
                values.update(status=RequestStatus.DECIDED.value, chosen_option=current.default_option)
            else:
                values["status"] = RequestStatus.EXPIRED.value
            with self._begin() as conn:
                result = conn.execute(
                    update(requests)
                    .where(
                        requests.c.request_id == request_id, requests.c.status == RequestStatus.PENDING.value
                    )
                    .values(**values)
                )
            current = self.get_request(request_id) or current
            if result.rowcount == 1:
                return DecisionResult(Outcome.RECORDED, current)
        return DecisionResult(_STATUS_OUTCOME.get(current.status, Outcome.ALREADY_DECIDED), current)

    # -- maintenance --------------------------------------------------------------------------------

    def integrity_problems(self) -> list[str]:
        """Check invariants every row must hold; return a description of each violation."""
        problems: list[str] = []
        with self._begin() as conn:
            for row in conn.execute(select(requests)).all():
                status = row.status
                if status not in {s.value for s in RequestStatus}:
                    problems.append(f"{row.request_id}: unknown status {status!r}")
                decided = status == RequestStatus.DECIDED.value
                if decided and row.chosen_option is None:
                    problems.append(f"{row.request_id}: decided without an option")
                options = json_list(row.options)
                recipients = json_list(row.recipients)
                if options is None:
                    problems.append(f"{row.request_id}: options are not a JSON list")
                if recipients is None:
                    problems.append(f"{row.request_id}: recipients are not a JSON list")
                if decided and options is not None and row.chosen_option not in options:
                    problems.append(f"{row.request_id}: chosen option is not one of the options")
                human = decided and not row.timed_out
                if human and recipients is not None and row.responded_by not in recipients:
                    problems.append(f"{row.request_id}: decided by someone who is not a recipient")
                if not decided and row.chosen_option is not None:
                    problems.append(f"{row.request_id}: {status} but carries a chosen option")
            if conn.dialect.name == "sqlite":
                verdict = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                if verdict != "ok":
                    problems.append(f"sqlite integrity_check: {verdict}")
        return problems

    def count_by_status(self) -> dict[str, int]:
        """Number of requests in each status."""
        with self._begin() as conn:
            rows = conn.execute(select(requests.c.status, func.count()).group_by(requests.c.status)).all()
        return {status: count for status, count in rows}

    def purge_resolved_before(self, cutoff: datetime) -> int:
        """Delete requests that were resolved and created before ``cutoff``; return how many."""
        with self._begin() as conn:
            result = conn.execute(
                delete(requests).where(
                    requests.c.status != RequestStatus.PENDING.value, requests.c.created_at < cutoff
                )
            )
        return result.rowcount


def _late_outcome(current: ApprovalRequest, mid: str | None, now: datetime) -> Outcome:
    if current.status is RequestStatus.DECIDED and mid is not None and current.decision_mid == mid:
        return Outcome.DUPLICATE
    if current.status is RequestStatus.DECIDED and current.timed_out:
        # Closed at the deadline with the default option: for the reviewer the request expired.
        return Outcome.EXPIRED
    if current.status is RequestStatus.PENDING:
        # Past its deadline, not yet closed by the trigger: late all the same.
        return Outcome.EXPIRED if now >= current.expires_at else Outcome.ALREADY_DECIDED
    return _STATUS_OUTCOME[current.status]
