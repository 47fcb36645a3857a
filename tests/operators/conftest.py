"""Fixtures for the approval operator: a real store, a recorded send, the task-runtime plumbing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.store import DecisionStore


@dataclass
class FakeTaskInstance:
    """The part of Airflow's runtime task instance the operator touches."""

    dag_id: str = "example_dag"
    run_id: str = "manual__2026-11-25T12:00:00+00:00"
    task_id: str = "approve"
    map_index: int = -1
    try_number: int = 1
    pushed: list[tuple[str, Any]] = field(default_factory=list)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))


@dataclass
class RecordedSends:
    """Messages the hook was asked to send; ``fail`` maps a recipient to the error its send raises."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    fail: dict[str, Exception] = field(default_factory=dict)


@pytest.fixture
def sends(monkeypatch, instagram_conn_env) -> RecordedSends:
    """Replace the Graph call of ``InstagramHook.send_message`` and ``send_buttons`` (a button template is
    recorded with ``buttons``); everything else is real."""
    instagram_conn_env()
    recorded = RecordedSends()

    def record(recipient_id: str, text: str, **choices: Any) -> dict[str, Any]:
        if recipient_id in recorded.fail:
            raise recorded.fail[recipient_id]
        recorded.messages.append({"recipient_id": recipient_id, "text": text, **choices})
        return {"recipient_id": recipient_id, "message_id": f"mid.{len(recorded.messages)}"}

    def send_message(self, recipient_id, text, quick_replies=None, **kwargs):
        return record(recipient_id, text, quick_replies=quick_replies)

    def send_buttons(self, recipient_id, text, buttons, **kwargs):
        return record(recipient_id, text, buttons=buttons)

    monkeypatch.setattr(InstagramHook, "send_message", send_message)
    monkeypatch.setattr(InstagramHook, "send_buttons", send_buttons)
    return recorded


@pytest.fixture
def logs(capsys, caplog):
    """Everything logged so far: Airflow's structlog writes to stdout, plain logging to caplog."""
    caplog.set_level(logging.DEBUG)

    def _read() -> str:
        captured = capsys.readouterr()
        return captured.out + captured.err + caplog.text

    return _read


@pytest.fixture
def make_context():
    def _make(**ti_fields: Any) -> dict[str, Any]:
        ti = FakeTaskInstance(**ti_fields)
        return {"ti": ti, "task_instance": ti}

    return _make


@pytest.fixture
def shared_store(store_url):
    """The process-wide store the operator uses for ``store_url``; disposed and forgotten afterwards."""
    shared = DecisionStore.for_url(store_url)
    yield shared
    with DecisionStore._instances_lock:
        DecisionStore._instances.pop(store_url, None)
    shared.dispose()
