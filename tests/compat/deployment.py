"""A small real Airflow deployment on loopback: api-server, scheduler, dag-processor, triggerer.

LocalExecutor on a SQLite metadata DB in a temporary AIRFLOW_HOME; the simple auth manager lets every
REST call in as admin. Used to observe, on whichever Airflow line is installed, what that line does.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

from airflow_provider_instagram_hil.sandbox.processes import ManagedProcess

PROBE = Path(__file__).resolve().parent / "probe"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Return ``probe()``'s first truthy answer; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Deployment:
    """Start with :meth:`start`, stop with :meth:`stop`; REST helpers in between."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.markers = home / "markers"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[ManagedProcess] = []
        self.http = requests.Session()
        self.env = self._environment()

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "INSTAGRAM_HIL_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(PROBE / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "PYTHONPATH": str(PROBE / "lib"),
                "PYTHONUNBUFFERED": "1",
                "PROBE_MARKER_DIR": str(self.markers),
            }
        )
        return env

    def _airflow(self) -> str:
        return str(Path(sys.executable).with_name("airflow"))

    def start(self) -> Deployment:
        self.markers.mkdir(parents=True, exist_ok=True)
        migrate = subprocess.run(
            [self._airflow(), "db", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        api = self._spawn("api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1")
        api.start_and_wait(r"Application startup complete", timeout=180)
        for component in ("scheduler", "dag-processor", "triggerer"):
            self._spawn(component).start()
        wait_for("the api-server to answer", self._healthy, timeout=60)
        # All-admins mode hands out a token without credentials; 3.1 does not inject one by itself.
        token = self.http.get(f"{self.url}/auth/token", timeout=30)
        assert token.ok, token.text
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        return self

    def _spawn(self, component: str, *args: str) -> ManagedProcess:
        process = ManagedProcess(
            component,
            [self._airflow(), component, *args],
            env=self.env,
            log_path=self.home / "logs" / f"{component}.log",
            cwd=self.home,
        )
        self.processes.append(process)
        return process

    def _healthy(self) -> bool:
        try:
            return self.http.get(f"{self.url}/api/v2/monitor/health", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop(timeout=20)
        self.http.close()

    def logs(self) -> str:
        """The tail of every component's output, for failure messages."""
        return "\n".join(f"--- {p.name}\n{p.output()[-2500:]}" for p in self.processes)

    # -- REST -------------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)

    def trigger(self, dag_id: str, timeout: float = 180) -> str:
        """Wait until ``dag_id`` is parsed, start a run, return its run id."""
        wait_for(f"DAG {dag_id} to be parsed", lambda: self.api("GET", f"/dags/{dag_id}").ok, timeout)
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        assert response.ok, response.text
        return response.json()["dag_run_id"]

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        assert response.ok, response.text
        return response.json()

    def wait_for_states(
        self, dag_id: str, run_id: str, wanted: dict[str, set[str]], timeout: float = 180
    ) -> dict[str, str]:
        """Wait until every task in ``wanted`` is in one of its states; return the states seen."""

        def states() -> dict[str, str] | None:
            seen = {t: self.task_instance(dag_id, run_id, t)["state"] for t in wanted}
            return seen if all(seen[t] in ok for t, ok in wanted.items()) else None

        try:
            return wait_for(f"{dag_id} tasks in {wanted}", states, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    def wait_for_log(self, component: str, pattern: str, timeout: float = 120) -> None:
        """Wait until ``component`` printed a line matching ``pattern``."""
        [process] = [p for p in self.processes if p.name == component]
        regex = re.compile(pattern)
        wait_for(f"{component} to log {pattern!r}", lambda: regex.search(process.output()), timeout)

    def wait_for_marker(self, name: str, what: str, timeout: float = 120) -> None:
        """Wait until the probe trigger ``name`` noted ``what`` (run, on_kill, cleanup)."""
        wait_for(f"trigger {name} to note {what!r}", lambda: what in self.marker_lines(name), timeout)

    def marker_lines(self, name: str) -> list[str]:
        path = self.markers / f"{name}.log"
        return path.read_text(encoding="utf-8").split() if path.exists() else []
