"""Send path: prompts per second through ``InstagramHook.send_message`` vs. a raw pooled ``requests`` POST.

Both clients run in one worker process, one send at a time (as the operator sends one prompt per task),
against the sandbox Graph API in its own process on loopback. Sends alternate A B, B A, ... one by one,
so that drift in the machine's load hits both alike, and each is timed alone; the ratio compares the
median send of each client (the mean is reported too).

Run alone: ``python -m benchmarks.bench_send [--quick]``; ``--worker`` is the measuring child.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import RESULTS_DIR
from benchmarks.report import Target, fmt, machine_description, markdown_table, write_json, write_text

TARGET_RATIO = 0.90
REVIEWER_ID = "6200000000000001"
PROMPT_TEXT = (
    "Approval needed: deploy_models / 2026-11-01T12:00:00+00:00 / approve_release\n"
    "Release 4.2.0 to production (3 models, 12 files changed).\n"
    "Tap Approve or Reject within 24 h. Default: Reject."
)


def _worker(args: argparse.Namespace) -> dict[str, Any]:
    import requests
    from requests.adapters import HTTPAdapter

    from airflow_provider_instagram_hil import PACKAGE_NAME, __version__
    from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
    from airflow_provider_instagram_hil.meta_limits import quick_replies_for

    quick_replies = quick_replies_for(secrets.token_hex(16), ["Approve", "Reject"])
    hook = InstagramHook()
    # The same bytes the hook puts on the wire: URL, JSON body, bearer header, User-Agent.
    url = f"{args.graph_url}/v25.0/me/messages"
    body = {
        "recipient": {"id": REVIEWER_ID},
        "messaging_type": "RESPONSE",
        "message": {"text": PROMPT_TEXT, "quick_replies": [dict(reply) for reply in quick_replies]},
    }
    session = requests.Session()
    adapter = HTTPAdapter(pool_maxsize=InstagramHook.pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = f"{PACKAGE_NAME}/{__version__}"
    session.headers["Authorization"] = f"Bearer {args.token}"

    def hook_send() -> None:
        result = hook.send_message(REVIEWER_ID, PROMPT_TEXT, quick_replies)
        assert result["message_id"]

    def raw_send() -> None:
        response = session.post(url, json=body, timeout=(5.0, 30.0))
        response.raise_for_status()
        assert response.json()["message_id"]

    variants: dict[str, Callable[[], None]] = {"hook": hook_send, "raw": raw_send}
    for send in variants.values():  # connections opened, code paths warm
        for _ in range(args.warmup):
            send()
    # Interleaved send by send (A B, then B A, ...): load from elsewhere hits both clients alike, and
    # every send is timed alone so that a burst of it shows as outliers, not as a shifted mean.
    samples: dict[str, list[list[float]]] = {"hook": [], "raw": []}
    deadline = time.monotonic() + args.max_seconds
    for index in range(args.sends):
        for name in ("hook", "raw") if index % 2 == 0 else ("raw", "hook"):
            cpu0, t0 = time.process_time(), time.perf_counter()
            variants[name]()
            samples[name].append([time.perf_counter() - t0, time.process_time() - cpu0])
        if time.monotonic() > deadline:
            break
    hook.close()
    session.close()
    return {"samples": samples}


def _summarise(samples: dict[str, list[list[float]]], block: int = 100) -> dict[str, Any]:
    from benchmarks.measure import percentile

    per_variant: dict[str, dict[str, Any]] = {}
    for name, rows in samples.items():
        seconds = [row[0] for row in rows]
        median = percentile(seconds, 50) or 0.0
        per_variant[name] = {
            "sends": len(rows),
            "sends_per_s": len(rows) / sum(seconds),
            "median_sends_per_s": 1 / median,
            "mean_ms": 1000 * sum(seconds) / len(rows),
            "median_ms": 1000 * median,
            "p90_ms": 1000 * (percentile(seconds, 90) or 0.0),
            "client_cpu_ms_per_send": 1000 * sum(row[1] for row in rows) / len(rows),
        }
    hook, raw = samples["hook"], samples["raw"]
    blocks = [
        sum(r[0] for r in raw[i : i + block]) / sum(h[0] for h in hook[i : i + block])
        for i in range(0, min(len(hook), len(raw)), block)
    ]
    return {
        "variants": per_variant,
        # Typical send against typical send: robust to the bursts of load a shared machine has.
        "ratio": per_variant["raw"]["median_ms"] / per_variant["hook"]["median_ms"],
        "ratio_of_means": per_variant["raw"]["mean_ms"] / per_variant["hook"]["mean_ms"],
        "block_ratios": blocks,
        "block_ratio_min": min(blocks) if blocks else None,
        "block_ratio_max": max(blocks) if blocks else None,
        "block_ratio_median": statistics.median(blocks) if blocks else None,
    }


def markdown(result: dict[str, Any]) -> str:
    summary = result["summary"]
    rows = []
    for name, label in (("hook", "`InstagramHook.send_message`"), ("raw", "raw `requests.Session.post`")):
        v = summary["variants"][name]
        rows.append(
            [
                label,
                v["sends"],
                v["median_sends_per_s"],
                v["sends_per_s"],
                v["median_ms"],
                v["p90_ms"],
                v["client_cpu_ms_per_send"],
            ]
        )
    table = markdown_table(
        [
            "client",
            "sends",
            "prompts/s (median send)",
            "prompts/s (mean)",
            "median ms",
            "p90 ms",
            "client CPU ms/send",
        ],
        rows,
    )
    config = result["config"]
    return "\n\n".join(
        [
            "### Send path (sandbox Graph API in its own process, sequential sends)",
            table,
            f"Hook / raw throughput of the median send: **{summary['ratio']:.1%}** (target ≥ "
            f"{TARGET_RATIO:.0%}); of the mean send {summary['ratio_of_means']:.1%}; per block of 100 "
            f"sends {fmt(summary['block_ratio_min'], 3)}-{fmt(summary['block_ratio_max'], 3)} (median "
            f"{fmt(summary['block_ratio_median'], 3)}). {config['sends']} sends per client, interleaved "
            f"send by send (A B, B A, ...), after {config['warmup']} warm-up sends per client.",
        ]
    )


def targets(result: dict[str, Any]) -> list[Target]:
    ratio = result["summary"]["ratio"]
    return [
        Target(
            name="send: hook vs raw requests",
            target=f"≥ {TARGET_RATIO:.0%} of the raw client's prompts/s",
            measured=f"{ratio:.1%} ({result['summary']['variants']['hook']['median_sends_per_s']:.0f} vs "
            f"{result['summary']['variants']['raw']['median_sends_per_s']:.0f} prompts/s, median send; "
            f"{result['summary']['ratio_of_means']:.1%} on means)",
            met=ratio >= TARGET_RATIO,
        )
    ]


def run(out_dir: Path, *, quick: bool = False, machine: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the send benchmark; write ``send.json`` and ``send.md`` into ``out_dir``; return the result."""
    from benchmarks.processes import base_env, instagram_connection, run_worker, start_sandbox

    config = {"sends": 150, "warmup": 20} if quick else {"sends": 3000, "warmup": 100}
    token = "bench-token-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="ighil-bench-send-") as tmp:
        workdir = Path(tmp)
        env = base_env(workdir / "home")
        sandbox, graph_url = start_sandbox(workdir, env, token)
        try:
            conn = instagram_connection(graph_url, token, "bench-secret", "bench-verify")
            worker_env = {**env, "AIRFLOW_CONN_INSTAGRAM_DEFAULT": conn}
            raw = run_worker(
                "benchmarks.bench_send",
                [
                    "--worker",
                    "--graph-url",
                    graph_url,
                    "--token",
                    token,
                    "--sends",
                    str(config["sends"]),
                    "--warmup",
                    str(config["warmup"]),
                ],
                env=worker_env,
                log_path=workdir / "logs" / "worker.log",
                result_path=workdir / "result.json",
            )
        finally:
            sandbox.stop()
    result: dict[str, Any] = {
        "benchmark": "send",
        "quick": quick,
        "machine": machine or machine_description(),
        "config": {**config, "sandbox": "own process (ThreadingHTTPServer), loopback", "concurrency": 1},
        "summary": _summarise(raw["samples"]),
    }
    result["targets"] = targets(result)
    write_json(out_dir / "send.json", result)
    write_text(out_dir / "send.md", markdown(result))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--graph-url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--sends", type=int, default=3000, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=120.0, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.result.write_text(json.dumps(_worker(args)))
        return 0
    out = args.out or (Path(tempfile.mkdtemp(prefix="ighil-bench-")) if args.quick else RESULTS_DIR)
    result = run(out, quick=args.quick)
    print(markdown(result))
    print(f"\nWritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
