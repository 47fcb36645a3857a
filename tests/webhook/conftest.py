"""Fixtures for the webhook tests: a fresh app per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.store import RecipientSpec
from airflow_provider_instagram_hil.webhook import create_app, get_resources

from .webhook_support import (
    APP_SECRET,
    IG_OTHER_REVIEWER,
    IG_REVIEWER,
    PAGE_REVIEWER,
    ROTATED_SECRET,
    VERIFY_TOKEN,
    WA_REVIEWER,
    RecordingSender,
)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def app_config(store_url, sender) -> dict:
    """Every setting given, so no test here reads Airflow."""
    return {
        "TESTING": True,
        "INSTAGRAM_HIL_APP_SECRETS": [APP_SECRET, ROTATED_SECRET],
        "INSTAGRAM_HIL_VERIFY_TOKEN": VERIFY_TOKEN,
        "INSTAGRAM_HIL_STORE_URL": store_url,
        "INSTAGRAM_HIL_REPLY_SENDER": sender,
        "INSTAGRAM_HIL_AIRFLOW_HITL": None,
    }


@pytest.fixture
def app(app_config):
    application = create_app(app_config)
    yield application
    get_resources(application).close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def state(app):
    return get_resources(app)


@pytest.fixture
def hil_store(state):
    """The app's own decision store."""
    return state.store


@pytest.fixture
def drain(state):
    """Wait (no sleeping) until every reply queued so far was attempted."""

    def _drain() -> None:
        assert state.sender is not None
        assert state.sender.drain(timeout=10), "replies still pending after 10 s"

    return _drain


@pytest.fixture
def pending(hil_store):
    """Register a pending request every reviewer of the fixtures may answer; keywords override."""
    runs = itertools.count()

    def _make(**overrides: object):
        kwargs: dict[str, object] = {
            "dag_id": "deploy",
            "run_id": f"manual__{next(runs)}",
            "task_id": "approve_release",
            "recipients": [
                RecipientSpec(IG_REVIEWER, "instagram"),
                RecipientSpec(IG_OTHER_REVIEWER, "instagram"),
                RecipientSpec(PAGE_REVIEWER, "messenger"),
                RecipientSpec(WA_REVIEWER, "whatsapp"),
            ],
            "options": ["approve", "reject"],
            "expires_at": datetime.now(timezone.utc) + timedelta(hours=1),
        }
        kwargs.update(overrides)
        request, created = hil_store.register_request(**kwargs)  # type: ignore[arg-type]
        assert created
        return request

    return _make
