"""Machine description, JSON results and Markdown tables of the benchmarks."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sqlite3
import subprocess
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TypedDict

import psutil

from benchmarks import REPO_ROOT


class Target(TypedDict):
    """One target of issue #5 and how this run did against it."""

    name: str
    target: str
    measured: str
    met: bool | None
    """None when the case was not run (e.g. no PostgreSQL)."""


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}{' (uncommitted changes)' if dirty else ''}"


def code_digest() -> str:
    """A short digest of the provider's source: a change in the middle of a run shows up in the results."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "airflow_provider_instagram_hil").rglob("*.py")):
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def machine_description(postgres_version: str | None = None) -> dict[str, Any]:
    """Where and with what the benchmarks ran."""
    load = os.getloadavg()
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "airflow": _version("apache-airflow"),
        "sqlalchemy": _version("sqlalchemy"),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version,
        "psycopg": _version("psycopg"),
        "flask": _version("flask"),
        "waitress": _version("waitress"),
        "requests": _version("requests"),
        "provider_commit": _git_commit(),
        "provider_source_digest": code_digest(),
        "load_average_at_start": [round(value, 2) for value in load],
    }


def machine_markdown(machine: dict[str, Any]) -> str:
    """The machine description as a short Markdown list."""
    return "\n".join(
        [
            f"- Date: {machine['date']}; provider commit {machine.get('provider_commit') or 'unknown'}, "
            f"source digest {machine.get('provider_source_digest', '-')}",
            f"- CPU: {machine['cpu_model']}, {machine['logical_cores']} logical cores; "
            f"RAM {machine['ram_gib']} GiB; {machine['os']}",
            f"- Load average when the run started: {', '.join(map(str, machine['load_average_at_start']))} "
            "(the machine is shared: compare ratios, not absolute numbers)",
            f"- Python {machine['python']}, Airflow {machine['airflow']}, "
            f"SQLAlchemy {machine['sqlalchemy']}, "
            f"SQLite {machine['sqlite']}, PostgreSQL {machine['postgresql'] or 'not available'} "
            f"(psycopg {machine['psycopg']}), Flask {machine['flask']}, waitress {machine['waitress']}, "
            f"requests {machine['requests']}",
        ]
    )


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: numbers rounded, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; numeric-looking columns are right-aligned."""
    cells = [[fmt(value) for value in row] for row in rows]

    def numeric(column: int) -> bool:
        values = [row[column] for row in rows if row[column] is not None]
        return bool(values) and all(
            isinstance(value, (int, float)) and not isinstance(value, bool) for value in values
        )

    align = ["---:" if numeric(i) else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def targets_markdown(targets: Sequence[Target]) -> str:
    def verdict(met: bool | None) -> str:
        return "not run" if met is None else ("**met**" if met else "**missed**")

    return markdown_table(
        ["target", "goal", "measured", "verdict"],
        [[t["name"], t["target"], t["measured"], verdict(t["met"])] for t in targets],
    )


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n", encoding="utf-8")
