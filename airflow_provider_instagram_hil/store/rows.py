"""How values are keyed in the store's rows, and rows read back into value types."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Row

from airflow_provider_instagram_hil.store.models import (
    ApprovalRequest,
    Delivery,
    Recipient,
    RecipientRole,
    RequestState,
    RequestStatus,
    Response,
)
from airflow_provider_instagram_hil.store.policy import DecisionPolicy, PolicyKind
from airflow_provider_instagram_hil.store.schema import MAX_MID_CHARS, MAX_REQUEST_ID_CHARS

REQUEST_ID_BYTES = 16  # 128 bits from the OS's CSPRNG


def new_request_id() -> str:
    """Return a random, unguessable request id (128 bits, 32 lowercase hex digits)."""
    return secrets.token_hex(REQUEST_ID_BYTES)


def is_request_id(value: object) -> bool:
    """Whether ``value`` could be a stored request id (bounded, printable text: never NUL or surrogates)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID_CHARS and value.isprintable()


def mid_key(mid: object) -> str | None:
    """The event id as the store keeps it: as given, or hashed when too long or unprintable."""
    if not isinstance(mid, str) or not mid:
        return None
    if len(mid) <= MAX_MID_CHARS and mid.isprintable():
        return mid
    return "sha256:" + hashlib.sha256(mid.encode("utf-8", "surrogatepass")).hexdigest()


def json_list(raw: str | None) -> list[Any] | None:
    """Decode a JSON list column; ``None`` when it is not one (for the integrity check)."""
    try:
        value = json.loads(raw or "")
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def policy_from_row(row: Row) -> DecisionPolicy:
    return DecisionPolicy(PolicyKind(row.policy), row.min_approvals, bool(row.veto))


def recipient_from_row(row: Row) -> Recipient:
    return Recipient(
        channel=row.channel,
        recipient_id=row.recipient_id,
        name=row.name,
        role=RecipientRole(row.role),
        prompt_message_id=row.prompt_message_id,
        prompted_at=row.prompted_at,
        reminded_at=row.reminded_at,
        delivery=Delivery(row.delivery),
        delivery_error=row.delivery_error,
    )


def response_from_row(row: Row) -> Response:
    return Response(
        responder_id=row.responder_id,
        channel=row.channel,
        option=row.option,
        reason=row.reason,
        mid=row.mid,
        received_at=row.received_at,
        source=row.source,
    )


def state_from_row(row: Row, responses: Iterable[Response] = ()) -> RequestState:
    """Read a ``RequestState`` from a row holding at least the state columns."""
    return RequestState(
        request_id=row.request_id,
        status=RequestStatus(row.status),
        chosen_option=row.chosen_option,
        responded_by=row.responded_by,
        responded_at=row.responded_at,
        timed_out=bool(row.timed_out),
        expires_at=row.expires_at,
        closed_reason=row.closed_reason,
        responses=tuple(responses),
        newer_try=bool(getattr(row, "newer_try", False)),
    )


def request_from_rows(
    row: Row, recipients: Iterable[Row] = (), responses: Iterable[Row] = ()
) -> ApprovalRequest:
    """Read a whole ``ApprovalRequest`` from its row and the rows of its recipients and responses."""
    return ApprovalRequest(
        request_id=row.request_id,
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_id=row.task_id,
        map_index=row.map_index,
        try_number=row.try_number,
        source=row.source,
        subject=row.subject,
        options=tuple(json.loads(row.options)),
        reject_options=tuple(json.loads(row.reject_options)),
        default_option=row.default_option,
        policy=policy_from_row(row),
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=RequestStatus(row.status),
        chosen_option=row.chosen_option,
        responded_by=row.responded_by,
        responded_at=row.responded_at,
        timed_out=bool(row.timed_out),
        closed_reason=row.closed_reason,
        recipients=tuple(recipient_from_row(r) for r in recipients),
        responses=tuple(response_from_row(r) for r in responses),
        require_reason=bool(row.require_reason),
        timezone=row.timezone,
    )
