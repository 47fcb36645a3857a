"""Value types the decision store hands out."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class RequestStatus(str, enum.Enum):
    """Where a request is in its life."""

    PENDING = "pending"
    DECIDED = "decided"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Outcome(str, enum.Enum):
    """What became of one attempt to decide or expire a request."""

    RECORDED = "recorded"
    """This call decided the request (or, for ``expire_request``, closed it at the timeout)."""
    DUPLICATE = "duplicate"
    """The same event (same ``mid``) had already been recorded: nothing changed."""
    ALREADY_DECIDED = "already_decided"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    NOT_ALLOWED = "not_allowed"
    """The sender is not one of the request's recipients."""
    UNKNOWN_REQUEST = "unknown_request"
    INVALID_OPTION = "invalid_option"


@dataclass(frozen=True)
class RequestState:
    """The part of a request a waiting trigger polls for."""

    request_id: str
    status: RequestStatus
    chosen_option: str | None
    responded_by: str | None
    responded_at: datetime | None
    timed_out: bool
    expires_at: datetime

    @property
    def resolved(self) -> bool:
        return self.status is not RequestStatus.PENDING


@dataclass(frozen=True)
class ApprovalRequest:
    """A whole request row."""

    request_id: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    channel: str
    recipients: tuple[str, ...]
    options: tuple[str, ...]
    default_option: str | None
    created_at: datetime
    expires_at: datetime
    status: RequestStatus
    prompt_message_id: str | None
    chosen_option: str | None
    responded_by: str | None
    responded_at: datetime | None
    decision_mid: str | None
    timed_out: bool

    @property
    def state(self) -> RequestState:
        return RequestState(
            request_id=self.request_id,
            status=self.status,
            chosen_option=self.chosen_option,
            responded_by=self.responded_by,
            responded_at=self.responded_at,
            timed_out=self.timed_out,
            expires_at=self.expires_at,
        )


@dataclass(frozen=True)
class DecisionResult:
    """The outcome of ``record_decision`` or ``expire_request``, with the request as it now stands."""

    outcome: Outcome
    request: ApprovalRequest | None
