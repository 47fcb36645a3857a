"""Rows of ``ighil_requests``: the keys they are stored under and the value types read from them."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from sqlalchemy.engine import Row

from airflow_provider_instagram_hil.store.models import ApprovalRequest, RequestState, RequestStatus

REQUEST_ID_BYTES = 16  # 128 bits from the OS's CSPRNG
MAX_REQUEST_ID_CHARS = 64  # ighil_requests.request_id
MAX_MID_CHARS = 255  # ighil_requests.decision_mid


def new_request_id() -> str:
    """Return a random, unguessable request id (128 bits, hex)."""
    return secrets.token_hex(REQUEST_ID_BYTES)


def is_request_id(value: object) -> bool:
    """Whether ``value`` could be a stored request id (bounded, printable text: never NUL or surrogates)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID_CHARS and value.isprintable()


def decision_mid_key(mid: object) -> str | None:
    """Return the event id as ``decision_mid`` holds it: as given, or hashed if too long or unprintable."""
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


def state_from_row(row: Row) -> RequestState:
    """Read a ``RequestState`` from a row holding at least the state columns."""
    return RequestState(
        request_id=row.request_id,
        status=RequestStatus(row.status),
        chosen_option=row.chosen_option,
        responded_by=row.responded_by,
        responded_at=row.responded_at,
        timed_out=bool(row.timed_out),
        expires_at=row.expires_at,
    )


def request_from_row(row: Row) -> ApprovalRequest:
    """Read a whole ``ApprovalRequest`` from a row of ``ighil_requests``."""
    return ApprovalRequest(
        request_id=row.request_id,
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_id=row.task_id,
        map_index=row.map_index,
        try_number=row.try_number,
        channel=row.channel,
        recipients=tuple(json.loads(row.recipients)),
        options=tuple(json.loads(row.options)),
        default_option=row.default_option,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=RequestStatus(row.status),
        prompt_message_id=row.prompt_message_id,
        chosen_option=row.chosen_option,
        responded_by=row.responded_by,
        responded_at=row.responded_at,
        decision_mid=row.decision_mid,
        timed_out=bool(row.timed_out),
    )
