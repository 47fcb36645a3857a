"""Trigger fan-in: N waiting ``InstagramDecisionTrigger``s in one event loop, vs. one query per trigger.

Each case runs in its own worker process (so memory figures start clean), as the triggerer runs
triggers: every trigger's ``run()`` async generator is driven by its own task on one asyncio loop, and
``cleanup()`` is awaited after it. The steps of a case:

1. register N pending requests in a fresh store (a new SQLite file, or a new PostgreSQL schema) in bulk;
2. create the N triggers and their tasks; wait until every one has polled once; RSS delta / N is the
   memory per waiting trigger;
3. wait a fixed window: process CPU (all threads, the database driver included), statements and
   commits sent on the store's engine (SQLAlchemy ``before_cursor_execute``), event-loop lag, and for
   PostgreSQL the CPU of the server backends serving this store (same host);
4. decide all N at once with one bulk ``UPDATE`` from another thread and engine, committed right after a
   poll statement of the store returned (the worst moment for the shared poller: the decision just missed
   a tick); each trigger's latency is from that commit to its ``TriggerEvent``.

The baseline (``naive``) is the pattern of Airflow's ``HITLTrigger``: every trigger loops
``await asyncio.to_thread(store.get_states, [its_id], resolved_only=True)`` then
``await asyncio.sleep(poll_interval)``: the same single-request query, one per trigger per interval.

Run alone: ``python -m benchmarks.bench_triggers [--quick] [--backends sqlite,postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import random
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks import RESULTS_DIR
from benchmarks.report import Target, fmt, machine_description, markdown_table, write_json, write_text

POLL_INTERVAL = 2.0
TARGET_N = 10_000
TARGET_CPU_RATIO = 50.0
#: Decision → event, p99, with every trigger waiting: single decisions (woken on commit) and a burst.
TARGET_SINGLE_P99_S = 0.100
TARGET_BURST_P99_S = 2.0
#: Idle CPU of the shared poller with TARGET_N waiting, on SQLite (what the previous release measured).
TARGET_IDLE_CPU_SQLITE = 1.0
TARGET_BYTES_PER_TRIGGER = 10 * 1024
VARIANTS = ("shared", "naive")
VARIANT_LABELS = {"shared": "shared poller", "naive": "naive (1 query/trigger)"}


# -- the worker: one case in its own process -----------------------------------------------------------


def _naive_trigger_class() -> type:
    from airflow_provider_instagram_hil.triggers.events import payload_from_state
    from airflow_provider_instagram_hil.triggers.instagram import InstagramDecisionTrigger
    from airflow_provider_instagram_hil.version_compat import TriggerEvent

    class NaivePollingTrigger(InstagramDecisionTrigger):
        """The baseline: one single-request query per trigger per interval (HITLTrigger's pattern).

        Same arguments, serialisation and log lines as the product's trigger; only the waiting differs.
        """

        async def run(self) -> AsyncIterator[TriggerEvent]:
            store = self._store()
            self.log.debug("Waiting for a decision on request %s until %s", self.request_id, self.timeout_at)
            while datetime.now(timezone.utc) < self.timeout_at:
                states = await asyncio.to_thread(store.get_states, [self.request_id], resolved_only=True)
                state = states.get(self.request_id)
                if state is not None:
                    payload = payload_from_state(state)
                    self.log.info(
                        "Request %s: %s (option %s)",
                        self.request_id,
                        payload["status"],
                        payload["chosen_option"],
                    )
                    yield TriggerEvent(payload)
                    return
                await asyncio.sleep(self.poll_interval)

    return NaivePollingTrigger


async def _lag_probe(samples: list[float], period: float = 0.25) -> None:
    """Record how late the loop wakes a 250 ms sleep: the loop's responsiveness under load."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(period)
        samples.append(max(0.0, loop.time() - start - period))


async def _run_case(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import update

    from airflow_provider_instagram_hil.store import DecisionStore, RequestStatus
    from airflow_provider_instagram_hil.store.engine import build_engine
    from airflow_provider_instagram_hil.store.schema import requests
    from airflow_provider_instagram_hil.store.watch import announce_closed
    from airflow_provider_instagram_hil.triggers.instagram import InstagramDecisionTrigger
    from benchmarks.measure import (
        PostgresBackendCpu,
        StatementCounter,
        latency_summary,
        peak_rss_bytes,
        percentile,
        rss_bytes,
    )
    from benchmarks.stores import REVIEWER_ID, register_pending

    n, interval = args.n, args.poll_interval
    store = DecisionStore.for_url(args.url)
    ids = register_pending(store, n)
    store.get_states(ids[:1])  # connect and compile once before the baseline RSS
    decider = build_engine(args.url)
    with decider.connect():
        pass

    polled = threading.Event()
    counter = StatementCounter(store.engine, on_executed=polled.set)
    gc.collect()
    rss_before = rss_bytes()

    timeout_at = datetime.now(timezone.utc) + timedelta(hours=1)
    if args.variant == "shared":
        triggers: list[Any] = [
            InstagramDecisionTrigger(
                request_id=i, timeout_at=timeout_at, poll_interval=interval, store_url=args.url
            )
            for i in ids
        ]
    else:
        naive = _naive_trigger_class()
        triggers = [naive(i, timeout_at, interval, args.url) for i in ids]

    loop = asyncio.get_running_loop()
    event_at: dict[str, float] = {}
    wrong_payloads = 0

    async def drive(trigger: Any) -> None:
        # What TriggerRunner.run_trigger does: iterate run(), hand events over, always await cleanup().
        nonlocal wrong_payloads
        try:
            async for event in trigger.run():
                event_at[trigger.request_id] = time.perf_counter()
                if (
                    event.payload.get("status") != "decided"
                    or event.payload.get("chosen_option") != "Approve"
                ):
                    wrong_payloads += 1
        finally:
            with contextlib.suppress(Exception):
                await trigger.cleanup()

    created = time.perf_counter()
    tasks = [loop.create_task(drive(trigger)) for trigger in triggers]
    del triggers
    # Every trigger has polled once: the shared poller ran its first query, or each naive trigger its own.
    needed = 1 if args.variant == "shared" else n
    setup_deadline = time.monotonic() + max(60.0, n / 200)
    while counter.snapshot()[0] < needed and time.monotonic() < setup_deadline:
        await asyncio.sleep(0.05)
    all_waiting_s = time.perf_counter() - created
    await asyncio.sleep(min(1.0, interval / 2))
    gc.collect()
    rss_waiting = rss_bytes()

    lag: list[float] = []
    probe = loop.create_task(_lag_probe(lag))
    pg_cpu = PostgresBackendCpu(args.admin_url, args.app_name) if args.app_name else None
    if pg_cpu is not None:
        pg_cpu.start()
    statements0, commits0 = counter.snapshot()
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(args.window)
    cpu = time.process_time() - cpu0
    window = time.perf_counter() - t0
    statements1, commits1 = counter.snapshot()
    db_cpu = pg_cpu.stop() if pg_cpu is not None else None
    probe.cancel()

    def commit_decision(*where: Any) -> float:
        # As the webhook closes a request: the update, and its announcement to waiting triggers
        # (a NOTIFY per request on PostgreSQL), in one transaction.
        with decider.begin() as conn:
            closed = conn.execute(
                update(requests)
                .where(requests.c.status == RequestStatus.PENDING.value, *where)
                .values(
                    status=RequestStatus.DECIDED.value,
                    chosen_option="Approve",
                    responded_by=REVIEWER_ID,
                    responded_at=datetime.now(timezone.utc),
                )
                .returning(requests.c.request_id)
            ).scalars()
            for request_id in list(closed):
                announce_closed(conn, request_id)
        return time.perf_counter()

    async def wait_for_events(wanted: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(i not in event_at for i in wanted) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    # Single decisions: a few requests decided one by one at phases spread over one interval, while the
    # others keep waiting (what one reviewer's tap sees).
    single_ids, burst_ids = ids[n - args.singles :], ids[: n - args.singles]
    single_commit: dict[str, float] = {}

    def decide_singles() -> None:
        start = time.perf_counter() + random.uniform(0, interval / args.singles)
        for index, request_id in enumerate(single_ids):
            time.sleep(max(0.0, start + index * interval / args.singles - time.perf_counter()))
            single_commit[request_id] = commit_decision(requests.c.request_id == request_id)

    singles_thread = threading.Thread(target=decide_singles, name="bench-singles", daemon=True)
    singles_thread.start()
    await wait_for_events(single_ids, interval + args.decide_timeout)
    singles_thread.join(timeout=30)

    # The burst: every other request decided by one UPDATE, committed just after a poll statement of the
    # store returned (for the shared poller: the decision just missed a tick).
    burst_commit: list[float] = []

    def decide_burst() -> None:
        polled.clear()
        polled.wait(timeout=3 * interval + 5)
        burst_commit.append(commit_decision())

    burst_thread = threading.Thread(target=decide_burst, name="bench-burst", daemon=True)
    burst_thread.start()
    await wait_for_events(burst_ids, args.decide_timeout)
    burst_thread.join(timeout=30)

    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    counter.close()
    store.dispose()
    decider.dispose()

    single_latencies = [
        event_at[i] - single_commit[i] for i in single_ids if i in event_at and i in single_commit
    ]
    burst_latencies = (
        [event_at[i] - burst_commit[0] for i in burst_ids if i in event_at] if burst_commit else []
    )
    statements = statements1 - statements0
    required = (1 if args.variant == "shared" else n) / interval
    return {
        "backend": args.backend,
        "variant": args.variant,
        "n": n,
        "poll_interval_s": interval,
        "setup_all_waiting_s": round(all_waiting_s, 3),
        "rss_before_bytes": rss_before,
        "rss_waiting_bytes": rss_waiting,
        "bytes_per_waiting_trigger": (rss_waiting - rss_before) / n,
        "peak_rss_bytes": peak_rss_bytes(),
        "window_s": round(window, 3),
        "cpu_s": round(cpu, 4),
        "cpu_s_per_min": cpu * 60 / window,
        "db_server_cpu_s_per_min": None if db_cpu is None else db_cpu * 60 / window,
        "statements": statements,
        "statements_per_s": statements / window,
        "commits_per_s": (commits1 - commits0) / window,
        "required_polls_per_s": required,
        "keeps_up": statements / window >= 0.9 * required,
        "loop_lag_p99_ms": None if not lag else round(1000 * (percentile(lag, 99) or 0.0), 2),
        "events": len(event_at),
        "missing_events": n - len(event_at),
        "wrong_payloads": wrong_payloads,
        "singles": args.singles,
        "single_latency": latency_summary(single_latencies),
        "latency": latency_summary(burst_latencies),
    }


# -- the parent: cases, tables, targets ---------------------------------------------------------------


def plan(quick: bool, backends: list[str]) -> list[dict[str, Any]]:
    """The cases to run, in order: each N on each backend, shared then naive."""
    sizes = [(100, 2.0)] if quick else [(100, 6.0), (1_000, 6.0), (TARGET_N, 16.0)]
    return [
        {"backend": backend, "n": n, "window": window, "variant": variant, "singles": 5 if quick else 20}
        for backend in backends
        for n, window in sizes
        for variant in VARIANTS
    ]


def _case_table(cases: list[dict[str, Any]]) -> str:
    rows = []
    for c in cases:
        lat = c["latency"]
        rows.append(
            [
                c["backend"],
                c["n"],
                VARIANT_LABELS[c["variant"]],
                c["cpu_s_per_min"],
                c["db_server_cpu_s_per_min"],
                c["statements_per_s"],
                f"{c['required_polls_per_s']:,.1f}" + ("" if c["keeps_up"] else " (behind)"),
                c["bytes_per_waiting_trigger"] / 1024,
                c["peak_rss_bytes"] / 2**20,
                c["single_latency"]["p50_ms"],
                c["single_latency"]["p99_ms"],
                lat["p50_ms"],
                lat["p99_ms"],
                c["loop_lag_p99_ms"],
                c["missing_events"],
            ]
        )
    return markdown_table(
        [
            "store",
            "N",
            "variant",
            "CPU s/min",
            "DB server CPU s/min",
            "statements/s",
            "polls/s needed",
            "KiB/trigger",
            "peak RSS MiB",
            "single decision→event p50 ms",
            "p99 ms",
            "burst decision→event p50 ms",
            "p99 ms",
            "loop lag p99 ms",
            "missed events",
        ],
        rows,
    )


def _pair(cases: list[dict[str, Any]], backend: str, n: int) -> tuple[dict | None, dict | None]:
    found = {c["variant"]: c for c in cases if c["backend"] == backend and c["n"] == n}
    return found.get("shared"), found.get("naive")


def ratios(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Naive / shared CPU per backend and N."""
    out = []
    for backend in dict.fromkeys(c["backend"] for c in cases):
        for n in sorted({c["n"] for c in cases if c["backend"] == backend}):
            shared, naive = _pair(cases, backend, n)
            if shared and naive and shared["cpu_s_per_min"] > 0:
                out.append(
                    {
                        "backend": backend,
                        "n": n,
                        "cpu_ratio": naive["cpu_s_per_min"] / shared["cpu_s_per_min"],
                        "statement_ratio": naive["statements_per_s"] / max(shared["statements_per_s"], 1e-9),
                        "naive_keeps_up": naive["keeps_up"],
                    }
                )
    return out


def targets(result: dict[str, Any]) -> list[Target]:
    cases = result["cases"]
    n = max(c["n"] for c in cases)
    found: list[Target] = []
    for backend in result["config"]["backends"]:
        shared, naive = _pair(cases, backend, n)
        if shared is None or naive is None:
            found.append(Target(name=f"triggers {backend}", target="-", measured="not run", met=None))
            continue
        ratio = naive["cpu_s_per_min"] / max(shared["cpu_s_per_min"], 1e-9)
        behind = "" if naive["keeps_up"] else "; the naive baseline could not keep up with its interval"
        found.append(
            Target(
                name=f"triggers {backend}, N={n:,}: CPU vs naive",
                target=f"≥ {TARGET_CPU_RATIO:.0f}x less CPU",
                measured=f"{ratio:.0f}x ({shared['cpu_s_per_min']:.2f} vs {naive['cpu_s_per_min']:.1f} "
                f"CPU s/min{behind})",
                met=ratio >= TARGET_CPU_RATIO,
            )
        )
        if backend == "sqlite":
            found.append(
                Target(
                    name=f"triggers {backend}, N={n:,}: idle CPU while waiting",
                    target=f"≤ {TARGET_IDLE_CPU_SQLITE:.1f} CPU s/min (the previous release)",
                    measured=f"{shared['cpu_s_per_min']:.2f} CPU s/min",
                    met=shared["cpu_s_per_min"] <= TARGET_IDLE_CPU_SQLITE,
                )
            )
        for key, what, limit_s in (
            ("single_latency", "single decisions", TARGET_SINGLE_P99_S),
            ("latency", "all N decided at once", TARGET_BURST_P99_S),
        ):
            lat = shared[key]
            found.append(
                Target(
                    name=f"triggers {backend}, N={n:,}: decision→event p99, {what}",
                    target=f"≤ {limit_s * 1000:.0f} ms",
                    measured="no events"
                    if lat["p99_ms"] is None
                    else f"{lat['p99_ms']:.0f} ms (p50 {lat['p50_ms']:.0f} ms, min {lat['min_ms']:.0f} ms)",
                    met=lat["p99_ms"] is not None
                    and lat["p99_ms"] <= limit_s * 1000
                    and shared["missing_events"] == 0,
                )
            )
        per = shared["bytes_per_waiting_trigger"]
        found.append(
            Target(
                name=f"triggers {backend}, N={n:,}: memory per waiting trigger",
                target=f"≤ {TARGET_BYTES_PER_TRIGGER // 1024} KiB",
                measured=f"{per / 1024:.1f} KiB (naive: {naive['bytes_per_waiting_trigger'] / 1024:.1f} KiB)",
                met=per <= TARGET_BYTES_PER_TRIGGER,
            )
        )
    return found


def markdown(result: dict[str, Any]) -> str:
    config = result["config"]
    ratio_rows = [
        [r["backend"], r["n"], r["cpu_ratio"], r["statement_ratio"], r["naive_keeps_up"]]
        for r in ratios(result["cases"])
    ]
    parts = [
        f"### Trigger fan-in (poll interval {config['poll_interval_s']:g} s)",
        _case_table(result["cases"]),
        markdown_table(
            ["store", "N", "naive/shared CPU", "naive/shared statements", "naive kept up"], ratio_rows
        ),
        "CPU is the worker process's (all threads, the database driver included) over the waiting window; "
        "the PostgreSQL server's backends are counted separately. KiB/trigger is the RSS growth from "
        "creating N triggers until all wait, divided by N. Latency runs from a decision's commit to its "
        "trigger's event: *single* = a few requests decided one at a time at phases spread over one interval "
        "while the rest wait; *burst* = all the others decided by one UPDATE committed right after a poll "
        "statement returned (the worst phase for the shared poller). Waiting windows: "
        + ", ".join(f"N={n:,}: {w:g} s" for n, w in config["windows"].items())
        + ".",
    ]
    return "\n\n".join(parts)


def run(
    out_dir: Path,
    *,
    quick: bool = False,
    backends: list[str] | None = None,
    postgres_url: str | None = None,
    machine: dict[str, Any] | None = None,
    progress: Any = print,
) -> dict[str, Any]:
    """Run every case; write ``triggers.json`` and ``triggers.md`` into ``out_dir``; return the result."""
    from benchmarks.processes import base_env, run_worker
    from benchmarks.stores import fresh_store, postgres_base_url

    backends = backends or ["sqlite", "postgres"]
    interval = 0.5 if quick else POLL_INTERVAL
    cases: list[dict[str, Any]] = []
    windows: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="ighil-bench-triggers-") as tmp:
        workdir = Path(tmp)
        env = base_env(workdir / "home")
        for case in plan(quick, backends):
            windows[case["n"]] = case["window"]
            started = time.monotonic()
            with fresh_store(case["backend"], workdir, postgres_url) as store:
                args = [
                    "--worker",
                    "--backend", store.backend,
                    "--url", store.url,
                    "--variant", case["variant"],
                    "--n", str(case["n"]),
                    "--window", str(case["window"]),
                    "--poll-interval", str(interval),
                    "--decide-timeout", str(max(30.0, 4 * interval)),
                    "--singles", str(case["singles"]),
                ]  # fmt: skip
                if store.application_name:
                    args += [
                        "--app-name",
                        store.application_name,
                        "--admin-url",
                        postgres_base_url(postgres_url),
                    ]
                label = f"{case['backend']}-{case['n']}-{case['variant']}"
                found = run_worker(
                    "benchmarks.bench_triggers",
                    args,
                    env=env,
                    log_path=workdir / "logs" / f"{label}.log",
                    result_path=workdir / f"{label}.json",
                )
            cases.append(found)
            progress(
                f"  triggers {label}: {found['cpu_s_per_min']:.2f} CPU s/min, "
                f"{found['statements_per_s']:.1f} statements/s, "
                f"{found['bytes_per_waiting_trigger'] / 1024:.1f} KiB/trigger, "
                f"p99 {fmt(found['latency']['p99_ms'])} ms ({time.monotonic() - started:.0f} s)"
            )
    result: dict[str, Any] = {
        "benchmark": "triggers",
        "quick": quick,
        "machine": machine or machine_description(),
        "config": {"poll_interval_s": interval, "backends": backends, "windows": windows},
        "cases": cases,
        "ratios": ratios(cases),
    }
    result["targets"] = targets(result)
    write_json(out_dir / "triggers.json", result)
    write_text(out_dir / "triggers.md", markdown(result))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=None)
    worker = parser.add_argument_group("worker (one case; used by the parent)")
    worker.add_argument("--worker", action="store_true")
    worker.add_argument("--backend")
    worker.add_argument("--url")
    worker.add_argument("--variant", choices=VARIANTS)
    worker.add_argument("--n", type=int)
    worker.add_argument("--window", type=float)
    worker.add_argument("--poll-interval", type=float, default=POLL_INTERVAL)
    worker.add_argument("--decide-timeout", type=float, default=30.0)
    worker.add_argument("--singles", type=int, default=20)
    worker.add_argument("--app-name")
    worker.add_argument("--admin-url")
    worker.add_argument("--result", type=Path)
    args = parser.parse_args(argv)
    if args.worker:
        args.result.write_text(json.dumps(asyncio.run(_run_case(args))))
        return 0
    out = args.out or (Path(tempfile.mkdtemp(prefix="ighil-bench-")) if args.quick else RESULTS_DIR)
    result = run(out, quick=args.quick, backends=args.backends.split(","), postgres_url=args.postgres_url)
    print(markdown(result))
    print(f"\nWritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
