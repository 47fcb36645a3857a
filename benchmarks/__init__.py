"""Benchmarks of airflow-provider-instagram-hil: trigger fan-in, webhook ingest and the send path.

Run them all with ``make bench`` (or ``python -m benchmarks``; ``--quick`` for a smoke run). Each benchmark
measures a baseline in the same run and reports ratios, because the machines they run on are shared and
noisy. Results land in ``benchmarks/results/`` as JSON and Markdown; ``docs/performance.md`` explains them.
"""

from __future__ import annotations

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL_ENV = "INSTAGRAM_HIL_TEST_POSTGRES_URL"
