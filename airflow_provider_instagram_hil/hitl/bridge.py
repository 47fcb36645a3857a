"""Writing a reviewer's tap into Airflow's human-in-the-loop record, as that reviewer's Airflow user.

For a request that mirrors one of Airflow's own HITL tasks, the webhook asks :meth:`HitlBridge.answer`
inside the response's transaction (the store's ``elsewhere`` hook). It answers
``PATCH /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/{map_index}/hitlDetails`` with a token of
the Airflow user the reviewer stands for, so Airflow resumes the task by its own mechanism and its record
names that user. What Airflow says decides what the store records:

- accepted: the tap is recorded (and the reviewer told "Recorded");
- 409, answered already (in the Required Actions page, say): that answer is recorded instead, and the
  reviewer is told who gave it;
- 403, not a respondent of the task: refused, nothing recorded;
- the task moved to another try, or no longer waits: the request is cancelled with that reason;
- Airflow unreachable or failing: the error propagates, nothing is committed, the webhook answers 503
  and Meta delivers the tap again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from airflow_provider_instagram_hil.exceptions import (
    AirflowApiUnavailableError,
    RequestClosedElsewhereError,
    ResponseRefusedError,
)
from airflow_provider_instagram_hil.store import AnsweredElsewhere, ApprovalRequest, ElsewhereCheck, Recipient

log = logging.getLogger(__name__)

#: ``token_for(airflow_user_id)``: a bearer token of that user (or of a service account).
TokenSource = Callable[[str], str]

SOURCE = "airflow-hitl"
DEFAULT_TIMEOUT = 3.0
#: Task states in which an answer still resumes the task: parked (3.3), deferred to ``HITLTrigger``
#: (3.1, 3.2), or still running ``execute`` (the notifier sends before the task parks; Airflow picks the
#: answer up when it does).
WAITING_STATES = frozenset({"awaiting_input", "deferred", "running"})


class HitlBridge:
    """Answers Airflow's human-in-the-loop tasks through its REST API.

    :param api_url: the API server's base URL, e.g. ``http://airflow.internal:8080``.
    :param token_for: gives a bearer token to act as an Airflow user.
    :param timeout: seconds one call may take (the webhook answers Meta within 5 s).
    """

    def __init__(self, api_url: str, token_for: TokenSource, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.api_url = api_url.rstrip("/")
        self.token_for = token_for
        self.timeout = timeout
        self._http = requests.Session()

    def close(self) -> None:
        self._http.close()

    def answer(self, request: ApprovalRequest, responder: Recipient, option: str) -> AnsweredElsewhere | None:
        """Answer the task of ``request`` with ``option`` as ``responder``'s Airflow user.

        :return: None when Airflow took the answer; the answer it already had otherwise.
        :raises ResponseRefusedError: the responder may not answer this task.
        :raises RequestClosedElsewhereError: the task no longer waits for an answer of this try.
        :raises AirflowApiUnavailableError: Airflow could not be asked; try again later.
        """
        user = responder.name
        if not user:
            raise ResponseRefusedError(f"recipient {responder.recipient_id} is mapped to no Airflow user")
        url = self._detail_url(request)
        headers = {"Authorization": f"Bearer {self.token_for(user)}"}
        current = self._call("GET", url, headers)
        if current.status_code == 403:
            raise ResponseRefusedError(f"Airflow user {user!r} may not see the task of {request.request_id}")
        if current.status_code == 404:
            raise RequestClosedElsewhereError("the task has no human-in-the-loop record in Airflow")
        detail = self._json(current)
        if detail.get("response_received"):
            first = _answer_of(detail)
            if first.responder_id == user and first.option == option:
                return None  # this very tap, written before a crash and delivered again by Meta
            return first
        task = detail.get("task_instance") or {}
        try_number = task.get("try_number")
        if try_number is not None and try_number != request.try_number:
            raise RequestClosedElsewhereError(f"the task moved on to try {try_number} in Airflow")
        if task.get("state") not in WAITING_STATES:
            raise RequestClosedElsewhereError(f"the task no longer waits in Airflow: {task.get('state')}")
        body = {"chosen_options": [option], "params_input": {}}
        patched = self._call("PATCH", url, headers, json=body)
        if patched.status_code == 409:
            return _answer_of(self._json(self._call("GET", url, headers)))
        if patched.status_code in (400, 403, 422):
            log.warning(
                "Airflow refused the answer of user %s to request %s (HTTP %s)",
                user,
                request.request_id,
                patched.status_code,
            )
            raise ResponseRefusedError(f"Airflow refused user {user!r} for request {request.request_id}")
        self._json(patched)  # raises on anything but success
        log.info("Answered request %s in Airflow as user %s: %s", request.request_id, user, option)
        return None

    def _detail_url(self, request: ApprovalRequest) -> str:
        parts = (request.dag_id, request.run_id, request.task_id)
        dag, run, task = (quote(part, safe="") for part in parts)
        return (
            f"{self.api_url}/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/"
            f"{request.map_index}/hitlDetails"
        )

    def _call(self, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> requests.Response:
        try:
            response = self._http.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise AirflowApiUnavailableError(
                f"Airflow's API at {self.api_url} could not be reached ({type(exc).__name__})"
            ) from None
        if response.status_code >= 500:
            raise AirflowApiUnavailableError(
                f"Airflow's API at {self.api_url} answered HTTP {response.status_code}"
            )
        return response

    def _json(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise AirflowApiUnavailableError(
                f"Airflow's API at {self.api_url} answered HTTP {response.status_code} to the "
                "human-in-the-loop request"
            )
        try:
            payload = response.json()
        except ValueError:
            raise AirflowApiUnavailableError(f"Airflow's API at {self.api_url} answered no JSON") from None
        return payload if isinstance(payload, dict) else {}


def elsewhere_check(bridge: HitlBridge | None) -> ElsewhereCheck:
    """The store's ``elsewhere`` hook for a webhook: Airflow's HITL requests go through ``bridge``.

    Without a bridge, a tap on such a request cannot reach Airflow: it is refused for now (503, and Meta
    delivers it again) rather than recorded where Airflow would never see it.
    """

    def check(request: ApprovalRequest, responder: Recipient, option: str) -> AnsweredElsewhere | None:
        if request.source != SOURCE:
            return None
        if bridge is None:
            raise AirflowApiUnavailableError(
                f"request {request.request_id} belongs to Airflow's human-in-the-loop, and this webhook "
                "has no bridge to Airflow's API: run it with Airflow's configuration (see [instagram_hil] "
                "airflow_api_url)"
            )
        return bridge.answer(request, responder, option)

    return check


def _answer_of(detail: dict[str, Any]) -> AnsweredElsewhere:
    who = detail.get("responded_by_user") or detail.get("responded_by") or {}
    chosen = detail.get("chosen_options") or []
    return AnsweredElsewhere(
        responder_id=str(who.get("id") or who.get("name") or "someone"),
        option=str(chosen[0]) if chosen else "",
        source="airflow",
    )
