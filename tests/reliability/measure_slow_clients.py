"""Measure how many slow-body connections each serving shape survives while taps answer within 1 s.

Not a test (pytest does not collect it): ``.venv/bin/python tests/reliability/measure_slow_clients.py``
starts ``instagram-hil webhook`` (defaults) and ``airflow api-server`` with the webhook mounted, each on a
SQLite store in a temporary AIRFLOW_HOME, then for growing counts of connections that trickle a body
that never ends sends signed taps on new connections and prints the slowest answer. The figures in
SECURITY.md come from it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

import requests  # noqa: E402
from slow_clients import SlowBodyClients, timed_taps  # noqa: E402

from airflow_provider_instagram_hil.sandbox.processes import ManagedProcess  # noqa: E402
from airflow_provider_instagram_hil.store import DecisionStore  # noqa: E402

REVIEWER = "6200000000000099"
TAPS = 5


def _env(home: Path, store_url: str, app_secret: str, api_port: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "INSTAGRAM_HIL_"))}
    conn = {
        "conn_type": "instagram",
        "host": "http://127.0.0.1:9",
        "password": "measure-token",
        "extra": {"app_secret": app_secret, "verify_token": "v", "api_version": "v25.0"},
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__INSTAGRAM_HIL__STORE_URL": store_url,
            "AIRFLOW_CONN_INSTAGRAM_DEFAULT": json.dumps(conn),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "0",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if api_port is not None:
        env.update(
            {
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__INSTAGRAM_HIL__SERVE_IN_API_SERVER": "True",
            }
        )
    return env


def _standalone(home: Path, store_url: str, app_secret: str) -> tuple[ManagedProcess, str]:
    process = ManagedProcess(
        "webhook",
        [sys.executable, "-m", "airflow_provider_instagram_hil.cli", "webhook", "--port", "0"],
        env=_env(home, store_url, app_secret),
        log_path=home / "webhook.log",
    )
    url = process.start_and_wait(r"Serving Instagram webhook on (http://\S+)").group(1)
    return process, url


def _api_server(home: Path, store_url: str, app_secret: str) -> tuple[ManagedProcess, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = _env(home, store_url, app_secret, api_port=port)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, check=True, timeout=300)
    process = ManagedProcess(
        "api-server",
        [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        log_path=home / "api-server.log",
        cwd=home,
    )
    process.start_and_wait("Application startup complete", timeout=180)
    # The socket answers a moment after that line.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    return process, f"http://127.0.0.1:{port}/instagram-hil/webhooks/instagram"


def _pending(store: DecisionStore, count: int) -> list[tuple[str, str]]:
    made = []
    for index in range(count):
        request, _ = store.register_request(
            dag_id="measure",
            run_id=f"run_{time.monotonic_ns()}",
            task_id="approve",
            map_index=index,
            recipients=[REVIEWER],
            options=["Approve", "Reject"],
            expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
        )
        made.append((request.request_id, REVIEWER))
    return made


def measure(shape: str, counts: list[int], interval: float) -> list[tuple[int, str]]:
    home = Path(tempfile.mkdtemp(prefix=f"ighil-measure-{shape}-"))
    store_url = f"sqlite:///{home / 'ighil.db'}"
    app_secret = "measure-secret-" + secrets.token_hex(4)
    store = DecisionStore(store_url)
    store.ensure_schema()
    start = _standalone if shape == "standalone" else _api_server
    process, url = start(home, store_url, app_secret)
    rows = []
    try:
        timed_taps(url, app_secret, _pending(store, 2))  # warm up: first requests build lazy state
        for count in counts:
            try:
                with SlowBodyClients(url, count, interval=interval) as slow:
                    time.sleep(2 * interval)  # every connection has trickled a byte at least once
                    answers = timed_taps(url, app_secret, _pending(store, TAPS), timeout=5)
                    held = slow.open
                slowest = max(a.seconds for a in answers)
                ok = all(a.status == 200 for a in answers) and slowest < 1.0
                verdict = f"{'ok  ' if ok else 'FAIL'} slowest tap {slowest * 1000:.0f} ms, {held} held"
            except Exception as exc:
                verdict = f"FAIL {type(exc).__name__}"
            rows.append((count, verdict))
            print(
                f"{shape:10} {count:6} slow connections, a byte each per {interval:g} s: {verdict}",
                flush=True,
            )
    finally:
        process.stop()
        store.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=["standalone", "api-server", "both"], default="both")
    parser.add_argument("--counts", default="300,600,900,990,1000,1100,2000")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between two bytes of a connection"
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    for shape in ("standalone", "api-server") if args.shape == "both" else (args.shape,):
        measure(shape, counts, args.interval)


if __name__ == "__main__":
    main()
