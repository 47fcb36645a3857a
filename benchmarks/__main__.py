"""Run every benchmark and write the combined summary: ``python -m benchmarks [--quick]`` (``make bench``).

``--quick`` leaves out ``e2e`` (it starts a whole Airflow deployment); ``--quick --only e2e`` runs one pair.

Results go to ``benchmarks/results/`` (with ``--quick``: a new temporary folder unless ``--out`` is
given, so a smoke run never overwrites the committed figures). PostgreSQL cases run when the server at
``INSTAGRAM_HIL_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) answers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import RESULTS_DIR
from benchmarks.report import (
    Target,
    code_digest,
    machine_description,
    machine_markdown,
    targets_markdown,
    write_json,
    write_text,
)

BENCHMARKS = ("triggers", "webhook", "send", "e2e")
QUICK_BENCHMARKS = ("triggers", "webhook", "send")


def _run_one(name: str, out: Path, args: argparse.Namespace, backends: list[str], machine: dict) -> dict:
    if name == "triggers":
        from benchmarks import bench_triggers

        return bench_triggers.run(
            out, quick=args.quick, backends=backends, postgres_url=args.postgres_url, machine=machine
        )
    if name == "webhook":
        from benchmarks import bench_webhook

        return bench_webhook.run(
            out, quick=args.quick, backends=backends, postgres_url=args.postgres_url, machine=machine
        )
    if name == "e2e":
        from benchmarks import bench_e2e

        return bench_e2e.run(
            out,
            quick=args.quick,
            pairs=args.pairs,
            backends=backends,
            postgres_url=args.postgres_url,
            machine=machine,
        )
    from benchmarks import bench_send

    return bench_send.run(out, quick=args.quick, machine=machine)


def summary_markdown(
    machine: dict[str, Any],
    targets: list[Target],
    sections: list[str],
    timings: dict[str, float],
    *,
    quick: bool,
    notes: list[str],
) -> str:
    timing = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    met = sum(1 for t in targets if t["met"])
    ran = sum(1 for t in targets if t["met"] is not None)
    parts = [
        "# Benchmark results" + (" (quick smoke run: not representative)" if quick else ""),
        "Produced by `make bench` (`python -m benchmarks`); what is measured and how to read it: "
        "[docs/performance.md](../../docs/performance.md). Every figure is compared with a baseline "
        "measured in the same run on the same machine.",
        "## Machine",
        machine_markdown(machine),
        f"Wall time: {timing}; total {sum(timings.values()):.0f} s.",
        f"## Targets ({met} of {ran} met)",
        targets_markdown(targets),
        *notes,
        *sections,
    ]
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small smoke run (about half a minute, SQLite)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated subset of " + ", ".join(BENCHMARKS) + " (default: all; --quick: no e2e)",
    )
    parser.add_argument("--pairs", type=int, default=None, help="e2e: runs of each variant per backend")
    parser.add_argument("--backends", default=None, help="sqlite,postgres (default; --quick: sqlite)")
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args(argv)

    from benchmarks.stores import postgres_base_url, postgres_version

    started = time.monotonic()
    out = args.out or (Path(tempfile.mkdtemp(prefix="ighil-bench-quick-")) if args.quick else RESULTS_DIR)
    out.mkdir(parents=True, exist_ok=True)
    backends = (args.backends or ("sqlite" if args.quick else "sqlite,postgres")).split(",")
    notes: list[str] = []
    pg_version = postgres_version(postgres_base_url(args.postgres_url))
    if "postgres" in backends and pg_version is None:
        backends.remove("postgres")
        notes.append("**PostgreSQL was not reachable: its cases were skipped.**")
        print("PostgreSQL is not reachable: skipping its cases", file=sys.stderr)
    machine = machine_description(pg_version)

    targets: list[Target] = []
    sections: list[str] = []
    timings: dict[str, float] = {}
    failed = []
    only = args.only or ",".join(QUICK_BENCHMARKS if args.quick else BENCHMARKS)
    for name in only.split(","):
        if name not in BENCHMARKS:
            parser.error(f"unknown benchmark {name!r}")
        print(f"== {name}", flush=True)
        begun = time.monotonic()
        try:
            result = _run_one(name, out, args, backends, machine)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            notes.append(f"**The {name} benchmark failed; see the console output.**")
            continue
        finally:
            timings[name] = time.monotonic() - begun
        targets.extend(result["targets"])
        sections.append((out / f"{name}.md").read_text(encoding="utf-8"))
        print(f"   {name}: {timings[name]:.0f} s", flush=True)

    if code_digest() != machine["provider_source_digest"]:
        notes.append(
            "**The provider's source changed while this run was under way: its cases measured different "
            "code. Run it again.**"
        )
        print("warning: the provider's source changed during the run", file=sys.stderr)
    summary = summary_markdown(machine, targets, sections, timings, quick=args.quick, notes=notes)
    write_text(out / "README.md", summary)
    write_json(
        out / "summary.json",
        {
            "quick": args.quick,
            "machine": machine,
            "backends": backends,
            "seconds": {**timings, "total": time.monotonic() - started},
            "targets": targets,
            "failed": failed,
        },
    )
    print()
    print(targets_markdown(targets))
    print(f"\nResults in {out} ({time.monotonic() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
