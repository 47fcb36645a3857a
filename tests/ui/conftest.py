"""One real ``airflow api-server`` with the webhook mounted, shared by the API and browser tests.

It runs in its own temporary AIRFLOW_HOME on loopback ports, with the simple auth manager letting every
request in as admin (so the UI needs no login), ``serve_in_api_server`` on, and an Instagram connection
whose Graph API host is a closed loopback port (nothing leaves the machine).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from airflow_provider_instagram_hil.sandbox.processes import ManagedProcess

READY_LINE = r"Application startup complete"
START_TIMEOUT = 120.0
HEALTH_PATH = "/api/v2/monitor/health"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ApiServer:
    """The running API server and the secrets it was configured with."""

    url: str
    home: Path
    store_url: str
    app_secret: str
    verify_token: str
    access_token: str
    process: ManagedProcess
    env: dict[str, str]
    #: Headers for /api/v2 and /ui calls: Airflow 3.1 does not inject the all-admins token by itself.
    auth: dict[str, str]

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/instagram-hil/webhooks/instagram"

    def log_text(self) -> str:
        return self.process.output()

    def run_airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` command against this server's AIRFLOW_HOME and metadata DB."""
        return subprocess.run(
            [_airflow_bin(), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _environment(home: Path, port: int, store_url: str, conn: dict) -> dict[str, str]:
    # Start from a clean slate: the suite's own AIRFLOW_* settings (unit test mode...) must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "INSTAGRAM_HIL_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__INSTAGRAM_HIL__SERVE_IN_API_SERVER": "True",
            "AIRFLOW__INSTAGRAM_HIL__STORE_URL": store_url,
            "AIRFLOW__INSTAGRAM_HIL__PUBLIC_URL": f"http://127.0.0.1:{port}/instagram-hil",
            "AIRFLOW_CONN_INSTAGRAM_DEFAULT": json.dumps(conn),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="session")
def api_server(tmp_path_factory) -> Iterator[ApiServer]:
    """Migrate a fresh metadata DB, start ``airflow api-server``, wait until it is healthy."""
    home = tmp_path_factory.mktemp("api-server-home")
    (home / "dags").mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store_url = f"sqlite:///{home / 'ighil.db'}"
    app_secret = "e2e-app-secret-" + secrets.token_hex(8)
    verify_token = "e2e-verify-" + secrets.token_hex(6)
    access_token = "e2e-access-token-" + secrets.token_hex(8)
    conn = {
        "conn_type": "instagram",
        # Replies to the reviewer go here: a closed port refuses at once, nothing leaves the machine.
        "host": f"http://127.0.0.1:{free_port()}",
        "password": access_token,
        "extra": {"app_secret": app_secret, "verify_token": verify_token, "api_version": "v25.0"},
    }
    env = _environment(home, port, store_url, conn)
    migrate = subprocess.run(
        [_airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

    process = ManagedProcess(
        "api-server",
        [_airflow_bin(), "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        log_path=home / "api-server.log",
        cwd=home,
    )
    started = time.monotonic()
    process.start_and_wait(READY_LINE, timeout=START_TIMEOUT)
    try:
        _wait_healthy(url, process)
        print(f"\napi-server healthy {time.monotonic() - started:.1f}s after start", file=sys.stderr)
        token = requests.get(url + "/auth/token", timeout=30)
        assert token.ok, token.text
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        yield ApiServer(url, home, store_url, app_secret, verify_token, access_token, process, env, auth)
    finally:
        process.stop(timeout=10)


def _wait_healthy(url: str, process: ManagedProcess, timeout: float = 30.0) -> None:
    """Startup is complete once uvicorn says so; allow a moment for the socket to answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.returncode is not None:
            pytest.fail(f"api-server exited with {process.returncode}:\n{process.output()[-3000:]}")
        try:
            if requests.get(url + HEALTH_PATH, timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or too busy to answer on a loaded machine: ask again
        time.sleep(0.2)
    pytest.fail(f"api-server at {url} not healthy after {timeout:.0f}s:\n{process.output()[-3000:]}")
