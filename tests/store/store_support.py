"""Constants and helpers shared by the decision-store tests (imported by name: no package here)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

REVIEWER = "17841400000000001"
OTHER_REVIEWER = "17841400000000002"
STRANGER = "17841499999999999"
OPTIONS = ("approve", "reject")

#: A fixed instant for tests that pass ``now=`` explicitly.
T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=timezone.utc)


# Fresh interpreters: no engine, pool or connection is inherited from the test process.
SPAWN = multiprocessing.get_context("spawn")


def run_processes(target: Callable[..., None], args_of: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(*args, barrier, results)`` in one spawned process per ``args``, released together by
    the barrier; return what each put on ``results``."""
    barrier = SPAWN.Barrier(len(args_of))
    results = SPAWN.Queue()
    processes = [SPAWN.Process(target=target, args=(*args, barrier, results)) for args in args_of]
    for process in processes:
        process.start()
    try:
        return [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
