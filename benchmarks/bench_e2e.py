"""End to end in a real Airflow deployment: from the reviewer's answer to the downstream task running.

One :class:`~airflow_provider_instagram_hil.sandbox.services.AirflowServices` stack per backend
(scheduler, triggerer, dag-processor, api-server; LocalExecutor; the standalone ``instagram-hil webhook``;
the sandbox Graph API), with Airflow's defaults and the provider's (``poll_interval`` unset). Three DAGs,
each an approval task followed by the same trivial ``PythonOperator`` (``benchmarks/dags``):

- **ours**: ``InstagramApprovalOperator``, answered by a signed quick-reply tap POSTed to the webhook;
- **native**: Airflow's ``ApprovalOperator``, answered through ``PATCH .../hitlDetails``;
- **bridge**: Airflow's ``ApprovalOperator`` with ``InstagramHITLNotifier``, answered by a tap that the
  webhook writes into ``hitlDetails`` as the reviewer's Airflow user.

Runs rotate one by one (ours, native, bridge, then native, bridge, ours, ...), one DAG run at a time, after
one unmeasured warm-up run of each; a "pair" is one run of each variant. Each run waits until the task is
waiting (deferred with its trigger started in the triggerer, or ``awaiting_input``) and the scheduler has
processed the exit of the worker that parked it, then a "reviewer" waits a random 1-3 s (which also spreads
answers over the trigger's poll phase) and answers. "Answer" is the instant the answering HTTP request is
sent; every later instant is read afterwards from Airflow's database (task instance ``scheduled_when``,
``queued_when``, ``start_date``, ``end_date``), the decision store (``responded_at``), Airflow's HITL
record, and the triggerer's log ("Trigger fired event"). On PostgreSQL, Airflow's metadata database and the
decision store are one fresh database, dropped afterwards.

Run alone: ``python -m benchmarks.bench_e2e [--quick] [--pairs N] [--backends sqlite,postgres]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import BENCH_DIR, RESULTS_DIR
from benchmarks.e2e_report import markdown, summarise, targets
from benchmarks.report import code_digest, machine_description, write_json, write_text

DAGS_FOLDER = BENCH_DIR / "dags"
DAGS = {"ours": "bench_e2e_instagram", "native": "bench_e2e_native", "bridge": "bench_e2e_bridge"}
#: Variants answered by a tap on an Instagram prompt (the others through Airflow's API).
TAPPED = ("ours", "bridge")
APPROVAL_TASK, DOWNSTREAM_TASK = "approve", "after"
THINK_SECONDS = (1.0, 3.0)
DEFAULT_PAIRS, QUICK_PAIRS = 12, 1
RUN_TIMEOUT = 180.0


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Runner:
    """Runs one approval DAG at a time in a started stack and records when each step happened."""

    def __init__(self, stack: Any, rng: random.Random) -> None:
        self.stack = stack
        self.api = stack.admin
        self.rng = rng

    def prepare(self) -> None:
        for dag_id in DAGS.values():
            self.api.wait_for_dag(dag_id)
            self.api.unpause(dag_id)

    def run(self, variant: str) -> dict[str, Any]:
        """One measured run of ``variant``; the sample holds ISO timestamps, or ``error``."""
        dag_id = DAGS[variant]
        since = self.stack.log_offset("scheduler")
        prompts = self.stack.prompt_count() if variant in TAPPED else 0
        run_id = self.api.trigger_dag_run(dag_id)
        sample: dict[str, Any] = {"variant": variant, "run_id": run_id}
        try:
            answer = self._wait_then_answer(variant, dag_id, run_id, since, prompts, sample)
            self.api.wait_for_dag_run(dag_id, run_id, timeout=RUN_TIMEOUT)
            sample.update(self._timestamps(variant, dag_id, run_id, answer))
        except Exception as exc:  # a failed run is reported, not hidden: the others still count
            sample["error"] = f"{type(exc).__name__}: {exc}"[:500]
            with contextlib.suppress(Exception):
                sample["states"] = self.api.task_states(dag_id, run_id)
        return sample

    def _wait_then_answer(
        self, variant: str, dag_id: str, run_id: str, since: int, prompts: int, sample: dict[str, Any]
    ) -> str:
        """Wait until the approval task waits, think, answer; return the id to read the answer back."""
        if variant == "ours":
            prompt = self.stack.wait_for_prompt(count=prompts + 1, timeout=RUN_TIMEOUT)
            self.api.wait_for_task_state(dag_id, run_id, APPROVAL_TASK, {"deferred"}, timeout=RUN_TIMEOUT)
            self._wait_trigger_started(dag_id, run_id)
        else:
            if variant == "bridge":
                prompt = self.stack.wait_for_prompt(count=prompts + 1, timeout=RUN_TIMEOUT)
            states = {"awaiting_input", "deferred"}
            self.api.wait_for_task_state(dag_id, run_id, APPROVAL_TASK, states, timeout=RUN_TIMEOUT)
        sample["parked_as"] = self.stack.wait_until_released(dag_id, run_id, APPROVAL_TASK, since=since)
        think = self.rng.uniform(*THINK_SECONDS)
        sample["think_s"] = round(think, 3)
        time.sleep(think)  # the reviewer reading the prompt: not part of what is measured
        sent = time.time()
        if variant in TAPPED:
            response = self.stack.tap(prompt, "Approve")
            acked = time.time()
            if response.status_code != 200:
                raise RuntimeError(f"the webhook answered the tap with HTTP {response.status_code}")
            answer_id = prompt["quick_replies"][0]["payload"].split(":")[1] if variant == "ours" else run_id
        else:
            self.api.answer_hitl(dag_id, run_id, APPROVAL_TASK, ["Approve"])
            acked = time.time()
            answer_id = run_id
        sample["sent"], sample["acked"] = _utc(sent).isoformat(), _utc(acked).isoformat()
        return answer_id

    def _wait_trigger_started(self, dag_id: str, run_id: str) -> None:
        from airflow_provider_instagram_hil.sandbox.airflow_api import wait_until

        def started() -> bool | None:
            records = self.stack.trigger_log_records(dag_id, run_id, APPROVAL_TASK)
            return True if any(str(r.get("event", "")).endswith("starting") for r in records) else None

        wait_until(started, RUN_TIMEOUT, f"the trigger of {run_id} to start in the triggerer")

    def _timestamps(self, variant: str, dag_id: str, run_id: str, answer_id: str) -> dict[str, Any]:
        approve = self.api.task_times(dag_id, run_id, APPROVAL_TASK)
        after = self.api.task_times(dag_id, run_id, DOWNSTREAM_TASK)
        found: dict[str, Any] = {
            "event_submitted": _iso(approve.scheduled),
            "approval_queued": _iso(approve.queued),
            "approval_end": _iso(approve.end),
            "downstream_scheduled": _iso(after.scheduled),
            "downstream_queued": _iso(after.queued),
            "downstream_start": _iso(after.start),
            "downstream_end": _iso(after.end),
        }
        if variant == "ours":
            request = self.stack.store().get_request(answer_id)
            found["committed"] = _iso(request.responded_at) if request is not None else None
            fired = [
                r["timestamp"]
                for r in self.stack.trigger_log_records(dag_id, run_id, APPROVAL_TASK)
                if r.get("event") == "Trigger fired event"
            ]
            found["event_fired"] = fired[-1].replace("Z", "+00:00") if fired else None
        else:
            detail = self.api.hitl_detail(dag_id, run_id, APPROVAL_TASK)
            found["committed"] = detail.get("responded_at", "").replace("Z", "+00:00") or None
        return found


@contextlib.contextmanager
def _stack(backend: str, postgres_url: str | None) -> Iterator[Any]:
    from airflow_provider_instagram_hil.sandbox.services import AirflowServices, temporary_postgres_database
    from benchmarks.stores import postgres_base_url

    with contextlib.ExitStack() as stack:
        database_url = None
        if backend == "postgres":
            database_url = stack.enter_context(temporary_postgres_database(postgres_base_url(postgres_url)))
        elif backend != "sqlite":
            raise ValueError(f"unknown backend {backend!r}")
        yield stack.enter_context(
            AirflowServices(DAGS_FOLDER, database_url=database_url, store_url=database_url)
        )


def measure_backend(backend: str, pairs: int, *, warmup: bool, seed: int, postgres_url: str | None) -> dict:
    """Start a stack on ``backend``, run the warm-up and ``pairs`` alternating pairs; return the samples."""
    began = time.monotonic()
    rng = random.Random(seed)
    with _stack(backend, postgres_url) as stack:
        started = time.monotonic() - began
        runner = Runner(stack, rng)
        runner.prepare()
        warmups = [runner.run(variant) for variant in DAGS] if warmup else []
        samples = []
        variants = list(DAGS)
        for index in range(pairs):
            order = variants[index % len(variants) :] + variants[: index % len(variants)]
            for variant in order:
                sample = runner.run(variant)
                sample["pair"] = index
                samples.append(sample)
                print(f"   {backend} pair {index + 1}/{pairs} {variant}: {_short(sample)}", flush=True)
    return {
        "backend": backend,
        "start_seconds": round(started, 1),
        "seconds": round(time.monotonic() - began, 1),
        "warmup_errors": [w["error"] for w in warmups if "error" in w],
        "samples": samples,
    }


def _short(sample: dict[str, Any]) -> str:
    if "error" in sample:
        return "FAILED " + sample["error"][:120]
    sent = datetime.fromisoformat(sample["sent"])
    start = sample.get("downstream_start")
    return f"answer -> downstream running {(datetime.fromisoformat(start) - sent).total_seconds():.2f} s"


def run(
    out_dir: Path,
    *,
    quick: bool = False,
    pairs: int | None = None,
    backends: list[str] | None = None,
    postgres_url: str | None = None,
    machine: dict[str, Any] | None = None,
    seed: int = 11,
) -> dict[str, Any]:
    """Run the benchmark; write ``e2e.json`` and ``e2e.md`` into ``out_dir``; return the result."""
    from benchmarks.stores import postgres_base_url, postgres_version

    machine = machine or machine_description()  # before the run: its load average and source digest
    pairs = pairs or (QUICK_PAIRS if quick else DEFAULT_PAIRS)
    backends = list(backends or (["sqlite"] if quick else ["sqlite", "postgres"]))
    if "postgres" in backends and postgres_version(postgres_base_url(postgres_url)) is None:
        print("PostgreSQL is not reachable: skipping its e2e case", file=sys.stderr)
        backends.remove("postgres")
    with _terminate_cleanly():
        measured = [
            measure_backend(backend, pairs, warmup=not quick, seed=seed, postgres_url=postgres_url)
            for backend in backends
        ]
    result: dict[str, Any] = {
        "benchmark": "e2e",
        "quick": quick,
        "machine": machine,
        "config": {
            "pairs": pairs,
            "backends": backends,
            "warmup_runs_per_variant": 0 if quick else 1,
            "think_seconds": list(THINK_SECONDS),
            "seed": seed,
            "poll_interval": _default_poll_interval(),
            "executor": "LocalExecutor",
            "webhook": "standalone instagram-hil webhook (waitress), replies on",
            "answer": "the instant the answering HTTP request is sent (tap POST / hitlDetails PATCH)",
        },
        "backends": {m["backend"]: {**m, "summary": summarise(m["samples"])} for m in measured},
    }
    if code_digest() != machine.get("provider_source_digest"):
        result["notes"] = ["The provider's source changed during the run: run it again."]
        print("warning: the provider's source changed during the run", file=sys.stderr)
    result["targets"] = targets(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "e2e.json", result)
    write_text(out_dir / "e2e.md", markdown(result))
    return result


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into SystemExit meanwhile, so the stacks' process groups are stopped, not orphaned."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        sys.exit(143)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def render(path: Path) -> dict[str, Any]:
    """Summarise the samples of an existing ``e2e.json`` again; rewrite it and its ``e2e.md`` beside it."""
    result = json.loads(path.read_text(encoding="utf-8"))
    for data in result["backends"].values():
        data["summary"] = summarise(data["samples"])
    result["targets"] = targets(result)
    write_json(path, result)
    write_text(path.with_suffix(".md"), markdown(result))
    return result


def _default_poll_interval() -> float | None:
    try:
        from airflow_provider_instagram_hil.config import DEFAULT_POLL_INTERVAL
    except ImportError:
        return None
    return float(DEFAULT_POLL_INTERVAL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PAIRS} pair on SQLite, no warm-up")
    parser.add_argument(
        "--pairs", type=int, default=None, help=f"runs of each variant (default {DEFAULT_PAIRS})"
    )
    parser.add_argument("--backends", default=None, help="sqlite,postgres (default; --quick: sqlite)")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    parser.add_argument(
        "--render", type=Path, default=None, help="summarise an existing e2e.json again (no run)"
    )
    args = parser.parse_args(argv)
    if args.render:
        print(markdown(render(args.render)))
        return 0
    out = args.out or (Path(tempfile.mkdtemp(prefix="ighil-bench-")) if args.quick else RESULTS_DIR)
    backends = args.backends.split(",") if args.backends else None
    result = run(out, quick=args.quick, pairs=args.pairs, backends=backends, postgres_url=args.postgres_url)
    print(markdown(result))
    print(f"\nWritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
