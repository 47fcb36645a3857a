"""Fixtures for driving decision triggers directly with asyncio, against a real store."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.store import DecisionStore

from .trigger_support import OPTIONS, REVIEWER


@pytest.fixture
def make_request(store):
    """Register a pending request in ``store``; each call is another (mapped) task instance."""
    indexes = iter(range(10_000))

    def _make(*, expires_in: float = 60.0, default_option: str | None = None):
        request, created = store.register_request(
            dag_id="dag",
            run_id="run",
            task_id="approve",
            map_index=next(indexes),
            recipients=[REVIEWER],
            options=OPTIONS,
            expires_at=datetime.now(timezone.utc) + timedelta(seconds=expires_in),
            default_option=default_option,
        )
        assert created
        return request

    return _make


@pytest.fixture
def first_event():
    """Run a trigger to its first event, checking that it ends right after that event."""

    async def _first(trigger, timeout: float = 20.0):
        events = []

        async def collect() -> None:
            async for event in trigger.run():
                events.append(event)

        await asyncio.wait_for(collect(), timeout)
        assert len(events) == 1
        return events[0]

    return _first


@pytest.fixture
def shared_store(store_url):
    """The process-wide store triggers use for ``store_url``; disposed and forgotten afterwards."""
    shared = DecisionStore.for_url(store_url)
    shared.ensure_schema()
    yield shared
    with DecisionStore._instances_lock:
        DecisionStore._instances.pop(store_url, None)
    shared.dispose()
