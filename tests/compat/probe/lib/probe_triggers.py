"""Triggers and a deferring operator that make Airflow show how it treats a deferred task.

Imported by the probe DAG and, through ``PYTHONPATH``, by the real triggerer (a trigger's classpath
must import there). Only Airflow itself is used: these probe Airflow, not the provider.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import (
    BaseTrigger,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)

END_EVENTS = {"success": TaskSuccessEvent, "failed": TaskFailedEvent, "skipped": TaskSkippedEvent}
#: The XCom a TaskSuccessEvent carries: found only if the triggerer itself pushed it.
FROM_TRIGGER = "pushed-by-the-triggerer"


def note(marker_dir: str, name: str, what: str) -> None:
    """Append one line naming ``what`` happened to ``name`` (a file per trigger name)."""
    with (Path(marker_dir) / f"{name}.log").open("a", encoding="utf-8") as handle:
        handle.write(what + "\n")


class EndTaskTrigger(BaseTrigger):
    """Yields a task-end event (success / failed / skipped) at once."""

    def __init__(self, outcome: str) -> None:
        super().__init__()
        self.outcome = outcome

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {"outcome": self.outcome}

    async def run(self):
        event = END_EVENTS[self.outcome]
        yield event(xcoms={"return_value": FROM_TRIGGER}) if self.outcome == "success" else event()


class WaitForeverTrigger(BaseTrigger):
    """Never fires; notes when it runs, when ``on_kill()`` and when ``cleanup()`` are called."""

    def __init__(self, marker_dir: str, name: str) -> None:
        super().__init__()
        self.marker_dir = marker_dir
        self.name = name

    def serialize(self) -> tuple[str, dict[str, Any]]:
        classpath = f"{type(self).__module__}.{type(self).__qualname__}"
        return classpath, {"marker_dir": self.marker_dir, "name": self.name}

    async def run(self):
        note(self.marker_dir, self.name, "run")
        await asyncio.Event().wait()
        yield TriggerEvent(None)  # pragma: no cover - never reached

    async def on_kill(self) -> None:
        note(self.marker_dir, self.name, "on_kill")

    async def cleanup(self) -> None:
        note(self.marker_dir, self.name, "cleanup")


class DeferOperator(BaseOperator):
    """Defers to ``EndTaskTrigger(outcome)``, or to ``WaitForeverTrigger`` without one.

    ``execute_complete`` fails the task: a task that ended in the triggerer never gets there.
    """

    def __init__(self, *, outcome: str | None = None, marker_dir: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcome = outcome
        self.marker_dir = marker_dir

    def execute(self, context: Any) -> None:
        if self.outcome:
            trigger: BaseTrigger = EndTaskTrigger(self.outcome)
        else:
            trigger = WaitForeverTrigger(self.marker_dir, self.task_id)
        self.defer(trigger=trigger, method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        from airflow.sdk.exceptions import AirflowException

        raise AirflowException(f"execute_complete ran on a worker with {event!r}")
