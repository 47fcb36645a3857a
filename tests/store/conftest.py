"""Fixtures for the decision-store tests: a factory of pending requests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.store import ApprovalRequest, DecisionStore

from .store_support import OPTIONS, OTHER_REVIEWER, REVIEWER


@pytest.fixture
def make_request(store: DecisionStore) -> Callable[..., ApprovalRequest]:
    """Register a pending request (one hour to go, two reviewers); keyword arguments override."""
    runs = itertools.count()

    def _make(**overrides: object) -> ApprovalRequest:
        kwargs: dict[str, object] = {
            "dag_id": "deploy",
            "run_id": f"manual__{next(runs)}",
            "task_id": "approve_release",
            "recipients": [REVIEWER, OTHER_REVIEWER],
            "options": list(OPTIONS),
            "expires_at": datetime.now(timezone.utc) + timedelta(hours=1),
        }
        kwargs.update(overrides)
        request, created = store.register_request(**kwargs)  # type: ignore[arg-type]
        assert created
        return request

    return _make
