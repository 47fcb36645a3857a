"""Smoke test of ``python -m benchmarks --quick --only e2e``: one run of each variant in a real Airflow
stack."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The order every run goes through; ours also has ``event_fired`` after ``committed``. A task ended by its
#: trigger is not scheduled or queued again: those two instants then precede the answer and are left out.
STEPS = ("sent", "committed", "event_submitted", "approval_queued", "approval_end", "downstream_start")
OPTIONAL_STEPS = ("event_submitted", "approval_queued")


@pytest.mark.e2e
@pytest.mark.timeout(300)
class TestQuickEndToEndBenchmark:
    @pytest.fixture(scope="class")
    def results(self, tmp_path_factory) -> Path:
        out = tmp_path_factory.mktemp("bench-e2e")
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--quick", "--only", "e2e", "--out", str(out)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=280,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return out

    def test_writes_its_files_and_targets(self, results):
        out = results
        for name in ("README.md", "summary.json", "e2e.json", "e2e.md"):
            assert (out / name).stat().st_size > 0, name
        summary = json.loads((out / "summary.json").read_text())
        assert summary["failed"] == []
        names = [t["name"] for t in summary["targets"]]
        assert any(name.startswith("e2e sqlite: answer → downstream running") for name in names)
        assert "| step | ours | native | bridge |" in (out / "e2e.md").read_text()
        assert any("through the HITL bridge" in name for name in names)

    def test_each_run_went_through_every_step_in_order(self, results):
        out = results
        sqlite = json.loads((out / "e2e.json").read_text())["backends"]["sqlite"]
        samples = sqlite["samples"]
        assert sorted(s["variant"] for s in samples) == ["bridge", "native", "ours"]
        for sample in samples:
            assert "error" not in sample, sample
            assert sample["parked_as"] in ("deferred", "awaiting_input")
            sent = datetime.fromisoformat(sample["sent"])
            instants = []
            for step in STEPS:
                if not sample.get(step):
                    assert step in OPTIONAL_STEPS, (step, sample)
                    continue
                when = datetime.fromisoformat(sample[step])
                if step not in OPTIONAL_STEPS or when >= sent:
                    instants.append(when)
            assert instants == sorted(instants), sample
        ours = next(s for s in samples if s["variant"] == "ours")
        fired = datetime.fromisoformat(ours["event_fired"])
        assert datetime.fromisoformat(ours["committed"]) <= fired
        assert fired <= datetime.fromisoformat(ours["approval_end"])

    def test_summary_has_both_variants_and_a_ratio(self, results):
        out = results
        summary = json.loads((out / "e2e.json").read_text())["backends"]["sqlite"]["summary"]
        for variant in ("ours", "native", "bridge"):
            figures = summary["variants"][variant]
            assert figures["runs"] == 1
            assert figures["failed"] == 0
            assert (
                figures["answer_to_downstream_running"]["p50_ms"]
                > figures["answer_to_approval_end"]["p50_ms"]
            )
            assert figures["answer_to_approval_end"]["p50_ms"] > 0
        assert summary["ratios"]["answer_to_downstream_running"]["p50"] > 0
        assert summary["bridge_ratios"]["answer_to_downstream_running"]["p50"] > 0
        assert summary["variants"]["ours"]["steps_p50_ms"]["committed → trigger fired (our poll tick)"] >= 0
