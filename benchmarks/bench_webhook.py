"""Webhook ingest: signed quick-reply deliveries per second through the real ``instagram-hil webhook``.

Servers, each in its own process on loopback, all with the same number of waitress threads:

- ``instagram-hil webhook`` (``python -m airflow_provider_instagram_hil.cli webhook``) on a SQLite store,
  and another on a PostgreSQL store. Replies to the reviewer are **on**, as in production (the command has
  no switch to turn them off): the connection's host points at the sandbox Graph API, in its own process;
- the ceiling: a bare waitress + Flask endpoint that answers 200 without work (``benchmarks.bare_server``).

Every delivery is a signed Instagram quick-reply event deciding a distinct pending request, registered in
bulk beforehand. The load generator (``benchmarks.loadgen``) runs in its own process. Phases: warm-up,
then peak throughput (closed loop, keep-alive connections) in rounds that alternate the servers so drift
hits all alike, then latency at a fixed open-loop rate. Afterwards the stores are checked: every delivery
acknowledged as recorded must be decided, with its own event id, and nothing else.

Run alone: ``python -m benchmarks.bench_webhook [--quick] [--backends sqlite,postgres]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import REPO_ROOT, RESULTS_DIR
from benchmarks.report import Target, fmt, machine_description, markdown_table, write_json, write_text

THREADS = 8
TARGET_PEAK_RATIO = 0.60
TARGET_P99_MS = 25.0
DROPPED_REPLY = re.compile(r"Dropped the reply")
NO_REPLIES = "-noreply"


def _config(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "threads": THREADS,
            "connections": 8,
            "warmup": 30,
            "peak_rounds": 1,
            "peak_seconds": 1.0,
            "peak_cap": 3_000,
            "rate": 100.0,
            "open_seconds": 2.0,
            "drain_seconds": 5.0,
            "half_peak_seconds": 0.0,
        }
    return {
        "threads": THREADS,
        "connections": 8,
        "warmup": 100,
        "peak_rounds": 2,
        "peak_seconds": 3.0,
        "peak_cap": 6_000,
        "rate": 500.0,
        "open_seconds": 10.0,
        "drain_seconds": 5.0,
        "half_peak_seconds": 5.0,
    }


def _write_bodies(path: Path, request_ids: list[str], reviewer: str, app_secret: str) -> list[str]:
    """Write one signed quick-reply delivery per request; return the event ids (``mid``) in order."""
    from airflow_provider_instagram_hil.payloads import encode_payload
    from airflow_provider_instagram_hil.sandbox.reviewer import quick_reply_event
    from airflow_provider_instagram_hil.webhook.signature import sign_body

    mids = []
    with path.open("w", encoding="utf-8") as out:
        for index, request_id in enumerate(request_ids):
            mid = f"aWdfbench{index:06d}{request_id[:10]}"
            event = quick_reply_event(encode_payload(request_id, "Approve"), sender_id=reviewer, mid=mid)
            body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
            out.write(json.dumps({"body": body, "signature": sign_body(body.encode(), app_secret)}) + "\n")
            mids.append(mid)
    return mids


class Server:
    """A server under test, its process and the deliveries sent to it."""

    def __init__(self, name: str, proc: Any, url: str, bodies: Path, backend: str | None) -> None:
        import psutil

        self.name, self.proc, self.url, self.bodies, self.backend = name, proc, url, bodies, backend
        self.process = psutil.Process(proc.pid)
        self.cursor = 0  # next unused body (the bare endpoint reuses them: it records nothing)
        self.outcomes: dict[int, str] = {}
        self.phases: list[dict[str, Any]] = []

    def cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def settle(self, limit: float = 30.0) -> None:
        """Wait (bounded) until the server is idle: a queue left by an overload must not spill over."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = self.cpu()
            time.sleep(0.3)
            if self.cpu() - before < 0.3 * 0.05:
                return


def _load(server: Server, workdir: Path, env: dict[str, str], phase: str, **options: Any) -> dict[str, Any]:
    """Run the load generator once against ``server``; record and return the phase's figures."""
    from benchmarks.measure import latency_summary

    start = server.cursor if server.backend else 0
    result_path = workdir / f"load-{server.name}-{phase}-{secrets.token_hex(3)}.json"
    argv = [sys.executable, "-m", "benchmarks.loadgen", "--url", server.url, "--bodies", str(server.bodies)]
    argv += ["--start", str(start), "--result", str(result_path)]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    cpu0 = server.cpu()
    subprocess.run(argv, env=env, cwd=REPO_ROOT, check=True, timeout=180, stdin=subprocess.DEVNULL)
    server_cpu = server.cpu() - cpu0
    raw = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    outcomes = {start + int(index): outcome for index, outcome in raw["outcomes"].items()}
    if server.backend:
        server.outcomes.update(outcomes)
        server.cursor = max(outcomes, default=start - 1) + 1
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    sent = raw["sent"]
    figures = {
        "phase": phase,
        "sent": sent,
        "elapsed_s": raw["elapsed_s"],
        "throughput_per_s": sent / raw["elapsed_s"] if raw["elapsed_s"] else None,
        "outcomes": counts,
        "errors": raw["errors"],
        "timeouts": raw["timeouts"],
        "latency": latency_summary(raw["latencies_s"]),
        "server_cpu_ms_per_request": 1000 * server_cpu / sent if sent else None,
        "loadgen_cpu_s": raw["loadgen_cpu_s"],
        "connections_opened": raw["connections_opened"],
        "max_schedule_lateness_ms": None
        if raw["max_schedule_lateness_s"] is None
        else 1000 * raw["max_schedule_lateness_s"],
        **{key: value for key, value in options.items() if key in ("connections", "rate")},
    }
    server.phases.append(figures)
    server.settle()
    return figures


def _check_store(
    url: str, request_ids: list[str], mids: list[str], outcomes: dict[int, str]
) -> dict[str, Any]:
    """Compare what the store holds with what the webhook acknowledged."""
    from sqlalchemy import select

    from airflow_provider_instagram_hil.store import DecisionStore, RequestStatus
    from airflow_provider_instagram_hil.store.schema import requests, responses

    store = DecisionStore(url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(requests.c.request_id, requests.c.status, responses.c.mid.label("decision_mid")).join(
                    responses, responses.c.request_id == requests.c.request_id, isouter=True
                )
            ).all()
        problems = store.maintenance.integrity_problems()
    finally:
        store.dispose()
    index_of = {request_id: index for index, request_id in enumerate(request_ids)}
    decided = {
        index_of[r.request_id]: r.decision_mid for r in rows if r.status == RequestStatus.DECIDED.value
    }
    recorded = {i for i, outcome in outcomes.items() if outcome == "recorded"}
    acknowledged = {i for i, outcome in outcomes.items() if outcome in ("recorded", "ok")}
    gave_up = {i for i, outcome in outcomes.items() if outcome == "timeout"}
    lost = sorted(recorded - set(decided))
    wrong_mid = sorted(i for i, mid in decided.items() if mid != mids[i])
    never_sent = sorted(set(decided) - set(outcomes))
    unacknowledged = set(decided) - acknowledged
    return {
        "deliveries_sent": len(outcomes),
        "acknowledged_200": len(acknowledged),
        "acknowledged_recorded": len(recorded),
        "acknowledged_not_recorded": len(acknowledged - recorded),
        "failed_deliveries": len(outcomes) - len(acknowledged),
        "decided_in_store": len(decided),
        "lost": len(lost),
        "decided_with_wrong_mid": len(wrong_mid),
        "decided_but_never_sent": len(never_sent),
        "decided_but_not_acknowledged": len(unacknowledged),
        "client_gave_up": len(gave_up),
        "integrity_problems": len(problems),
        # Decided without a 200 is only fine where the client stopped waiting for the answer (Meta would
        # deliver again and the redelivery is recognised by its mid).
        "ok": not lost
        and not wrong_mid
        and not never_sent
        and not problems
        and len(recorded) == len(acknowledged)
        and unacknowledged <= gave_up,
    }


def _replies(graph_url: str, reviewers: dict[str, str], expected: int) -> dict[str, int]:
    """Replies the sandbox received per reviewer, once they stop arriving (bounded wait)."""
    import requests

    counts: dict[str, int] = {}
    last, stable_since, deadline = -1, time.monotonic(), time.monotonic() + 20
    while time.monotonic() < deadline:
        messages = requests.get(f"{graph_url}/_sandbox/messages", timeout=30).json()["messages"]
        if len(messages) != last:
            last, stable_since = len(messages), time.monotonic()
        counts = {
            backend: sum(1 for m in messages if m["recipient_id"] == reviewer)
            for backend, reviewer in reviewers.items()
        }
        if len(messages) >= expected or time.monotonic() - stable_since > 2:
            break
        time.sleep(0.5)
    return counts


def _peak(server: Server) -> float | None:
    peaks = [p for p in server.phases if p["phase"] == "peak"]
    seconds = sum(p["elapsed_s"] for p in peaks)
    return sum(p["sent"] for p in peaks) / seconds if seconds else None


def run(
    out_dir: Path,
    *,
    quick: bool = False,
    backends: list[str] | None = None,
    postgres_url: str | None = None,
    machine: dict[str, Any] | None = None,
    progress: Any = print,
) -> dict[str, Any]:
    """Run the webhook benchmark; write ``webhook.json`` and ``webhook.md``; return the result."""
    from airflow_provider_instagram_hil.store import DecisionStore
    from benchmarks.processes import (
        BARE_READY,
        WEBHOOK_READY,
        base_env,
        instagram_connection,
        start_sandbox,
        start_server,
    )
    from benchmarks.stores import fresh_store, register_pending

    backends = backends or ["sqlite", "postgres"]
    config = _config(quick)
    # The real command per backend, then (full runs) its diagnostic twin with replies off, peak only.
    keys = [*backends, *([] if quick else [f"{backend}{NO_REPLIES}" for backend in backends])]
    per_server = (
        config["warmup"]
        + config["peak_rounds"] * config["peak_cap"]
        + int(config["rate"] * config["open_seconds"])
        + int(config["peak_cap"] / 2 * config["half_peak_seconds"] / config["peak_seconds"])
    )
    token, app_secret, verify = (
        f"bench-{kind}-{secrets.token_hex(6)}" for kind in ("token", "secret", "verify")
    )
    reviewers = {key: f"62000000000000{index:02d}" for index, key in enumerate(keys, start=1)}
    with tempfile.TemporaryDirectory(prefix="ighil-bench-webhook-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        env = base_env(workdir / "home")
        sandbox, graph_url = start_sandbox(workdir, env, token)
        stack.callback(sandbox.stop)
        conn = instagram_connection(graph_url, token, app_secret, verify)

        stores, ids, mids = {}, {}, {}
        for key in keys:
            store = stack.enter_context(fresh_store(key.removesuffix(NO_REPLIES), workdir, postgres_url))
            decision_store = DecisionStore(store.url)
            ids[key] = register_pending(decision_store, per_server, recipients=[reviewers[key]])
            decision_store.dispose()
            mids[key] = _write_bodies(workdir / f"bodies-{key}.jsonl", ids[key], reviewers[key], app_secret)
            stores[key] = store

        def launch(key: str) -> Server:
            if key == "bare":
                argv = [sys.executable, "-m", "benchmarks.bare_server"]
                argv += ["--port", "0", "--threads", str(THREADS)]
                proc, url = start_server("bare", argv, BARE_READY, workdir, env)
                return Server("bare", proc, url, workdir / f"bodies-{keys[0]}.jsonl", None)
            server_env = {
                **env,
                "AIRFLOW_CONN_INSTAGRAM_DEFAULT": conn,
                "AIRFLOW__INSTAGRAM_HIL__STORE_URL": stores[key].url,
            }
            argv = [sys.executable, "-m", "airflow_provider_instagram_hil.cli", "webhook"]
            argv += ["--host", "127.0.0.1", "--port", "0", "--threads", str(THREADS)]
            if key.endswith(NO_REPLIES):
                argv.append("--no-replies")
            proc, url = start_server(f"webhook-{key}", argv, WEBHOOK_READY, workdir, server_env)
            return Server(key, proc, url, workdir / f"bodies-{key}.jsonl", key.removesuffix(NO_REPLIES))

        with ThreadPoolExecutor(max_workers=len(keys) + 1) as pool:
            servers = list(pool.map(launch, ["bare", *keys]))
        for server in servers:
            stack.callback(server.proc.stop)
        progress(f"  webhook: servers up ({', '.join(s.name for s in servers)})")

        for server in servers:
            _load(
                server,
                workdir,
                env,
                "warmup",
                mode="closed",
                connections=4,
                duration=30,
                count=config["warmup"],
            )
        for round_index in range(config["peak_rounds"]):
            order = servers if round_index % 2 == 0 else servers[::-1]
            for server in order:
                figures = _load(
                    server,
                    workdir,
                    env,
                    "peak",
                    mode="closed",
                    connections=config["connections"],
                    duration=config["peak_seconds"],
                    count=config["peak_cap"],
                )
                progress(f"  webhook {server.name} peak: {figures['throughput_per_s']:.0f} deliveries/s")
        for server in servers:
            if server.name.endswith(NO_REPLIES):
                continue
            figures = _load(
                server,
                workdir,
                env,
                "open",
                mode="open",
                rate=config["rate"],
                duration=config["open_seconds"],
                count=int(config["rate"] * config["open_seconds"]),
                drain=config["drain_seconds"],
            )
            progress(
                f"  webhook {server.name} at {config['rate']:.0f}/s: "
                f"p50 {fmt(figures['latency']['p50_ms'])} ms, "
                f"p99 {fmt(figures['latency']['p99_ms'])} ms"
            )

        # Below saturation: the same servers at half their own peak, where queueing alone cannot explain
        # the tail.
        for server in servers:
            peak = _peak(server)
            if not config["half_peak_seconds"] or server.backend is None or server.name.endswith(NO_REPLIES):
                continue
            rate = max(10, round((peak or 0) / 2))
            figures = _load(
                server,
                workdir,
                env,
                "half-peak",
                mode="open",
                rate=rate,
                duration=config["half_peak_seconds"],
                count=int(rate * config["half_peak_seconds"]),
                drain=config["drain_seconds"],
            )
            progress(
                f"  webhook {server.name} at {rate}/s (half its peak): "
                f"p50 {fmt(figures['latency']['p50_ms'])} ms, p99 {fmt(figures['latency']['p99_ms'])} ms"
            )

        recorded = sum(
            1 for s in servers if s.name in backends for o in s.outcomes.values() if o == "recorded"
        )
        replies = _replies(graph_url, reviewers, recorded)
        for server in servers:
            server.proc.stop()
        checks = {}
        for server in servers:
            if server.backend is None:
                continue
            check = _check_store(
                stores[server.name].url, ids[server.name], mids[server.name], server.outcomes
            )
            check["replies_received_by_sandbox"] = replies.get(server.name, 0)
            check["replies_dropped_queue_full"] = len(DROPPED_REPLY.findall(server.proc.output()))
            checks[server.name] = check

    result: dict[str, Any] = {
        "benchmark": "webhook",
        "quick": quick,
        "machine": machine or machine_description(),
        "config": {
            **config,
            "backends": backends,
            "replies": "on: the connection's host is the sandbox Graph API, in its own process (Nagle off)",
            "server_command": f"python -m airflow_provider_instagram_hil.cli webhook --threads {THREADS}",
            "replies_off_server": f"the same command with --no-replies --threads {THREADS}",
            "ceiling": f"benchmarks.bare_server: waitress + Flask, {THREADS} threads, "
            "reads the body, answers 200",
        },
        "servers": {
            s.name: {"peak_per_s": _peak(s), "phases": s.phases, "check": checks.get(s.name)} for s in servers
        },
    }
    result["targets"] = targets(result)
    write_json(out_dir / "webhook.json", result)
    write_text(out_dir / "webhook.md", markdown(result))
    return result


def _open(server: dict[str, Any], phase: str = "open") -> dict[str, Any] | None:
    return next((p for p in server["phases"] if p["phase"] == phase), None)


def targets(result: dict[str, Any]) -> list[Target]:
    servers, config = result["servers"], result["config"]
    ceiling = servers["bare"]["peak_per_s"]
    found: list[Target] = []
    for backend in config["backends"]:
        server = servers.get(backend)
        if server is None:
            continue
        ratio = server["peak_per_s"] / ceiling if ceiling else 0.0
        found.append(
            Target(
                name=f"webhook {backend}: peak vs bare endpoint",
                target=f"≥ {TARGET_PEAK_RATIO:.0%} of the ceiling",
                measured=f"{ratio:.0%} ({server['peak_per_s']:.0f} vs {ceiling:.0f} deliveries/s)",
                met=ratio >= TARGET_PEAK_RATIO,
            )
        )
        phase = _open(server)
        if phase is None:
            continue
        p99 = phase["latency"]["p99_ms"]
        failed = phase["sent"] - phase["outcomes"].get("recorded", 0)
        unanswered = phase["outcomes"].get("timeout", 0)
        detail = (
            f"; {failed:,} of {phase['sent']:,} not recorded, {unanswered:,} unanswered "
            f"after {config['drain_seconds']:g} s"
            if failed
            else ""
        )
        found.append(
            Target(
                name=f"webhook {backend}: p99 at {config['rate']:.0f} deliveries/s",
                target=f"≤ {TARGET_P99_MS:.0f} ms",
                measured="-"
                if p99 is None
                else f"{p99:.1f} ms (p50 {phase['latency']['p50_ms']:.1f} ms{detail})",
                met=p99 is not None and p99 <= TARGET_P99_MS and not failed,
            )
        )
        check = server["check"]
        found.append(
            Target(
                name=f"webhook {backend}: lost or duplicated decisions",
                target="0; decided == acknowledged",
                measured=f"{check['lost']} lost, "
                f"{check['decided_with_wrong_mid'] + check['decided_but_never_sent']} "
                f"duplicated/foreign; {check['decided_in_store']:,} decided / {check['acknowledged_200']:,} "
                "acknowledged"
                + (
                    f" + {check['decided_but_not_acknowledged']:,} decided after the client stopped waiting"
                    if check["decided_but_not_acknowledged"]
                    else ""
                ),
                met=bool(check["ok"]),
            )
        )
    return found


def markdown(result: dict[str, Any]) -> str:
    servers, config = result["servers"], result["config"]
    ceiling = servers["bare"]["peak_per_s"]
    rows = []
    for name, server in servers.items():
        if name == "bare":
            label = "bare waitress + Flask (ceiling)"
        elif name.endswith(NO_REPLIES):
            label = f"same app, replies off (diagnostic), {name.removesuffix(NO_REPLIES)}"
        else:
            label = f"`instagram-hil webhook`, {name}"
        peaks = [p for p in server["phases"] if p["phase"] == "peak"]
        phase = _open(server) or {"latency": {}, "server_cpu_ms_per_request": None, "sent": 0, "outcomes": {}}
        half = _open(server, "half-peak")
        peak_cpu = sum((p["server_cpu_ms_per_request"] or 0) * p["sent"] for p in peaks) / max(
            1, sum(p["sent"] for p in peaks)
        )
        rows.append(
            [
                label,
                server["peak_per_s"],
                None if not ceiling else f"{server['peak_per_s'] / ceiling:.0%}",
                max((p["latency"]["p99_ms"] or 0) for p in peaks) if peaks else None,
                peak_cpu,
                phase["latency"].get("p50_ms"),
                phase["latency"].get("p99_ms"),
                phase["latency"].get("max_ms"),
                sum(v for k, v in phase["outcomes"].items() if k not in ("recorded", "ok")),
                f"{half['rate']}/s: {fmt(half['latency']['p50_ms'])} / {fmt(half['latency']['p99_ms'])}"
                if half
                else None,
            ]
        )
    table = markdown_table(
        [
            "server",
            "peak deliveries/s",
            "of ceiling",
            "peak p99 ms",
            "server CPU ms/delivery",
            f"p50 ms @ {config['rate']:.0f}/s",
            "p99 ms",
            "max ms",
            "failed or unanswered",
            "at half its peak: p50 / p99 ms",
        ],
        rows,
    )
    check_rows = []
    for name, server in servers.items():
        check = server["check"]
        if not check:
            continue
        check_rows.append(
            [
                name,
                check["deliveries_sent"],
                check["acknowledged_recorded"],
                check["decided_in_store"],
                check["lost"],
                check["decided_with_wrong_mid"] + check["decided_but_never_sent"],
                check["failed_deliveries"],
                check["decided_but_not_acknowledged"],
                check["replies_received_by_sandbox"],
                check["replies_dropped_queue_full"],
            ]
        )
    checks = markdown_table(
        [
            "store",
            "deliveries",
            "acknowledged recorded",
            "decided in store",
            "lost",
            "duplicated/foreign",
            "failed (non-200 or unanswered)",
            "decided, answer not awaited",
            "replies received",
            "replies dropped (queue full)",
        ],
        check_rows,
    )
    return "\n\n".join(
        [
            f"### Webhook ingest ({config['threads']} waitress threads)",
            table,
            checks,
            f"Peak: closed loop, {config['connections']} keep-alive connections, "
            f"{config['peak_rounds']} round(s) of {config['peak_seconds']:g} s per server, servers "
            f"alternated. Latency: open loop at {config['rate']:.0f} deliveries/s for "
            f"{config['open_seconds']:g} s, measured from each request's scheduled start; answers not in "
            f"within {config['drain_seconds']:g} s after the last start count as "
            "unanswered (and are left out of the percentiles). The last column repeats the open loop for "
            f"{config['half_peak_seconds']:g} s at half of each server's own peak, below saturation. "
            "Load generator in its own process on the "
            "same 2 cores. Replies to the reviewer "
            "go to the sandbox Graph API in its own process.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args(argv)
    out = args.out or (Path(tempfile.mkdtemp(prefix="ighil-bench-")) if args.quick else RESULTS_DIR)
    result = run(out, quick=args.quick, backends=args.backends.split(","), postgres_url=args.postgres_url)
    print(markdown(result))
    print(f"\nWritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
