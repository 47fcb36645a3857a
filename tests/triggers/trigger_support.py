"""What the trigger tests share besides fixtures: the reviewer and options of their requests, and a
wait for a condition of the poller (no sleep-then-check)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

REVIEWER = "6200000000000001"
OPTIONS = ["Approve", "Reject"]


async def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Return once ``condition()`` holds, checking at every turn of 10 ms; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
