"""Resuming the approval operator: the event of this task try's own request, and what a timeout says.

Functions of the operator (``task``), called by its ``execute_complete``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_instagram_hil.exceptions import DecisionStoreError
from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.triggers.events import DecisionEventPayload, payload_from_state

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.operators.approval import BaseApprovalOperator
    from airflow_provider_instagram_hil.version_compat import Context


def event_of_this_try(
    task: BaseApprovalOperator, context: Context, event: DecisionEventPayload | str
) -> DecisionEventPayload:
    """The decision event of this task try's own request.

    Two cases resume a try with an event that is not its request's: ``airflow dags test`` passes the
    bare state ("success") of a task the trigger ended itself, and a trigger of an earlier try (say,
    before the task was cleared) can fire into the new try. Both are answered from the store; a try
    whose own request is still pending defers again.
    """
    ti = context["ti"]
    store = task._store()
    own_request = event.get("request_id") if isinstance(event, dict) else None
    if own_request is not None:
        try:
            found = store.get_request(own_request)
        except DecisionStoreError as exc:
            task.log.warning("Could not check request %s against this try: %s", own_request, exc)
            return event  # type: ignore[return-value]
        if found is None or found.try_number == ti.try_number:
            return event  # type: ignore[return-value]
        task.log.warning(
            "Ignoring the event of request %s: it belongs to try %d, this is try %d",
            own_request,
            found.try_number,
            ti.try_number,
        )
    request = store.request_for_try(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index if ti.map_index is not None else -1,
        try_number=ti.try_number,
    )
    if request is None:
        # Resumed with another try's event before this try ever ran execute (a clear that raced
        # that try's deferral): ask now.
        task.log.info("Try %d has not sent its approval request yet; sending it now", ti.try_number)
        return task._ask(context)
    if request.status is RequestStatus.PENDING:
        task.log.info("Request %s of this try is still pending; waiting for it again", request.request_id)
        task._defer(request)
    return payload_from_state(request.state)


def unanswered_message(task: BaseApprovalOperator, request_id: str) -> str:
    """Say who did not answer and since when, from the store when it can be read."""
    request = None
    try:
        request = task._store().get_request(request_id)
    except DecisionStoreError as exc:
        task.log.warning("Could not read request %s for the timeout message: %s", request_id, exc)
    if request is None:
        recipient_id = task.recipient_id
        recipients = recipient_id if isinstance(recipient_id, str) else ", ".join(map(str, recipient_id))
        return (
            f"No answer to approval request {request_id} from recipient {recipients} within "
            f"{task.response_timeout}. Set default_option to go on automatically at the timeout."
        )
    return (
        f"No answer to approval request {request_id} from recipient "
        f"{', '.join(r.label for r in request.recipients)}: "
        f"prompted at {request.created_at.isoformat()}, timed out at {request.expires_at.isoformat()} "
        f"(response_timeout {task.response_timeout}). Set default_option to go on "
        f"automatically at the timeout."
    )
