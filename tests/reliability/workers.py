"""Code that runs in child processes (multiprocessing, spawn): other triggerers, other webhook clients.

Each worker talks to the test over a ``multiprocessing`` pipe: it says ``"ready"`` once its imports and
connections are warm, then waits for its work, so the test starts every worker at the same moment.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

SPAWN = multiprocessing.get_context("spawn")


def start_worker(target: Callable[..., None], *args: Any) -> tuple[Any, Connection]:
    """Start ``target(conn, *args)`` in a fresh interpreter; return the process and our end of the pipe."""
    ours, theirs = SPAWN.Pipe()
    process = SPAWN.Process(target=target, args=(theirs, *args), daemon=True)
    process.start()
    theirs.close()
    return process, ours


def receive(conn: Connection, timeout: float) -> Any:
    """The next message from a worker, or a clear failure when it does not come in time."""
    if not conn.poll(timeout):
        raise TimeoutError(f"no answer from a worker process within {timeout:.0f} s")
    return conn.recv()


def run_trigger_set(conn: Connection, timeout: float) -> None:
    """A triggerer: for each job, rebuild triggers from ``serialize()`` output, run each to its event.

    Answers each job with every event and the poller tick it came at, and the outcome of every
    ``expire_request`` call made for it. A ``None`` job ends the process.
    """
    import asyncio
    import importlib

    from airflow_provider_instagram_hil.store import DecisionStore
    from airflow_provider_instagram_hil.triggers import instagram  # noqa: F401  (warm import)

    expire_outcomes: list[tuple[str, str]] = []
    original = DecisionStore.expire_request

    def recording_expire(self: DecisionStore, request_id: str, **kwargs: Any) -> Any:
        result = original(self, request_id, **kwargs)
        expire_outcomes.append((request_id, result.outcome.value))
        return result

    DecisionStore.expire_request = recording_expire  # type: ignore[method-assign]

    from airflow_provider_instagram_hil.triggers.poller import StorePoller

    # Which read of the shared poller resolved each request (the trigger resumes a little later).
    resolved_at: dict[str, int] = {}
    original_tick = StorePoller._tick

    async def recording_tick(self: StorePoller, *, full: bool) -> None:
        before = set(self._waiters)
        await original_tick(self, full=full)
        for request_id in before - set(self._waiters):
            resolved_at.setdefault(request_id, self.ticks)

    StorePoller._tick = recording_tick  # type: ignore[method-assign]

    async def run_all(serialized: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        events: list[dict[str, Any]] = []

        async def run_one(classpath: str, kwargs: dict[str, Any]) -> None:
            module, _, name = classpath.rpartition(".")
            trigger = getattr(importlib.import_module(module), name)(**kwargs)
            async for event in trigger.run():
                tick = resolved_at.get(event.payload["request_id"])
                events.append({**event.payload, "tick": tick, "elapsed": loop.time() - started})

        await asyncio.wait_for(asyncio.gather(*(run_one(cp, kw) for cp, kw in serialized)), timeout)
        return events

    conn.send("ready")
    while (job := conn.recv()) is not None:
        expire_outcomes.clear()
        resolved_at.clear()
        events = asyncio.run(run_all(job))
        conn.send({"events": events, "expire_outcomes": list(expire_outcomes)})


def race_deadline(conn: Connection, store_url: str, parity: int, barrier: Any) -> None:
    """Half of a tap-versus-deadline race: for item ``i`` tap when ``i % 2 == parity``, else expire.

    The other process does the opposite at the same moment (a barrier per item). Items are
    ``(request_id, responder, option, expires_at ISO)``; the tap comes 1 ms before the deadline.
    """
    from airflow_provider_instagram_hil.store import DecisionStore

    store = DecisionStore(store_url)
    store.ensure_schema()
    store.get_states(["0" * 32])  # an id no request has: one query, nothing found
    conn.send("ready")
    items: list[tuple[str, str, str, str]] = conn.recv()
    results = []
    for n, (request_id, responder, option, expires_iso) in enumerate(items):
        deadline = datetime.fromisoformat(expires_iso)
        barrier.wait(timeout=60)
        if n % 2 == parity:
            result = store.record_decision(
                request_id,
                option=option,
                responder_id=responder,
                mid=f"race-{request_id}",
                now=deadline - timedelta(milliseconds=1),
            )
            results.append((request_id, "tap", result.outcome.value))
        else:
            result = store.expire_request(request_id, now=deadline)
            results.append((request_id, "expire", result.outcome.value))
    store.dispose()
    conn.send(results)


def post_taps(conn: Connection, url: str, threads: int) -> None:
    """Another webhook client: for each round, post the given signed bodies from ``threads`` threads."""
    import requests

    sessions = [requests.Session() for _ in range(threads)]
    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            break
        bodies: list[tuple[str, str]] = job
        go = threading.Event()
        results: list[tuple[str, int, int | None]] = []
        lock = threading.Lock()

        def post(
            session: requests.Session,
            mine: list[tuple[str, str]],
            go: threading.Event = go,
            results: list[tuple[str, int, int | None]] = results,
            lock: threading.Lock = lock,
        ) -> None:
            go.wait(timeout=60)
            for body, signature in mine:
                headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
                response = session.post(url, data=body.encode(), headers=headers, timeout=30)
                recorded = response.json().get("recorded") if response.status_code == 200 else None
                mid = json.loads(body)["entry"][0]["messaging"][0]["message"]["mid"]
                with lock:
                    results.append((mid, response.status_code, recorded))

        workers = [
            threading.Thread(target=post, args=(sessions[n], bodies[n::threads])) for n in range(threads)
        ]
        for worker in workers:
            worker.start()
        conn.send("ready")
        conn.recv()  # "go"
        go.set()
        for worker in workers:
            worker.join(timeout=120)
        conn.send(results)
    for session in sessions:
        session.close()
