"""Child processes of the benchmarks: the sandbox Graph API, webhook servers and benchmark workers."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_instagram_hil.sandbox.processes import ManagedProcess, ProcessFailedError
from benchmarks import REPO_ROOT

SANDBOX_READY = r"SANDBOX_GRAPH_API_URL=(http://\S+)"
WEBHOOK_READY = r"Serving Instagram webhook on (http://\S+)"
BARE_READY = r"Serving bare endpoint on (http://\S+)"
#: Longest a benchmark worker may run before it is killed (its own loops are bounded well below this).
WORKER_TIMEOUT_SECONDS = 300


def base_env(airflow_home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: no inherited Airflow settings, an isolated AIRFLOW_HOME."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
    )
    env.update(extra or {})
    return env


def instagram_connection(graph_url: str, token: str, app_secret: str, verify_token: str) -> str:
    """``AIRFLOW_CONN_INSTAGRAM_DEFAULT`` pointing at the sandbox Graph API."""
    return json.dumps(
        {
            "conn_type": "instagram",
            "host": graph_url,
            "password": token,
            "extra": {
                "app_secret": app_secret,
                "verify_token": verify_token,
                "api_version": "v25.0",
                "timeout": 10,
            },
        }
    )


def start_sandbox(
    workdir: Path, env: Mapping[str, str], token: str, *, nodelay: bool = True
) -> tuple[ManagedProcess, str]:
    """Start the sandbox Graph API in its own process; return it and its base URL.

    :param nodelay: run it through ``benchmarks.sandbox_server`` (Nagle off, see there); False runs the
        package's module as it is.
    """
    module = "benchmarks.sandbox_server" if nodelay else "airflow_provider_instagram_hil.sandbox.graph_api"
    proc = ManagedProcess(
        "sandbox-graph-api",
        [sys.executable, "-m", module, "--port", "0", "--token", token],
        env=env,
        log_path=workdir / "logs" / f"sandbox-{secrets.token_hex(3)}.log",
        cwd=REPO_ROOT,
    )
    return proc, proc.start_and_wait(SANDBOX_READY).group(1)


def start_server(
    name: str, argv: Sequence[str], ready: str, workdir: Path, env: Mapping[str, str]
) -> tuple[ManagedProcess, str]:
    """Start a server process and return it with the URL its ready line names."""
    proc = ManagedProcess(name, argv, env=env, log_path=workdir / "logs" / f"{name}.log", cwd=REPO_ROOT)
    return proc, proc.start_and_wait(ready, timeout=90).group(1)


def run_worker(
    module: str, args: Sequence[str], *, env: Mapping[str, str], log_path: Path, result_path: Path
) -> dict[str, Any]:
    """Run ``python -m module args`` to completion; return the JSON it wrote to ``result_path``.

    The worker's own output (Airflow logs at INFO) goes to ``log_path``, not to the benchmark's console.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        code = subprocess.run(
            [sys.executable, "-m", module, *args, "--result", str(result_path)],
            env=dict(env),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=WORKER_TIMEOUT_SECONDS,
            check=False,
        ).returncode
    if code != 0 or not result_path.exists():
        tail = "".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-30:])
        raise ProcessFailedError(f"{module} {' '.join(args)} exited {code}; last output:\n{tail}")
    return dict(json.loads(result_path.read_text(encoding="utf-8")))
