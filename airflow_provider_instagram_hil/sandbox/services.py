"""A real Airflow deployment on loopback: scheduler, triggerer, dag-processor and api-server.

:class:`AirflowServices` extends :class:`~.stack.SandboxStack` (temporary AIRFLOW_HOME, sandbox Graph
API, the real webhook) with Airflow's long-running components and the LocalExecutor, so tests and
benchmarks exercise what a deployment does: the scheduler queues tasks, the triggerer runs our trigger,
the API server answers REST calls and, optionally, serves the webhook. Airflow's metadata database is
SQLite in the home by default, or any PostgreSQL database given by URL
(:func:`temporary_postgres_database` makes a throw-away one).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_instagram_hil.sandbox.airflow_api import AirflowApiClient, wait_until
from airflow_provider_instagram_hil.sandbox.processes import ManagedProcess, ProcessFailedError
from airflow_provider_instagram_hil.sandbox.stack import DEFAULT_REVIEWER_ID, SandboxStack

WebhookMode = Literal["standalone", "api-server"]
WEBHOOK_URL_PREFIX = "/instagram-hil"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_driver(url: str, driver: str) -> str:
    """``postgresql://...`` (any driver) as ``postgresql+<driver>://...``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=f"{parts.scheme.split('+', 1)[0]}+{driver}"))


@contextlib.contextmanager
def temporary_postgres_database(server_url: str, prefix: str = "ighil_svc") -> Iterator[str]:
    """Create an empty database on the server at ``server_url``; yield its URL; drop it afterwards.

    The drop uses ``WITH (FORCE)`` (PostgreSQL 13+), so connections a killed process left behind do not
    keep it.
    """
    import psycopg

    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = urlunsplit(urlsplit(server_url)._replace(scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin)._replace(path=f"/{name}", query=""))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class AirflowServices(SandboxStack):
    """Airflow's scheduler, triggerer, dag-processor and api-server (LocalExecutor) plus the sandbox stack.

    Use it as a context manager; every process group is killed on exit, also when start-up fails.

    :param dags_folder: the DAGs the dag-processor parses (present at start: it rescans rarely).
    :param database_url: Airflow's metadata database (``postgresql://...``; psycopg 3 is used); None: a
        SQLite file in the home.
    :param store_url: the decision store; None: a SQLite file in the home.
    :param webhook: ``"standalone"`` runs ``instagram-hil webhook``; ``"api-server"`` mounts it in the
        API server (``[instagram_hil] serve_in_api_server``).
    :param poll_interval: ``[instagram_hil] poll_interval``; None keeps the provider's default.
    :param users: simple-auth-manager users as ``{name: role}`` (``admin``, ``op``, ``user``,
        ``viewer``); passwords are generated. None: every request is an admin (``all_admins``).
    :param extra_env: more environment for every process (``AIRFLOW__...`` settings, variables).
    :param start_timeout: seconds for every component to report healthy.
    """

    def __init__(
        self,
        dags_folder: Path,
        *,
        database_url: str | None = None,
        store_url: str | None = None,
        webhook: WebhookMode = "standalone",
        poll_interval: float | None = None,
        users: Mapping[str, str] | None = None,
        reviewer_id: str = DEFAULT_REVIEWER_ID,
        extra_env: Mapping[str, str] | None = None,
        home: Path | None = None,
        start_timeout: float = 240.0,
    ) -> None:
        if webhook not in ("standalone", "api-server"):
            raise ValueError(f"webhook must be 'standalone' or 'api-server', got {webhook!r}")
        super().__init__(
            dags_folder,
            home=home,
            store_url=store_url,
            poll_interval=poll_interval or 0.0,  # placeholder: env() leaves the option out when None
            reviewer_id=reviewer_id,
            extra_env=extra_env,
        )
        self.poll_interval = poll_interval  # type: ignore[assignment]
        self.database_url = database_url
        self.webhook_mode: WebhookMode = webhook
        self.users = dict(users or {})
        self.passwords = {name: secrets.token_urlsafe(12) for name in self.users}
        self.start_timeout = start_timeout
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self._log_ports = (free_port(), free_port())
        self._jwt_secret = secrets.token_urlsafe(48)
        self._api_secret = secrets.token_urlsafe(32)
        self.components: dict[str, ManagedProcess] = {}
        self._component_args: dict[str, tuple[str, ...]] = {}
        self._clients: list[AirflowApiClient] = []
        self._admin: AirflowApiClient | None = None

    # -- environment ----------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.poll_interval is None:
            env.pop("AIRFLOW__INSTAGRAM_HIL__POLL_INTERVAL", None)
        worker_logs, trigger_logs = self._log_ports
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(not self.users),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
                "AIRFLOW__API__SECRET_KEY": self._api_secret,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_logs),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_logs),
                "AIRFLOW__INSTAGRAM_HIL__SERVE_IN_API_SERVER": str(self.webhook_mode == "api-server"),
                "AIRFLOW__INSTAGRAM_HIL__URL_PREFIX": WEBHOOK_URL_PREFIX,
            }
        )
        if self.users:
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(
                f"{name}:{role}" for name, role in self.users.items()
            )
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(self.home / "passwords.json")
        if self.database_url:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = _with_driver(self.database_url, "psycopg")
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = _with_driver(
                self.database_url, "psycopg_async"
            )
        env.update(self.extra_env)
        return env

    # -- life cycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Migrate the metadata DB, start the sandbox, Airflow's components and the webhook; wait healthy."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.users:
            (self.home / "passwords.json").write_text(json.dumps(self.passwords) + "\n", encoding="utf-8")
        began = time.monotonic()
        self.run_airflow("db", "migrate", timeout=600)
        if self.live_connection is None:
            self.start_sandbox()
        # All four at once: on two cores their imports overlap with one another's I/O waits.
        self.start_component("api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "-w", "1")
        for name in ("scheduler", "dag-processor", "triggerer"):
            self.start_component(name)
        if self.webhook_mode == "standalone":
            self.start_webhook()
        else:
            self.webhook_url = f"{self.api_url}{WEBHOOK_URL_PREFIX}/webhooks/instagram"
        self.wait_healthy(self.start_timeout - (time.monotonic() - began))

    def start_component(self, name: str, *args: str, command: str | None = None) -> ManagedProcess:
        """Start (or restart) one Airflow component, e.g. ``"triggerer"``, in its own process group.

        :param args: its command-line arguments; a restart without any reuses the previous ones.
        :param command: the ``airflow`` subcommand when ``name`` is not one (a second triggerer,
            ``start_component("triggerer-2", command="triggerer")``).
        """
        old = self.components.get(name)
        if old is not None:
            old.stop()
        args = args or self._component_args.get(name, ())
        self._component_args[name] = args
        proc = ManagedProcess(
            name,
            [self.airflow_bin(), command or name, *args],
            env=self.env(),
            log_path=self.home / "logs" / f"{name}.log",
            cwd=self.home,
        )
        proc.start()
        self.components[name] = proc
        return proc

    def wait_healthy(self, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until the API server answers and the scheduler, triggerer and dag-processor heartbeat."""
        client = AirflowApiClient(self.api_url)
        self._clients.append(client)

        def healthy() -> dict[str, Any] | None:
            for name, proc in self.components.items():
                if proc.returncode is not None:
                    tail = proc.output()[-2000:]
                    raise ProcessFailedError(f"{name} exited {proc.returncode} while starting:\n{tail}")
            try:
                health = client.health()
            except Exception:  # not listening yet, or still starting its workers
                return None
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return health if all((health.get(p) or {}).get("status") == "healthy" for p in parts) else None

        return wait_until(healthy, max(timeout, 1.0), "Airflow's components to be healthy", interval=0.5)

    def stop(self) -> None:
        """Stop every component (SIGTERM, then SIGKILL of its process group), then the sandbox stack."""
        for client in self._clients:
            client.close()
        self._clients, self._admin = [], None
        running = [proc for proc in self.components.values() if proc.returncode is None]
        if running:
            with ThreadPoolExecutor(len(running)) as pool:
                list(pool.map(lambda proc: proc.stop(timeout=20), running))
        super().stop()

    # -- clients and helpers --------------------------------------------------------------------------

    def api(self, username: str | None = None) -> AirflowApiClient:
        """A new logged-in REST client: as ``username`` (one of ``users``), or with the all-admins token."""
        if username is None and self.users:
            raise ValueError("this stack has named users: pass one of " + ", ".join(sorted(self.users)))
        if username is not None and username not in self.passwords:
            raise ValueError(f"unknown user {username!r}; configured: {sorted(self.passwords)}")
        client = AirflowApiClient(
            self.api_url, username=username, password=self.passwords.get(username or "")
        )
        self._clients.append(client)
        client.login()
        return client

    @property
    def admin(self) -> AirflowApiClient:
        """A shared REST client with admin rights (the first ``admin`` user, or the all-admins token)."""
        if self._admin is None:
            admins = [name for name, role in self.users.items() if role.lower() == "admin"]
            if self.users and not admins:
                raise ValueError("no user with the admin role: add one to users=")
            self._admin = self.api(admins[0] if admins else None)
        return self._admin

    def task_states(self, dag_id: str, run_id: str | None = None) -> dict[str, str | None]:
        """Task states of ``run_id`` (default: the latest run of ``dag_id``), through the REST API."""
        if run_id is None:
            runs = self.admin.call("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-id", "limit": 1})
            run_id = str(runs["dag_runs"][0]["dag_run_id"])
        return self.admin.task_states(dag_id, run_id)

    def component_log(self, name: str) -> str:
        """Everything one component printed so far (e.g. ``"triggerer"``)."""
        return self.components[name].output()

    def log_offset(self, name: str) -> int:
        """How many bytes component ``name`` has logged so far: a ``since`` for :meth:`wait_for_log`."""
        path = self.components[name].log_path
        return path.stat().st_size if path.exists() else 0

    def wait_for_log(
        self, name: str, pattern: str, *, since: int = 0, timeout: float = 60.0
    ) -> re.Match[str]:
        """Wait until component ``name`` logs a line matching ``pattern`` after byte ``since``."""
        compiled = re.compile(pattern)
        path = self.components[name].log_path

        def found() -> re.Match[str] | None:
            with path.open("rb") as log:
                log.seek(since)
                return compiled.search(log.read().decode("utf-8", errors="replace"))

        return wait_until(found, timeout, f"{name} to log {pattern!r}")

    def wait_until_released(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        try_number: int = 1,
        since: int = 0,
        timeout: float = 60.0,
    ) -> str:
        """Wait until the scheduler has seen the worker that deferred or parked a task exit; return its state.

        Answer a waiting task only after this: on Airflow 3.3.2, an answer that lets the scheduler queue
        the task again before it processed that exit makes it fail the task ("finished with state success,
        but the task instance's state attribute is queued"), seen with ``ApprovalOperator`` answered within
        a second of parking.
        """
        pattern = (
            rf"TaskInstance Finished: dag_id={re.escape(dag_id)}, task_id={re.escape(task_id)}, "
            rf"run_id={re.escape(run_id)}, .*?, state=(\w+), executor=.*?try_number={try_number},"
        )
        return self.wait_for_log("scheduler", pattern, since=since, timeout=timeout).group(1)

    def trigger_log_records(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """The triggerer's JSON log records for one task instance (all tries), oldest first.

        Only a real triggerer writes these files (``attempt=N.log.trigger.ID.log`` next to the task's log);
        each record has an ISO ``timestamp`` and an ``event`` such as ``"Trigger fired event"``.
        """
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        records: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*.trigger.*.log")):
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict) and "timestamp" in record:
                        records.append(record)
        return sorted(records, key=lambda record: str(record["timestamp"]))

    def describe(self) -> str:
        backend = "PostgreSQL" if self.database_url else "SQLite"
        return (
            f"Airflow {backend}, LocalExecutor, api-server {self.api_url}, webhook {self.webhook_mode} "
            f"{self.webhook_url}, home {self.home}, python {sys.executable}"
        )
