"""Airflow on Celery across hosts: :class:`~airflow_provider_instagram_hil.sandbox.services.AirflowServices`
with every process on its own network-namespace "host".

=========  =================================================================
host       runs
=========  =================================================================
(root)     PostgreSQL and Redis on 127.0.0.1, and the forwarder on the bridge
ctl        api-server, scheduler, dag-processor
work1/2    a Celery worker each (CeleryExecutor, Redis broker)
trig1/2    a triggerer each (Airflow's HA: they share the waiting triggers)
web1/2     a webhook replica each (``instagram-hil webhook``); Meta posts to either
meta       the sandbox Graph API (Meta's stand-in)
=========  =================================================================

Every host gets the same configuration: Airflow's database, the decision store URL, the broker, the
``instagram_default`` connection (token and app secret) and the JWT/API secrets.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_instagram_hil.sandbox.processes import ManagedProcess, ProcessFailedError
from airflow_provider_instagram_hil.sandbox.services import AirflowServices
from airflow_provider_instagram_hil.sandbox.stack import SANDBOX_READY, WEBHOOK_READY

from .netns import HostNetwork

HOSTS = ("ctl", "work1", "work2", "trig1", "trig2", "web1", "web2", "meta")
API_PORT, WEBHOOK_PORT, GRAPH_PORT = 8080, 8000, 8090
WORKER_READY = r"@\S+ ready\."
FORWARDER = Path(__file__).with_name("forwarder.py")


def on_host(url: str, host: str) -> str:
    """``url`` with its host part replaced (the same server, reached from another host)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=(f"{netloc[0]}@" if len(netloc) == 2 else "") + host + port))


class ScaleoutCluster(AirflowServices):
    """The deployment; use as a context manager (every process stopped, the home removed, on exit).

    :param network: the hosts (created and removed by the caller).
    :param database_url: Airflow's metadata database as the hosts reach it (through the forwarder).
    :param store_url: the decision store as the hosts reach it.
    :param broker_url: Celery's broker (and result backend) as the hosts reach it.
    :param worker_concurrency: task slots per Celery worker.
    """

    def __init__(
        self,
        dags_folder: Path,
        *,
        network: HostNetwork,
        database_url: str,
        store_url: str,
        broker_url: str,
        stats_path: Path,
        worker_concurrency: int = 6,
        poll_interval: float = 2.0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.network = network
        self.broker_url = broker_url
        self.worker_concurrency = worker_concurrency
        self.stats_path = stats_path
        super().__init__(
            dags_folder,
            database_url=database_url,
            store_url=store_url,
            webhook="standalone",
            poll_interval=poll_interval,
            extra_env=extra_env,
            start_timeout=300,
        )
        self.api_port = API_PORT
        self.api_url = f"http://{network.addresses['ctl']}:{API_PORT}"
        self.webhook_urls: dict[str, str] = {}
        self.hosts: dict[str, str] = {}  # component -> host
        self._argv: dict[str, list[str]] = {}
        self.forwarder: ManagedProcess | None = None

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": self.broker_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                # A killed worker's reserved tasks come back within a minute, not a day.
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "60",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
                # A task whose worker died is failed (and retried) after 30 s, not 5 minutes.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                # A killed triggerer's triggers move to the other one after 10 s.
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "1000",
                "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "1000",
                "AIRFLOW__CORE__PARALLELISM": "64",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "5",
                # The forwarder reads the protocol: no TLS or GSS encryption between hosts here.
                "PGSSLMODE": "disable",
                "PGGSSENCMODE": "disable",
            }
        )
        return env

    # -- processes ------------------------------------------------------------------------------------

    def start_on(self, host: str, name: str, argv: list[str], *, ready: str | None = None) -> ManagedProcess:
        """Start (or restart) ``name`` on ``host``; with ``ready``, wait for that line in its output."""
        old = self.components.get(name)
        if old is not None:
            old.stop()
        self.hosts[name], self._argv[name] = host, list(argv)
        proc = ManagedProcess(
            name,
            self.network.wrap(host, argv),
            env=self.env(),
            log_path=self.home / "logs" / f"{name}.log",
            cwd=self.home,
        )
        self.components[name] = proc
        if ready is None:
            proc.start()
        else:
            proc.start_and_wait(ready, timeout=180)
        return proc

    def restart(self, name: str) -> ManagedProcess:
        """Start ``name`` again on its host, with the same command."""
        ready = {"webhook": WEBHOOK_READY, "worker": WORKER_READY}.get(name.split("-")[0])
        return self.start_on(self.hosts[name], name, self._argv[name], ready=ready)

    def start_forwarder(self) -> None:
        gateway = self.network.gateway
        self.forwarder = ManagedProcess(
            "forwarder",
            [
                sys.executable,
                str(FORWARDER),
                "--stats",
                str(self.stats_path),
                f"{gateway}:5432=127.0.0.1:5432/pg",
                f"{gateway}:6379=127.0.0.1:6379",
            ],
            env=self.env(),
            log_path=self.home / "logs" / "forwarder.log",
        )
        self.forwarder.start_and_wait("FORWARDING")

    def start_sandbox(self) -> None:
        """The sandbox Graph API on the ``meta`` host."""
        proc = self.start_on(
            "meta",
            "sandbox",
            [
                sys.executable,
                "-m",
                "airflow_provider_instagram_hil.sandbox.graph_api",
                "--host",
                self.network.addresses["meta"],
                "--port",
                str(GRAPH_PORT),
                "--token",
                self.token,
            ],
            ready=SANDBOX_READY,
        )
        match = re.search(SANDBOX_READY, proc.output())
        assert match is not None
        self.graph_url = match.group(1)

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        self.start_forwarder()
        self.run_airflow("db", "migrate", timeout=600)
        self.start_sandbox()
        airflow = self.airflow_bin()
        ctl = self.network.addresses["ctl"]
        self.start_on(
            "ctl", "api-server", [airflow, "api-server", "--host", ctl, "--port", str(API_PORT), "-w", "2"]
        )
        self.start_on("ctl", "scheduler", [airflow, "scheduler"])
        self.start_on("ctl", "dag-processor", [airflow, "dag-processor"])
        for n in (1, 2):
            self.start_on(f"trig{n}", f"triggerer-{n}", [airflow, "triggerer"])
        for n in (1, 2):
            self.start_on(
                f"work{n}",
                f"worker-{n}",
                [airflow, "celery", "worker", "--celery-hostname", f"work{n}@%h", "--without-mingle"],
            )
        for n in (1, 2):
            self.start_webhook_replica(n)
        self.wait_for_log_line("worker-1", WORKER_READY)
        self.wait_for_log_line("worker-2", WORKER_READY)
        self.wait_healthy(self.start_timeout - (time.monotonic() - began))

    def start_webhook_replica(self, n: int) -> str:
        host = f"web{n}"
        address = self.network.addresses[host]
        self.start_on(
            host,
            f"webhook-{n}",
            [
                sys.executable,
                "-m",
                "airflow_provider_instagram_hil.cli",
                "webhook",
                "--host",
                address,
                "--port",
                str(WEBHOOK_PORT),
            ],
            ready=WEBHOOK_READY,
        )
        url = re.search(WEBHOOK_READY, self.components[f"webhook-{n}"].output())
        assert url is not None
        self.webhook_urls[host] = url.group(1)
        self.webhook_url = self.webhook_urls["web1"] if "web1" in self.webhook_urls else url.group(1)
        return url.group(1)

    def wait_for_log_line(self, name: str, pattern: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        proc = self.components[name]
        while not re.search(pattern, proc.output()):
            if proc.returncode is not None:
                raise ProcessFailedError(f"{name} exited {proc.returncode}:\n{proc.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise ProcessFailedError(f"{name} did not log {pattern!r} in {timeout:.0f}s")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop every process on every host (SIGTERM, then SIGKILL of its group), then the forwarder."""
        for client in self._clients:
            client.close()
        self._clients, self._admin = [], None
        running = list(self.components.values())
        if running:
            with ThreadPoolExecutor(len(running)) as pool:
                list(pool.map(lambda proc: proc.stop(timeout=15), running))
        self.components.clear()
        self.webhook = self.sandbox = None
        if self.forwarder is not None:
            self.forwarder.stop(timeout=5)
        with contextlib.suppress(Exception):
            super().stop()

    def pids(self) -> dict[str, Any]:
        return {name: proc.pid for name, proc in self.components.items() if proc.returncode is None}
