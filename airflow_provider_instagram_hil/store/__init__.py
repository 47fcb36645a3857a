"""The decision store: approval requests, their recipients, responses and replies, in SQLAlchemy Core.

It knows no channel's API, no HTTP and no Airflow task: the webhook records responses into it, the
trigger reads decisions back, and the webhook's outbox sender delivers the replies it queued.
"""

from __future__ import annotations

from airflow_provider_instagram_hil.store.models import (
    KEPT,
    PROMPTED,
    AnsweredElsewhere,
    ApprovalRequest,
    DecisionResult,
    Delivery,
    ElsewhereCheck,
    OutboxItem,
    OutboxMessage,
    Outcome,
    Recipient,
    RecipientRole,
    RecipientSpec,
    RequestState,
    RequestStatus,
    Response,
)
from airflow_provider_instagram_hil.store.policy import DecisionPolicy, PolicyKind
from airflow_provider_instagram_hil.store.store import DecisionStore, MessageFactory

__all__ = [
    "KEPT",
    "PROMPTED",
    "AnsweredElsewhere",
    "ApprovalRequest",
    "DecisionPolicy",
    "DecisionResult",
    "DecisionStore",
    "Delivery",
    "ElsewhereCheck",
    "MessageFactory",
    "OutboxItem",
    "OutboxMessage",
    "Outcome",
    "PolicyKind",
    "Recipient",
    "RecipientRole",
    "RecipientSpec",
    "RequestState",
    "RequestStatus",
    "Response",
]
