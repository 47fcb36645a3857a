"""DecisionStore: approval requests, their recipients and responses, shared by webhook and triggerer."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.sql import ColumnElement

from airflow_provider_instagram_hil.ids import MAX_PARTY_ID_CHARS, is_request_id, new_request_id
from airflow_provider_instagram_hil.store import decisions
from airflow_provider_instagram_hil.store.database import StoreDatabase
from airflow_provider_instagram_hil.store.decisions import MessageFactory
from airflow_provider_instagram_hil.store.models import (
    KEPT,
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
)
from airflow_provider_instagram_hil.store.outbox import PROMPT, PROMPT_BUTTONS, enqueue, release_held
from airflow_provider_instagram_hil.store.policy import FIRST, DecisionPolicy
from airflow_provider_instagram_hil.store.schema import (
    MAX_ERROR_CHARS,
    MAX_SUBJECT_CHARS,
    recipients,
    requests,
)
from airflow_provider_instagram_hil.store.state_reads import read_closed_since, read_states, same_task
from airflow_provider_instagram_hil.store.watch import announce_closed

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.store.maintenance import StoreMaintenance
    from airflow_provider_instagram_hil.store.outbox import OutboxQueue

T = TypeVar("T")


def _recipient_row(request_id: str, channel: str, recipient_id: str) -> ColumnElement[bool]:
    """One recipient of one request."""
    return and_(
        recipients.c.request_id == request_id,
        recipients.c.channel == channel,
        recipients.c.recipient_id == str(recipient_id),
    )


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class DecisionStore(StoreDatabase):
    """Approval requests and their responses in any SQLAlchemy database.

    Every change that can race (a response, the deadline, a cancellation) runs in one transaction that
    first locks the request (``SELECT ... FOR UPDATE`` on PostgreSQL, the write lock on SQLite), so a
    request closes exactly once and every later attempt learns what closed it.

    :param url: SQLAlchemy URL, e.g. ``sqlite:////opt/airflow/instagram_hil.db`` or ``postgresql://...``.
    :param create: create the tables when missing (default True).
    """

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
        persistent_buttons: bool = False,
        now: datetime | None = None,
    ) -> None:
        """Meta refused ``recipient_id``'s prompt because its messaging window is closed: keep the prompt
        (``text``) to send when they next write to the account (:meth:`release_prompts`), with persistent
        buttons when the operator asked for them."""
        kind = PROMPT_BUTTONS if persistent_buttons else PROMPT
        prompt = OutboxMessage(channel, str(recipient_id), text, kind=kind, request_id=request_id, held=True)
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
        with self.transaction() as conn:
            return read_states(conn, request_ids, resolved_only=resolved_only)

    def closed_since(self, since: datetime) -> dict[str, RequestState]:
        """The requests closed (decided, expired, cancelled, superseded) at or after ``since``, with their
        responses, in one indexed query: what a poller woken by an unnamed change needs."""
        with self.transaction() as conn:
            return read_closed_since(conn, since)

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
                .select_from(requests.join(later, same_task(requests, later)))
                .where(requests.c.request_id == request_id)
                .order_by(later.c.try_number.desc())
                .limit(1)
            ).scalar()
            return decisions.load_request(conn, newest) if newest is not None else None

    def pending_for_sender(self, channel: str, sender_id: str) -> list[ApprovalRequest]:
        """The pending requests that ask ``sender_id`` on ``channel``, oldest first (one indexed query); a
        backup reviewer's only once the request was escalated to them (prompted, or the prompt kept for
        when they write)."""
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
                        recipients.c.delivery.in_([delivery.value for delivery in KEPT]),
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
