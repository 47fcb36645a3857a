"""DecisionStore: approval requests, their recipients and responses, shared by webhook and triggerer."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import String, and_, any_, bindparam, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import ColumnElement, Select

from airflow_provider_instagram_hil.exceptions import StoreUnavailableError
from airflow_provider_instagram_hil.store import bootstrap, decisions
from airflow_provider_instagram_hil.store.decisions import MessageFactory
from airflow_provider_instagram_hil.store.engine import (
    StoreTimeouts,
    build_engine,
    display_url,
    failure_cause,
)
from airflow_provider_instagram_hil.store.models import (
    ApprovalRequest,
    DecisionResult,
    Delivery,
    ElsewhereCheck,
    OutboxMessage,
    Outcome,
    RecipientRole,
    RecipientSpec,
    RequestState,
    RequestStatus,
    Response,
)
from airflow_provider_instagram_hil.store.outbox import PROMPT, enqueue, release_held
from airflow_provider_instagram_hil.store.policy import FIRST, DecisionPolicy
from airflow_provider_instagram_hil.store.rows import (
    is_request_id,
    new_request_id,
    response_from_row,
    state_from_row,
)
from airflow_provider_instagram_hil.store.schema import (
    MAX_ERROR_CHARS,
    MAX_PARTY_ID_CHARS,
    MAX_SUBJECT_CHARS,
    recipients,
    requests,
    responses,
)
from airflow_provider_instagram_hil.store.watch import announce_closed

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.store.maintenance import StoreMaintenance
    from airflow_provider_instagram_hil.store.outbox import OutboxQueue

T = TypeVar("T")


_STATE_COLUMNS = (
    requests.c.request_id,
    requests.c.status,
    requests.c.chosen_option,
    requests.c.responded_by,
    requests.c.responded_at,
    requests.c.timed_out,
    requests.c.expires_at,
    requests.c.closed_reason,
)


def _recipient_row(request_id: str, channel: str, recipient_id: str) -> ColumnElement[bool]:
    """One recipient of one request."""
    return and_(
        recipients.c.request_id == request_id,
        recipients.c.channel == channel,
        recipients.c.recipient_id == str(recipient_id),
    )


def _same_task(request: Any, other: Any) -> ColumnElement[bool]:
    """Two aliases of the requests table name the same task instance (any tries)."""
    return and_(*(other.c[name] == request.c[name] for name in ("dag_id", "run_id", "task_id", "map_index")))


_later = requests.alias("later")
#: Whether a later try of the same task instance registered a request (the unique index answers it).
_NEWER_TRY = (
    select(_later.c.request_id)
    .where(_same_task(requests, _later), _later.c.try_number > requests.c.try_number)
    .exists()
    .label("newer_try")
)
_RESPONSE_COLUMNS = (
    responses.c.responder_id,
    responses.c.channel,
    responses.c.option,
    responses.c.reason,
    responses.c.mid,
    responses.c.received_at,
    responses.c.source,
)


@functools.cache
def _ids_query(dialect: str, resolved_only: bool) -> Select[Any]:
    """The state query for a list of ids sent as ONE parameter where the database allows it.

    A poller sends thousands of ids every tick; an expanded ``IN (?, ?, ...)`` costs the client far
    more CPU (rendering and binding each placeholder) than a JSON text (SQLite) or an array (PostgreSQL).
    The responses come in the same statement (one row per response), so a tick stays one query.
    """
    query = (
        select(*_STATE_COLUMNS, _NEWER_TRY, *_RESPONSE_COLUMNS)
        .select_from(requests.outerjoin(responses, responses.c.request_id == requests.c.request_id))
        .where(_id_in(requests.c.request_id, dialect))
        .order_by(responses.c.id)
    )
    if resolved_only:
        query = query.where(requests.c.status != RequestStatus.PENDING.value)
    return query


def _id_in(column: Any, dialect: str) -> ColumnElement[bool]:
    if dialect == "sqlite":
        ids: Select[Any] = select(literal_column("value")).select_from(func.json_each(bindparam("ids")))
        return column.in_(ids.scalar_subquery())
    if dialect == "postgresql":
        return column == any_(bindparam("ids", type_=ARRAY(String)))
    return column.in_(bindparam("ids", expanding=True))


_CLOSED_SINCE = (
    select(*_STATE_COLUMNS, _NEWER_TRY, *_RESPONSE_COLUMNS)
    .select_from(requests.outerjoin(responses, responses.c.request_id == requests.c.request_id))
    .where(
        requests.c.responded_at >= bindparam("since", type_=requests.c.responded_at.type),
        requests.c.status != RequestStatus.PENDING.value,
    )
    .order_by(responses.c.id)
)


def _states(rows: Sequence[Any]) -> dict[str, RequestState]:
    """States from rows of a state query: one row per response (or one without, for none)."""
    first: dict[str, Any] = {}
    answers: dict[str, list[Response]] = {}
    for row in rows:
        first.setdefault(row.request_id, row)
        if row.responder_id is not None:
            answers.setdefault(row.request_id, []).append(response_from_row(row))
    return {rid: state_from_row(row, answers.get(rid, ())) for rid, row in first.items()}


def _ids_param(dialect: str, request_ids: list[str]) -> object:
    return json.dumps(request_ids) if dialect == "sqlite" else request_ids


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class DecisionStore:
    """Approval requests and their responses in any SQLAlchemy database.

    Every change that can race (a response, the deadline, a cancellation) runs in one transaction that
    first locks the request (``SELECT ... FOR UPDATE`` on PostgreSQL, the write lock on SQLite), so a
    request closes exactly once and every later attempt learns what closed it.

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
        self._attempts = 0
        self._failure: StoreUnavailableError | None = None

    @classmethod
    def for_url(cls, url: str, timeouts: StoreTimeouts | None = None) -> DecisionStore:
        """Return the process-wide store for ``url`` (one engine and pool per URL).

        :param timeouts: the time limits of its engine, used when this call creates it.
        """
        with cls._instances_lock:
            store = cls._instances.get(url)
            if store is None:
                store = cls._instances[url] = cls(url, engine=build_engine(url, timeouts))
            return store

    def __repr__(self) -> str:
        return f"DecisionStore({self.display_url!r})"

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @cached_property
    def outbox(self) -> OutboxQueue:
        """Messages owed to reviewers, sent by the webhook's outbox sender."""
        from airflow_provider_instagram_hil.store.outbox import OutboxQueue

        return OutboxQueue(self)

    @cached_property
    def maintenance(self) -> StoreMaintenance:
        """Listing, auditing, checking and pruning requests."""
        from airflow_provider_instagram_hil.store.maintenance import StoreMaintenance

        return StoreMaintenance(self)

    # -- schema and transactions ----------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the tables if missing, migrate an older schema, refuse a newer or foreign one."""
        if self._ready:
            return
        attempts_seen = self._attempts
        with self._ready_lock:
            if self._ready:
                return
            if self._attempts != attempts_seen and self._failure is not None:
                # An attempt ran while this caller queued for the lock, and failed: share its answer
                # instead of waiting out a connect timeout of its own.
                raise self._failure
            self._attempts += 1
            try:
                self._guard(self._bring_schema)
            except StoreUnavailableError as exc:
                self._failure = exc
                raise
            self._failure = None
            self._ready = True

    def _bring_schema(self) -> None:
        bootstrap.ensure_schema(self.engine, self.display_url, create=self._create)

    def _guard(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: SQLAlchemyError) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"Decision store {self.display_url} is unavailable: {failure_cause(exc)}"
        )

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """One transaction; with ``write`` it takes SQLite's write lock first (PostgreSQL locks rows).

        :raises StoreUnavailableError: the database failed; nothing was committed.
        """
        self.ensure_schema()
        try:
            with self.engine.begin() as conn:
                if write and conn.dialect.name == "sqlite":
                    # pysqlite has not begun yet (it waits for the first DML): take the write lock now,
                    # so a read-then-write cannot interleave with another process's.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc

    # -- requests -------------------------------------------------------------------------------------

    def register_request(
        self,
        *,
        dag_id: str,
        run_id: str,
        task_id: str,
        recipients: Sequence[str | RecipientSpec],
        options: Sequence[str],
        expires_at: datetime,
        map_index: int = -1,
        try_number: int = 1,
        default_option: str | None = None,
        reject_options: Sequence[str] = (),
        policy: DecisionPolicy = FIRST,
        subject: str | None = None,
        source: str = "operator",
        channel: str = "instagram",
        require_reason: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
    ) -> tuple[ApprovalRequest, bool]:
        """Create the pending request of one task try, or return the one it already has.

        Idempotent per (dag_id, run_id, task_id, map_index, try_number): a re-run of the same try gets
        its existing request back (``created`` False) and prompts only the recipients not yet prompted.
        A cancelled request of the same try is replaced; pending requests of earlier tries of the same
        task instance are superseded (their buttons then say so).

        :param recipients: ids on ``channel``, or :class:`RecipientSpec` for other channels and names.
        :param require_reason: a rejection counts only with a reason typed after the option.
        :param timezone: the IANA time zone deadlines are shown in (None: UTC).
        :return: the request and whether this call created it.
        """
        specs = _recipient_specs(recipients, channel)
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be a timezone-aware datetime")
        if default_option is not None and default_option not in options:
            raise ValueError(f"default_option {default_option!r} is not one of {list(options)!r}")
        if not set(reject_options) <= set(options):
            raise ValueError(f"reject_options {list(reject_options)!r} must be options of {list(options)!r}")
        policy.check_options(options, reject_options)
        policy.check_recipients(sum(spec.role.value == "reviewer" for spec in specs))
        now = now or utcnow()
        key = {
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task_id,
            "map_index": map_index,
            "try_number": try_number,
        }
        with self.transaction(write=True) as conn:
            request_id = decisions.register(
                conn,
                key=key,
                row={
                    "request_id": new_request_id(),
                    "source": source,
                    "subject": " ".join(subject.split())[:MAX_SUBJECT_CHARS] if subject else None,
                    "options": json.dumps(list(options)),
                    "reject_options": json.dumps(list(reject_options)),
                    "default_option": default_option,
                    "policy": policy.kind.value,
                    "min_approvals": policy.min_approvals,
                    "veto": policy.veto,
                    "created_at": now,
                    "expires_at": expires_at,
                    "status": RequestStatus.PENDING.value,
                    "timed_out": False,
                    "require_reason": require_reason,
                    "timezone": timezone,
                },
                specs=specs,
                now=now,
            )
            created = request_id is not None
            if request_id is None:
                request_id = conn.execute(
                    select(requests.c.request_id).where(*(requests.c[k] == v for k, v in key.items()))
                ).scalar_one()
            request = decisions.load_request(conn, request_id)
        assert request is not None
        return request, created

    def mark_prompt_sent(
        self,
        request_id: str,
        recipient_id: str,
        message_id: str | None,
        *,
        channel: str = "instagram",
        now: datetime | None = None,
    ) -> None:
        """Remember that ``recipient_id`` got the prompt, so a re-run of the try does not send it again."""
        self._set_delivery(
            request_id,
            recipient_id,
            channel,
            prompt_message_id=message_id or None,
            prompted_at=now or utcnow(),
            delivery=Delivery.SENT.value,
            delivery_error=None,
        )

    def mark_reminded(
        self, request_id: str, recipient_id: str, *, channel: str = "instagram", now: datetime | None = None
    ) -> None:
        """Remember that ``recipient_id`` got a reminder now (one per reminder time)."""
        self._set_delivery(request_id, recipient_id, channel, reminded_at=now or utcnow())

    def mark_prompt_failed(
        self, request_id: str, recipient_id: str, error: str, *, channel: str = "instagram"
    ) -> None:
        """Record why the prompt could not reach ``recipient_id`` (shown in the audit trail)."""
        self._set_delivery(
            request_id,
            recipient_id,
            channel,
            delivery=Delivery.FAILED.value,
            delivery_error=error[:MAX_ERROR_CHARS],
        )

    def hold_prompt(
        self,
        request_id: str,
        recipient_id: str,
        text: str,
        error: str,
        *,
        channel: str = "instagram",
        now: datetime | None = None,
    ) -> None:
        """Meta refused ``recipient_id``'s prompt because its messaging window is closed: keep the prompt
        (``text``) to send when they next write to the account (:meth:`release_prompts`)."""
        prompt = OutboxMessage(
            channel, str(recipient_id), text, kind=PROMPT, request_id=request_id, held=True
        )
        with self.transaction() as conn:
            conn.execute(
                update(recipients)
                .where(_recipient_row(request_id, channel, recipient_id))
                .values(delivery=Delivery.WAITING.value, delivery_error=error[:MAX_ERROR_CHARS])
            )
            enqueue(conn, [prompt], now or utcnow())

    def release_prompts(
        self, channel: str, sender_id: str, request_ids: Collection[str], *, now: datetime | None = None
    ) -> int:
        """``sender_id`` wrote to the account on ``channel``, which opens Meta's window: the prompts kept
        for them (:meth:`hold_prompt`) of ``request_ids`` become due for the webhook's sender; return how
        many."""
        if not request_ids:
            return 0
        with self.transaction() as conn:
            conn.execute(
                update(recipients)
                .where(
                    recipients.c.request_id.in_(list(request_ids)),
                    recipients.c.channel == channel,
                    recipients.c.recipient_id == str(sender_id),
                    recipients.c.delivery == Delivery.WAITING.value,
                )
                .values(delivery=Delivery.CONTACTED.value)
            )
            return release_held(conn, channel, str(sender_id), request_ids, now or utcnow())

    def set_delivery(
        self, channel: str, message_id: str, delivery: Delivery, error: str | None = None
    ) -> int:
        """Record a delivery status callback (WhatsApp) for the prompt ``message_id``; return rows changed."""
        with self.transaction() as conn:
            result = conn.execute(
                update(recipients)
                .where(recipients.c.channel == channel, recipients.c.prompt_message_id == message_id)
                .values(delivery=delivery.value, delivery_error=(error or None) and error[:MAX_ERROR_CHARS])
            )
        return int(result.rowcount)

    def _set_delivery(self, request_id: str, recipient_id: str, channel: str, **values: Any) -> None:
        if not is_request_id(request_id):
            return
        with self.transaction() as conn:
            conn.execute(
                update(recipients).where(_recipient_row(request_id, channel, recipient_id)).values(**values)
            )

    def cancel_request(
        self,
        request_id: str,
        reason: str = "cancelled",
        *,
        now: datetime | None = None,
        messages: MessageFactory | None = None,
    ) -> bool:
        """Cancel a pending request (its task was stopped, or no prompt could be sent).

        :param messages: turns the cancellation into notices that commit with it.
        :return: whether it was pending (and is now cancelled).
        """
        if not is_request_id(request_id):
            return False
        with self.transaction(write=True) as conn:
            result = conn.execute(
                update(requests)
                .where(requests.c.request_id == request_id, requests.c.status == RequestStatus.PENDING.value)
                .values(
                    status=RequestStatus.CANCELLED.value,
                    closed_reason=reason[:MAX_ERROR_CHARS],
                    responded_at=now or utcnow(),
                )
            )
            if result.rowcount == 1:
                announce_closed(conn, request_id)
                cancelled = decisions.load_request(conn, request_id) if messages is not None else None
                if messages is not None and cancelled is not None:
                    closed = DecisionResult(Outcome.RECORDED, cancelled, closed=True)
                    enqueue(conn, messages(closed), now or utcnow())
        return result.rowcount == 1

    def get_request(self, request_id: str) -> ApprovalRequest | None:
        """Return the whole request with its recipients and responses, or None when there is no such id."""
        if not is_request_id(request_id):
            return None  # could never have been stored; PostgreSQL would reject a NUL byte as bad data
        with self.transaction() as conn:
            return decisions.load_request(conn, request_id)

    def get_states(
        self, request_ids: Collection[str], *, resolved_only: bool = False
    ) -> dict[str, RequestState]:
        """Return the state of many requests, with their responses, in at most two queries.

        :param resolved_only: leave out requests still pending (what a poller needs).
        """
        request_ids = [request_id for request_id in request_ids if is_request_id(request_id)]
        if not request_ids:
            return {}
        dialect = self.engine.dialect.name
        with self.transaction() as conn:
            rows = conn.execute(
                _ids_query(dialect, resolved_only), {"ids": _ids_param(dialect, request_ids)}
            ).all()
        return _states(rows)

    def closed_since(self, since: datetime) -> dict[str, RequestState]:
        """The requests closed (decided, expired, cancelled, superseded) at or after ``since``, with their
        responses, in one indexed query: what a poller woken by an unnamed change needs."""
        with self.transaction() as conn:
            rows = conn.execute(_CLOSED_SINCE, {"since": since}).all()
        return _states(rows)

    def request_for_try(
        self, *, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int
    ) -> ApprovalRequest | None:
        """The request of one task try, or None when that try registered none."""
        with self.transaction() as conn:
            request_id = conn.execute(
                select(requests.c.request_id).where(
                    requests.c.dag_id == dag_id,
                    requests.c.run_id == run_id,
                    requests.c.task_id == task_id,
                    requests.c.map_index == map_index,
                    requests.c.try_number == try_number,
                )
            ).scalar()
            return decisions.load_request(conn, request_id) if request_id is not None else None

    def newest_try_request(self, request_id: str) -> ApprovalRequest | None:
        """The request of the newest try of ``request_id``'s task instance (``request_id``'s own request
        when no later try registered one), or None when there is no such id."""
        if not is_request_id(request_id):
            return None
        later = requests.alias("later")
        with self.transaction() as conn:
            newest = conn.execute(
                select(later.c.request_id)
                .select_from(requests.join(later, _same_task(requests, later)))
                .where(requests.c.request_id == request_id)
                .order_by(later.c.try_number.desc())
                .limit(1)
            ).scalar()
            return decisions.load_request(conn, newest) if newest is not None else None

    def pending_for_sender(self, channel: str, sender_id: str) -> list[ApprovalRequest]:
        """The pending requests that ask ``sender_id`` on ``channel``, oldest first (one indexed query); a
        backup reviewer's only once the request was escalated to them."""
        with self.transaction() as conn:
            ids = conn.execute(
                select(recipients.c.request_id)
                .join(requests, requests.c.request_id == recipients.c.request_id)
                .where(
                    recipients.c.channel == channel,
                    recipients.c.recipient_id == str(sender_id)[:MAX_PARTY_ID_CHARS],
                    requests.c.status == RequestStatus.PENDING.value,
                    or_(
                        recipients.c.role == RecipientRole.REVIEWER.value,
                        recipients.c.prompted_at.is_not(None),
                    ),
                )
                .order_by(requests.c.created_at)
            ).scalars()
            found = [decisions.load_request(conn, request_id) for request_id in ids]
        return [request for request in found if request is not None]

    # -- responses and the deadline -------------------------------------------------------------------

    def record_decision(
        self,
        request_id: str,
        *,
        option: str,
        responder_id: str,
        channel: str = "instagram",
        mid: str | None = None,
        reason: str | None = None,
        source: str | None = None,
        now: datetime | None = None,
        messages: MessageFactory | None = None,
        elsewhere: ElsewhereCheck | None = None,
    ) -> DecisionResult:
        """Record ``responder_id`` choosing ``option`` and apply the request's policy.

        Only a recipient of the request, on the channel they were asked on, may respond, once, with one
        of its options, before ``expires_at``. A redelivery of the recorded event (same ``mid``) gets
        ``Outcome.DUPLICATE``. ``messages`` turns the result into replies that commit with it;
        ``elsewhere`` is asked, under the request's lock, whether it was answered somewhere else first.
        """
        if not is_request_id(request_id):
            return DecisionResult(Outcome.UNKNOWN_REQUEST, None)
        with self.transaction(write=True) as conn:
            return decisions.record_response(
                conn,
                request_id=request_id,
                option=option,
                responder_id=str(responder_id),
                channel=channel,
                mid=mid,
                reason=reason,
                source=source or channel,
                now=now or utcnow(),
                messages=messages,
                elsewhere=elsewhere,
            )

    def expire_request(
        self, request_id: str, *, now: datetime | None = None, messages: MessageFactory | None = None
    ) -> DecisionResult:
        """Close a request at its deadline: record its default option, or mark it expired.

        Atomic against ``record_decision``: a tap at the same instant is either the decision (this
        returns ``ALREADY_DECIDED`` with it) or refused as late, never both.
        """
        if not is_request_id(request_id):
            return DecisionResult(Outcome.UNKNOWN_REQUEST, None)
        with self.transaction(write=True) as conn:
            return decisions.expire(conn, request_id, now or utcnow(), messages)


def _recipient_specs(recipients: Sequence[str | RecipientSpec], channel: str) -> list[RecipientSpec]:
    if isinstance(recipients, str) or not recipients:
        raise ValueError("a request needs at least one recipient")
    specs = [r if isinstance(r, RecipientSpec) else RecipientSpec(str(r), channel) for r in recipients]
    keys = [(spec.channel, spec.recipient_id) for spec in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("a recipient may be listed only once per channel")
    for spec in specs:
        if not spec.recipient_id or len(spec.recipient_id) > MAX_PARTY_ID_CHARS:
            raise ValueError(
                f"recipient id {spec.recipient_id!r} must be 1 to {MAX_PARTY_ID_CHARS} characters"
            )
    return specs
