"""The decision store: approval requests and their decisions, in pure SQLAlchemy Core.

It knows no channel, no HTTP and no Airflow task: the webhook writes decisions into it, the
trigger reads them back.
"""

from __future__ import annotations

from airflow_provider_instagram_hil.store.models import (
    ApprovalRequest,
    DecisionResult,
    Outcome,
    RequestState,
    RequestStatus,
)
from airflow_provider_instagram_hil.store.store import DecisionStore, new_request_id

__all__ = [
    "ApprovalRequest",
    "DecisionResult",
    "DecisionStore",
    "Outcome",
    "RequestState",
    "RequestStatus",
    "new_request_id",
]
