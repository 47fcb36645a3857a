"""Smoke test of ``python -m benchmarks --quick``: every benchmark runs and writes sane results."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUDGET_SECONDS = 60
BENCHMARKS = ("triggers", "webhook", "send")


@pytest.mark.e2e
@pytest.mark.timeout(180)
class TestQuickBenchmarks:
    @pytest.fixture(scope="class")
    def results(self, tmp_path_factory) -> tuple[Path, float]:
        out = tmp_path_factory.mktemp("bench")
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
        elapsed = time.monotonic() - started
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return out, elapsed

    def test_writes_every_file(self, results):
        out, _ = results
        names = ["README.md", "summary.json"] + [f"{b}.{ext}" for b in BENCHMARKS for ext in ("json", "md")]
        for name in names:
            assert (out / name).stat().st_size > 0, name

    def test_summary_has_machine_and_targets(self, results):
        out, _ = results
        summary = json.loads((out / "summary.json").read_text())
        assert summary["quick"] is True
        assert summary["failed"] == []
        machine = summary["machine"]
        for key in (
            "cpu_model",
            "logical_cores",
            "ram_gib",
            "python",
            "airflow",
            "sqlalchemy",
            "sqlite",
            "date",
        ):
            assert machine[key], key
        names = [target["name"] for target in summary["targets"]]
        assert any(name.startswith("triggers") for name in names)
        assert any(name.startswith("webhook") for name in names)
        assert any(name.startswith("send") for name in names)
        assert all(set(t) == {"name", "target", "measured", "met"} for t in summary["targets"])
        readme = (out / "README.md").read_text()
        assert "## Machine" in readme
        assert "| target | goal | measured | verdict |" in readme

    def test_trigger_cases_are_sane(self, results):
        out, _ = results
        cases = json.loads((out / "triggers.json").read_text())["cases"]
        assert {c["variant"] for c in cases} == {"shared", "naive"}
        for case in cases:
            assert case["missing_events"] == 0
            assert case["wrong_payloads"] == 0
            assert case["cpu_s_per_min"] > 0
            assert case["statements_per_s"] > 0
            assert case["latency"]["p99_ms"] > 0
            assert case["peak_rss_bytes"] > case["rss_before_bytes"] / 2
        shared = next(c for c in cases if c["variant"] == "shared")
        naive = next(c for c in cases if c["variant"] == "naive")
        # One query per tick against one per trigger per tick: the whole point of the shared poller.
        assert naive["statements_per_s"] > 10 * shared["statements_per_s"]

    def test_webhook_loses_no_decision(self, results):
        out, _ = results
        servers = json.loads((out / "webhook.json").read_text())["servers"]
        assert servers["bare"]["peak_per_s"] > 0
        assert servers["sqlite"]["peak_per_s"] > 0
        check = servers["sqlite"]["check"]
        assert check["ok"], check
        assert check["decided_in_store"] == check["acknowledged_recorded"] > 0

    def test_send_ratio_is_plausible(self, results):
        out, _ = results
        summary = json.loads((out / "send.json").read_text())["summary"]
        assert summary["variants"]["hook"]["sends"] == summary["variants"]["raw"]["sends"] > 0
        assert 0.2 < summary["ratio"] < 5

    def test_quick_run_fits_its_budget(self, results):
        _, elapsed = results
        assert elapsed < BUDGET_SECONDS, f"--quick took {elapsed:.0f} s"
