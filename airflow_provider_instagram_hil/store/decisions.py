"""The transactions that change a request: register it, record a response, close it at its deadline.

Each function runs inside the caller's transaction (``DecisionStore.transaction(write=True)``) and, where
requests can race, reads the request with a row lock first, so exactly one caller closes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from airflow_provider_instagram_hil.exceptions import RequestClosedElsewhereError, ResponseRefusedError
from airflow_provider_instagram_hil.ids import mid_key
from airflow_provider_instagram_hil.store.models import (
    ApprovalRequest,
    DecisionResult,
    Delivery,
    ElsewhereCheck,
    OutboxMessage,
    Outcome,
    RecipientRole,
    RecipientSpec,
    RequestStatus,
    Response,
)
from airflow_provider_instagram_hil.store.outbox import enqueue
from airflow_provider_instagram_hil.store.policy import decide
from airflow_provider_instagram_hil.store.rows import request_from_rows
from airflow_provider_instagram_hil.store.schema import (
    CHILD_TABLES,
    MAX_ERROR_CHARS,
    MAX_REASON_CHARS,
    recipients,
    requests,
    responses,
)
from airflow_provider_instagram_hil.store.watch import announce_closed

MessageFactory = Callable[[DecisionResult], Iterable[OutboxMessage]]

# Built once: constructing SQLAlchemy expressions per call was a third of the webhook's CPU per tap.
_SELECT_REQUEST = select(requests).where(requests.c.request_id == bindparam("request_id"))
_SELECT_REQUEST_LOCKED = _SELECT_REQUEST.with_for_update()
_SELECT_RECIPIENTS = (
    select(recipients).where(recipients.c.request_id == bindparam("request_id")).order_by(recipients.c.id)
)
_SELECT_RESPONSES = (
    select(responses).where(responses.c.request_id == bindparam("request_id")).order_by(responses.c.id)
)
_INSERT_RESPONSE = insert(responses)
_CLOSE = (
    update(requests)
    .where(
        requests.c.request_id == bindparam("p_request_id"),
        requests.c.status == RequestStatus.PENDING.value,
    )
    .values(
        status=bindparam("p_status"),
        chosen_option=bindparam("p_option"),
        responded_by=bindparam("p_responder_id"),
        responded_at=bindparam("p_now", type_=requests.c.responded_at.type),
        timed_out=bindparam("p_timed_out"),
    )
)

_LATE = {
    RequestStatus.DECIDED: Outcome.ALREADY_DECIDED,
    RequestStatus.EXPIRED: Outcome.EXPIRED,
    RequestStatus.CANCELLED: Outcome.CANCELLED,
    RequestStatus.SUPERSEDED: Outcome.SUPERSEDED,
}


def load_request(conn: Connection, request_id: str, *, lock: bool = False) -> ApprovalRequest | None:
    """Read a request with its recipients and responses; ``lock`` holds its row until commit."""
    query = _SELECT_REQUEST_LOCKED if lock and conn.dialect.name == "postgresql" else _SELECT_REQUEST
    row = conn.execute(query, {"request_id": request_id}).first()
    if row is None:
        return None
    return request_from_rows(
        row,
        conn.execute(_SELECT_RECIPIENTS, {"request_id": request_id}).all(),
        conn.execute(_SELECT_RESPONSES, {"request_id": request_id}).all(),
    )


def register(
    conn: Connection,
    *,
    key: Mapping[str, Any],
    row: Mapping[str, Any],
    specs: Sequence[RecipientSpec],
    now: datetime,
) -> str | None:
    """Insert a request for the task try ``key`` unless it has one; return the new id, or None."""
    same_try = [requests.c[name] == value for name, value in key.items()]
    cancelled = conn.execute(
        select(requests.c.request_id).where(*same_try, requests.c.status == RequestStatus.CANCELLED.value)
    ).scalars()
    delete_requests(conn, list(cancelled))
    if conn.execute(select(requests.c.request_id).where(*same_try)).first() is not None:
        return None
    same_task = [requests.c[name] == key[name] for name in ("dag_id", "run_id", "task_id", "map_index")]
    older = [
        *same_task,
        requests.c.try_number < key["try_number"],
        requests.c.status == RequestStatus.PENDING.value,
    ]
    superseded = list(conn.execute(select(requests.c.request_id).where(*older)).scalars())
    if superseded:
        conn.execute(
            update(requests)
            .where(requests.c.request_id.in_(superseded), *older)
            .values(
                status=RequestStatus.SUPERSEDED.value,
                closed_reason=f"replaced by try {key['try_number']}",
                responded_at=now,
            )
        )
        for old_id in superseded:
            announce_closed(conn, old_id)
    request_id = str(row["request_id"])
    try:
        with conn.begin_nested():
            conn.execute(insert(requests).values(**key, **row))
    except IntegrityError:
        return None  # another process registered this try a moment ago
    conn.execute(
        insert(recipients),
        [
            {
                "request_id": request_id,
                "channel": spec.channel,
                "recipient_id": spec.recipient_id,
                "name": spec.name,
                "role": spec.role.value,
                "delivery": Delivery.PENDING.value,
            }
            for spec in specs
        ],
    )
    return request_id


def record_response(
    conn: Connection,
    *,
    request_id: str,
    option: str,
    responder_id: str,
    channel: str,
    mid: str | None,
    reason: str | None,
    source: str,
    now: datetime,
    messages: MessageFactory | None,
    elsewhere: ElsewhereCheck | None = None,
) -> DecisionResult:
    """Record one response and apply the request's policy, with the request's row locked.

    ``elsewhere`` is asked first, still under the lock, when the request mirrors one answered somewhere
    else too (Airflow's own human-in-the-loop): an answer given there first is recorded instead, and the
    responder learns who beat them.
    """
    request = load_request(conn, request_id, lock=True)
    result = _judge(request, option, responder_id, channel, mid_key(mid), now, reason)
    if result.outcome is Outcome.RECORDED:
        assert request is not None
        first = None
        if elsewhere is not None:
            responder = request.recipient(responder_id, channel)
            assert responder is not None
            try:
                first = elsewhere(request, responder, option)
            except ResponseRefusedError:
                result = DecisionResult(Outcome.NOT_ALLOWED, request)
            except RequestClosedElsewhereError as exc:
                result = DecisionResult(Outcome.CANCELLED, _cancel(conn, request, exc.reason, now))
            if result.outcome is not Outcome.RECORDED:
                if messages is not None:
                    enqueue(conn, messages(result), now)
                return result
        if first is None:
            result = _record(conn, request, option, responder_id, channel, mid_key(mid), reason, source, now)
        else:
            closed = _record(
                conn, request, first.option, first.responder_id, first.source, None, None, first.source, now
            )
            result = DecisionResult(Outcome.ALREADY_DECIDED, closed.request)
    if messages is not None:
        enqueue(conn, messages(result), now)
    return result


def _cancel(conn: Connection, request: ApprovalRequest, reason: str, now: datetime) -> ApprovalRequest:
    """Cancel a pending request whose mirror stopped waiting (its row is locked by the caller)."""
    reason = reason[:MAX_ERROR_CHARS]
    conn.execute(
        update(requests)
        .where(requests.c.request_id == request.request_id)
        .values(status=RequestStatus.CANCELLED.value, closed_reason=reason, responded_at=now)
    )
    announce_closed(conn, request.request_id)
    return replace(request, status=RequestStatus.CANCELLED, closed_reason=reason, responded_at=now)


def _judge(
    request: ApprovalRequest | None,
    option: str,
    responder_id: str,
    channel: str,
    mid: str | None,
    now: datetime,
    reason: str | None = None,
) -> DecisionResult:
    """What a response would come to, before anything is written (RECORDED: go ahead)."""
    if request is None:
        return DecisionResult(Outcome.UNKNOWN_REQUEST, None)
    if request.recipient(responder_id) is None:
        return DecisionResult(Outcome.NOT_ALLOWED, request)
    if request.recipient(responder_id, channel) is None:
        return DecisionResult(Outcome.WRONG_CHANNEL, request)
    if option not in request.options:
        return DecisionResult(Outcome.INVALID_OPTION, request)
    earlier = next((r for r in request.responses if r.responder_id == responder_id), None)
    if earlier is not None and mid is not None and earlier.mid == mid:
        return DecisionResult(Outcome.DUPLICATE, request, response=earlier)
    if request.status is not RequestStatus.PENDING:
        late = Outcome.EXPIRED if request.timed_out else _LATE[request.status]
        return DecisionResult(late, request, response=earlier)
    if earlier is not None:
        return DecisionResult(Outcome.ALREADY_RESPONDED, request, response=earlier)
    if now >= request.expires_at:
        # Past its deadline, not yet closed by the trigger: late all the same.
        return DecisionResult(Outcome.EXPIRED, request)
    if request.require_reason and option in request.reject_options and not (reason and reason.strip()):
        return DecisionResult(Outcome.REASON_REQUIRED, request)
    return DecisionResult(Outcome.RECORDED, request)


def _record(
    conn: Connection,
    request: ApprovalRequest,
    option: str,
    responder_id: str,
    channel: str,
    mid: str | None,
    reason: str | None,
    source: str,
    now: datetime,
) -> DecisionResult:
    response = Response(
        responder_id=responder_id,
        channel=channel,
        option=option,
        reason=(reason or None) and reason[:MAX_REASON_CHARS],
        mid=mid,
        received_at=now,
        source=source,
    )
    conn.execute(_INSERT_RESPONSE, {"request_id": request.request_id, **response.__dict__})
    answered = (*request.responses, response)
    reviewers = sum(r.role is RecipientRole.REVIEWER for r in request.recipients)
    verdict = decide(
        request.policy, request.options, request.reject_options, reviewers, [r.option for r in answered]
    )
    request = replace(request, responses=answered)
    if verdict.option is None:
        return DecisionResult(
            Outcome.RECORDED,
            request,
            closed=False,
            response=response,
            approvals_missing=verdict.approvals_missing,
        )
    closed = conn.execute(
        _CLOSE,
        {
            "p_request_id": request.request_id,
            "p_status": RequestStatus.DECIDED.value,
            "p_option": verdict.option,
            "p_responder_id": responder_id,
            "p_now": now,
            "p_timed_out": False,
        },
    )
    assert closed.rowcount == 1, "the request's row lock should have kept it pending"
    announce_closed(conn, request.request_id)
    request = replace(
        request,
        status=RequestStatus.DECIDED,
        chosen_option=verdict.option,
        responded_by=responder_id,
        responded_at=now,
    )
    return DecisionResult(Outcome.RECORDED, request, closed=True, response=response)


def expire(
    conn: Connection, request_id: str, now: datetime, messages: MessageFactory | None
) -> DecisionResult:
    """Close a pending request at its deadline with its default option, or as expired."""
    request = load_request(conn, request_id, lock=True)
    if request is None:
        return DecisionResult(Outcome.UNKNOWN_REQUEST, None)
    if request.status is not RequestStatus.PENDING:
        return DecisionResult(_LATE[request.status], request)
    status = RequestStatus.DECIDED if request.default_option is not None else RequestStatus.EXPIRED
    conn.execute(
        _CLOSE,
        {
            "p_request_id": request_id,
            "p_status": status.value,
            "p_option": request.default_option,
            "p_responder_id": None,
            "p_now": now,
            "p_timed_out": True,
        },
    )
    announce_closed(conn, request_id)
    request = replace(
        request,
        status=status,
        chosen_option=request.default_option,
        responded_by=None,
        responded_at=now,
        timed_out=True,
    )
    result = DecisionResult(Outcome.RECORDED, request, closed=True)
    if messages is not None:
        enqueue(conn, messages(result), now)
    return result


def delete_requests(conn: Connection, request_ids: Sequence[str]) -> int:
    """Delete requests and every row that belongs to them; return how many requests went."""
    if not request_ids:
        return 0
    for table in CHILD_TABLES:
        conn.execute(delete(table).where(table.c.request_id.in_(request_ids)))
    return int(conn.execute(delete(requests).where(requests.c.request_id.in_(request_ids))).rowcount)
