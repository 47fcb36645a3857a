"""Figures, targets and the Markdown section of the end-to-end benchmark (``benchmarks/bench_e2e.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from benchmarks.measure import latency_summary, percentile
from benchmarks.report import Target, fmt, markdown_table

TARGET_RATIO = 0.8
#: Airflow's own ApprovalOperator answered from Instagram (webhook → hitlDetails) vs the native PATCH.
BRIDGE_TARGET_RATIO = 1.10
VARIANTS = {
    "ours": "`InstagramApprovalOperator`, signed tap → webhook",
    "native": "`ApprovalOperator`, PATCH",
    "bridge": "`ApprovalOperator` + `InstagramHITLNotifier`, signed tap → webhook → PATCH",
}
#: (label, from, to): the steps of a run after the answer, in order. ``None`` for a variant without one.
SEGMENTS = (
    ("answer sent → committed", "sent", "committed"),
    ("committed → trigger fired (our poll tick)", "committed", "event_fired"),
    ("trigger fired → task scheduled (triggerer submits the event)", "event_fired", "event_submitted"),
    ("committed → task scheduled", "committed", "event_submitted"),
    ("task scheduled → queued (scheduler loop)", "event_submitted", "approval_queued"),
    ("queued → approval task finished (worker runs `execute_complete`)", "approval_queued", "approval_end"),
    ("trigger fired → approval task finished", "event_fired", "approval_end"),
    ("approval finished → downstream scheduled", "approval_end", "downstream_scheduled"),
    ("downstream scheduled → running", "downstream_scheduled", "downstream_start"),
)
TOTALS = {
    "answer_to_approval_end": ("sent", "approval_end"),
    "answer_to_downstream_running": ("sent", "downstream_start"),
    "answer_http": ("sent", "acked"),
}


def _gap(sample: dict[str, Any], start: str, end: str) -> float | None:
    """Seconds from ``start`` to ``end``; None when one is missing or ``start`` precedes the answer.

    A task ended by its trigger is neither scheduled nor queued again after the answer: its
    ``scheduled_when`` / ``queued_when`` still tell when it first started, which is no step of the resumption.
    """
    if not sample.get(start) or not sample.get(end) or not sample.get("sent"):
        return None
    begin = datetime.fromisoformat(sample[start])
    if begin < datetime.fromisoformat(sample["sent"]):
        return None
    return (datetime.fromisoformat(sample[end]) - begin).total_seconds()


def _gaps(samples: list[dict[str, Any]], start: str, end: str) -> list[float]:
    return [gap for sample in samples if (gap := _gap(sample, start, end)) is not None]


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant: latency summaries of the totals and the median of each step; ratios to native."""
    per_variant: dict[str, Any] = {}
    for variant in VARIANTS:
        runs = [s for s in samples if s["variant"] == variant]
        ok = [s for s in runs if "error" not in s]
        per_variant[variant] = {
            "runs": len(runs),
            "failed": len(runs) - len(ok),
            **{name: latency_summary(_gaps(ok, start, end)) for name, (start, end) in TOTALS.items()},
            "steps_p50_ms": {
                label: _ms(percentile(_gaps(ok, start, end), 50)) for label, start, end in SEGMENTS
            },
        }
    return {
        "variants": per_variant,
        "ratios": _ratios(per_variant, "ours"),
        "bridge_ratios": _ratios(per_variant, "bridge"),
    }


def _ratios(per_variant: dict[str, Any], variant: str) -> dict[str, Any]:
    """``variant`` / native, per total and quantile (None without runs of both)."""
    ratios = {}
    for name in ("answer_to_approval_end", "answer_to_downstream_running"):
        mine, native = per_variant[variant][name], per_variant["native"][name]
        ratios[name] = {
            q: (mine[f"{q}_ms"] / native[f"{q}_ms"]) if mine[f"{q}_ms"] and native[f"{q}_ms"] else None
            for q in ("p50", "p90")
        }
    return ratios


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _s(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f}"


def targets(result: dict[str, Any]) -> list[Target]:
    found: list[Target] = []
    for backend, data in result["backends"].items():
        summary = data["summary"]
        ours = summary["variants"]["ours"]["answer_to_downstream_running"]
        native = summary["variants"]["native"]["answer_to_downstream_running"]
        ratio = summary["ratios"]["answer_to_downstream_running"]["p50"]
        found.append(
            Target(
                name=f"e2e {backend}: answer → downstream running, ours vs native ApprovalOperator",
                target=f"median ≤ {TARGET_RATIO}x native",
                measured=(
                    f"{fmt(ratio, 2)}x ({_s(ours['p50_ms'])} s vs {_s(native['p50_ms'])} s median; "
                    f"p90 {_s(ours['p90_ms'])} vs {_s(native['p90_ms'])} s; {ours['count']} runs each)"
                ),
                met=None if ratio is None else ratio <= TARGET_RATIO,
            )
        )
        bridge = summary["variants"]["bridge"]["answer_to_downstream_running"]
        bridge_ratio = summary["bridge_ratios"]["answer_to_downstream_running"]["p50"]
        if bridge["count"]:
            found.append(
                Target(
                    name=f"e2e {backend}: tap → downstream running through the HITL bridge vs native PATCH",
                    target=f"median ≤ {BRIDGE_TARGET_RATIO}x native",
                    measured=(
                        f"{fmt(bridge_ratio, 2)}x ({_s(bridge['p50_ms'])} s vs {_s(native['p50_ms'])} s "
                        f"median; p90 {_s(bridge['p90_ms'])} vs {_s(native['p90_ms'])} s; "
                        f"{bridge['count']} runs)"
                    ),
                    met=None if bridge_ratio is None else bridge_ratio <= BRIDGE_TARGET_RATIO,
                )
            )
        failed = sum(v["failed"] for v in summary["variants"].values())
        runs = sum(v["runs"] for v in summary["variants"].values())
        found.append(
            Target(
                name=f"e2e {backend}: runs that failed",
                target="0",
                measured=f"{failed} of {runs}",
                met=failed == 0,
            )
        )
    return found


def markdown(result: dict[str, Any]) -> str:
    config = result["config"]
    parts = [
        "### End to end in a real Airflow deployment: answer → approval finished → downstream running",
        f"Scheduler, triggerer, dag-processor and api-server (LocalExecutor) with Airflow's defaults; our "
        f"`poll_interval` {fmt(config['poll_interval'])} s (the default); {config['webhook']}. "
        f"{config['pairs']} pairs per backend, alternating ours/native run by run, one run at a time, after "
        f"{config['warmup_runs_per_variant']} warm-up run(s) of each; the reviewer answers "
        f"{config['think_seconds'][0]:.0f}-{config['think_seconds'][1]:.0f} s after the task waits. "
        f"Answer = {config['answer']}; every later instant comes from Airflow's database, the decision "
        "store and the triggerer's log.",
    ]
    parts += [f"**{note}**" for note in result.get("notes", [])]
    for backend, data in result["backends"].items():
        summary = data["summary"]
        rows = []
        for variant, label in VARIANTS.items():
            v = summary["variants"][variant]
            approval, downstream = v["answer_to_approval_end"], v["answer_to_downstream_running"]
            rows.append(
                [
                    label,
                    f"{v['runs'] - v['failed']} / {v['runs']}",
                    _s(approval["p50_ms"]),
                    _s(approval["p90_ms"]),
                    _s(downstream["p50_ms"]),
                    _s(downstream["p90_ms"]),
                    v["answer_http"]["p50_ms"],
                ]
            )
        for key, label in (("ratios", "ours"), ("bridge_ratios", "bridge")):
            ratios = summary[key]
            rows.append(
                [
                    f"**ratio {label} / native**",
                    "",
                    fmt(ratios["answer_to_approval_end"]["p50"], 2),
                    fmt(ratios["answer_to_approval_end"]["p90"], 2),
                    fmt(ratios["answer_to_downstream_running"]["p50"], 2),
                    fmt(ratios["answer_to_downstream_running"]["p90"], 2),
                    None,
                ]
            )
        headers = [
            "variant",
            "runs ok",
            "→ approval finished p50 s",
            "p90 s",
            "→ downstream running p50 s",
            "p90 s",
            "answer HTTP p50 ms",
        ]
        steps = [
            [label, *(_s(summary["variants"][variant]["steps_p50_ms"][label]) for variant in VARIANTS)]
            for label, _start, _end in SEGMENTS
        ]
        parts += [
            f"#### {backend} (stack up in {data['start_seconds']:.0f} s; {data['seconds']:.0f} s in all)",
            markdown_table(headers, rows),
            "Where the time goes (median of each step, seconds; medians do not add up exactly):",
            markdown_table(["step", *VARIANTS], steps),
        ]
        errors = [s for s in data["samples"] if "error" in s] + [{"error": e} for e in data["warmup_errors"]]
        if errors:
            parts.append("Failed runs: " + "; ".join(f"`{e['error'][:200]}`" for e in errors))
    return "\n\n".join(parts)
