"""A small client of Airflow's public REST API (``/api/v2``), for tests and benchmarks of a running stack.

It covers what the end-to-end tests and the latency benchmark do to a DAG run: unpause, trigger, wait for
a state, clear, mark success/failed, answer Airflow's own human-in-the-loop tasks, read timestamps. Waits
poll the API with a deadline and fail with the last state seen, never sleep a fixed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import requests

T = TypeVar("T")
#: States after which a task instance or DAG run changes only by a user action.
TERMINAL_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
#: Answers worth retrying: SQLite's "database is locked" comes back as a 500.
RETRY_STATUSES = frozenset({500, 502, 503, 504})


class AirflowApiError(RuntimeError):
    """Airflow's API refused a call, or a wait ran out of time; the message says what was seen."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class TaskTimes:
    """When a task instance went through each step of its current try (UTC, from Airflow's database).

    ``scheduled`` is also when a resumed task was handed its event (a trigger's or a HITL answer's).
    """

    state: str | None
    try_number: int
    scheduled: datetime | None
    queued: datetime | None
    start: datetime | None
    end: datetime | None

    @classmethod
    def from_api(cls, ti: Mapping[str, Any]) -> TaskTimes:
        return cls(
            state=ti.get("state"),
            try_number=int(ti.get("try_number") or 0),
            scheduled=_when(ti.get("scheduled_when")),
            queued=_when(ti.get("queued_when")),
            start=_when(ti.get("start_date")),
            end=_when(ti.get("end_date")),
        )


class AirflowApiClient:
    """Talk to one Airflow API server as one user.

    :param base_url: e.g. ``http://127.0.0.1:28080``.
    :param username: a simple-auth-manager user; None asks for the all-admins token (only works with
        ``[core] simple_auth_manager_all_admins = True``).
    :param password: that user's password.
    :param timeout: seconds per HTTP call.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.timeout = timeout
        self._session = requests.Session()
        self._password = password

    def close(self) -> None:
        self._session.close()

    def login(self) -> None:
        """Get a JWT from the simple auth manager (``/auth/token``) and send it with every call."""
        if self.username is None:
            response = self._session.get(f"{self.base_url}/auth/token", timeout=self.timeout)
        else:
            body = {"username": self.username, "password": self._password}
            response = self._session.post(f"{self.base_url}/auth/token", json=body, timeout=self.timeout)
        if response.status_code != 201:
            raise AirflowApiError(
                f"login as {self.username or 'all-admins'} failed: HTTP {response.status_code}",
                response.status_code,
            )
        self._session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retries: int = 3,
    ) -> Any:
        """One API call (``path`` below ``/api/v2``); 5xx answers are retried; return the JSON body."""
        url = f"{self.base_url}/api/v2{path}"
        for attempt in range(retries + 1):
            response = self._session.request(method, url, json=json, params=params, timeout=self.timeout)
            if response.status_code not in RETRY_STATUSES or attempt == retries:
                break
            time.sleep(0.2 * (attempt + 1))
        if response.status_code >= 400:
            raise AirflowApiError(
                f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}", response.status_code
            )
        return response.json() if response.content else None

    # -- DAGs and runs --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return dict(self.call("GET", "/monitor/health"))

    def wait_for_dag(self, dag_id: str, *, timeout: float = 180.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id``; fail early on an import error."""

        def parsed() -> dict[str, Any] | None:
            try:
                return dict(self.call("GET", f"/dags/{dag_id}", retries=0))
            except AirflowApiError as exc:
                if exc.status != 404:
                    raise
            errors = self.call("GET", "/importErrors")["import_errors"]
            if errors:
                raise AirflowApiError(f"DAG files failed to import: {errors[0]['stack_trace'][-800:]}")
            return None

        return wait_until(parsed, timeout, f"DAG {dag_id} to be parsed")

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger_dag_run(self, dag_id: str, *, conf: Mapping[str, Any] | None = None) -> str:
        """Start a manual run of ``dag_id`` now; return its run id."""
        body = {"logical_date": None, "conf": dict(conf or {})}
        return str(self.call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def wait_for_dag_run(
        self, dag_id: str, run_id: str, states: Collection[str] = ("success",), *, timeout: float = 180.0
    ) -> dict[str, Any]:
        """Wait until the run is in one of ``states``; fail as soon as it ends in another."""
        return self._wait_state(
            lambda: self.dag_run(dag_id, run_id), states, TERMINAL_RUN_STATES, timeout, f"run {run_id}"
        )

    # -- task instances -------------------------------------------------------------------------------

    def _ti_path(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        suffix = f"/{map_index}" if map_index >= 0 else ""
        return f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}{suffix}"

    def task_instance(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> dict[str, Any]:
        return dict(self.call("GET", self._ti_path(dag_id, run_id, task_id, map_index)))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """State of every task instance of the run (unmapped ones; mapped ones by their last index)."""
        body = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        return {ti["task_id"]: ti["state"] for ti in body["task_instances"]}

    def task_times(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> TaskTimes:
        return TaskTimes.from_api(self.task_instance(dag_id, run_id, task_id, map_index=map_index))

    def wait_for_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Collection[str],
        *,
        map_index: int = -1,
        timeout: float = 180.0,
    ) -> dict[str, Any]:
        """Wait until the task instance is in one of ``states``; fail once it ends in another."""
        return self._wait_state(
            lambda: self.task_instance(dag_id, run_id, task_id, map_index=map_index),
            states,
            TERMINAL_TI_STATES,
            timeout,
            f"task {dag_id}.{task_id} of {run_id}",
        )

    def clear_task_instance(
        self, dag_id: str, run_id: str, task_id: str, *, include_downstream: bool = False
    ) -> list[dict[str, Any]]:
        """Clear one task instance whatever its state (a new try); return the cleared instances."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": [task_id],
            "only_failed": False,
            "include_downstream": include_downstream,
        }
        return list(self.call("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)["task_instances"])

    def set_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, *, map_index: int = -1
    ) -> list[dict[str, Any]]:
        """Mark a task instance ``success``, ``failed`` or ``skipped`` as a user in the UI would."""
        path = self._ti_path(dag_id, run_id, task_id, map_index)
        return list(self.call("PATCH", path, json={"new_state": state})["task_instances"])

    def mark_success(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> None:
        self.set_task_state(dag_id, run_id, task_id, "success", map_index=map_index)

    def mark_failed(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> None:
        self.set_task_state(dag_id, run_id, task_id, "failed", map_index=map_index)

    # -- Airflow's own human-in-the-loop --------------------------------------------------------------

    def hitl_details(self, dag_id: str = "~", run_id: str = "~", **filters: Any) -> list[dict[str, Any]]:
        """HITL requests (``~`` means every DAG / run); ``filters`` are the endpoint's query parameters."""
        body = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/hitlDetails", params=filters)
        return list(body["hitl_details"])

    def hitl_detail(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> dict[str, Any]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails"
        return dict(self.call("GET", path))

    def answer_hitl(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        chosen_options: list[str],
        *,
        params_input: Mapping[str, Any] | None = None,
        map_index: int = -1,
    ) -> dict[str, Any]:
        """Answer a HITL task as this client's user (a second answer gets HTTP 409, not retried)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails"
        body = {"chosen_options": chosen_options, "params_input": dict(params_input or {})}
        return dict(self.call("PATCH", path, json=body, retries=0))

    # -- waiting --------------------------------------------------------------------------------------

    def _wait_state(
        self,
        read: Callable[[], dict[str, Any]],
        states: Collection[str],
        terminal: Collection[str],
        timeout: float,
        what: str,
    ) -> dict[str, Any]:
        seen: list[str | None] = [None]

        def reached() -> dict[str, Any] | None:
            try:
                current = read()
            except requests.Timeout:  # a busy API server: the read is idempotent, ask again
                return None
            seen[0] = current.get("state")
            if seen[0] in states:
                return current
            if seen[0] in terminal:
                raise AirflowApiError(f"{what} ended {seen[0]}, expected {sorted(states)}")
            return None

        try:
            return wait_until(reached, timeout, f"{what} to be {'/'.join(sorted(states))}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc} (last state: {seen[0]})") from None


def wait_until(check: Callable[[], T | None], timeout: float, what: str, *, interval: float = 0.1) -> T:
    """Call ``check`` until it returns something other than None; raise TimeoutError after ``timeout``.

    The pause between calls grows from ``interval`` to 0.5 s, so short waits stay precise and long ones
    do not load the API server.
    """
    deadline = time.monotonic() + timeout
    pause = interval
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f}s for {what}")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)
