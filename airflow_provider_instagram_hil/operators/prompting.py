"""Sending prompts for the approval operator: the first prompt to every reviewer, reminders and the
escalation, each recorded in the store (sent, kept until the reviewer writes with
``on_window_closed="wait"``, or why it failed).

Functions of the operator (``task``): they send through its channel and hook, so a channel's operator
changes how one prompt goes out (``_prompt_one``) or whether it arrived (``_confirm_delivery``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from airflow_provider_instagram_hil.exceptions import (
    DecisionStoreError,
    InstagramHilError,
    MessagingWindowClosedError,
)
from airflow_provider_instagram_hil.operators.arguments import as_review_fields
from airflow_provider_instagram_hil.operators.follow_up import reminder_text
from airflow_provider_instagram_hil.store import (
    KEPT,
    PROMPTED,
    ApprovalRequest,
    DecisionStore,
    PolicyKind,
    Recipient,
    RecipientRole,
    RequestStatus,
)
from airflow_provider_instagram_hil.triggers.events import DecisionEventPayload, payload_from_state
from airflow_provider_instagram_hil.typed_answers import request_code
from airflow_provider_instagram_hil.version_compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.operators.approval import BaseApprovalOperator

#: Said in the audit trail of a kept prompt.
WINDOW_CLOSED_NOTE = "outside the messaging window: sent when they next write"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def send_prompts(
    task: BaseApprovalOperator, store: DecisionStore, request: ApprovalRequest, text: str
) -> None:
    """Prompt every recipient not prompted yet in this try; cancel the request and raise when too few
    of them have the prompt for the policy ever to be met."""
    prompted = sum(r.delivery in PROMPTED for r in request.recipients)
    failures: list[tuple[str, Exception]] = []
    sent: dict[str, str | None] = {}
    for recipient in request.recipients:
        if recipient.role is RecipientRole.ESCALATION:
            continue  # prompted when the request is escalated (see send_follow_ups)
        if recipient.delivery in PROMPTED:
            task.log.info(
                "Recipient %s already has the prompt of request %s", recipient.label, request.request_id
            )
            continue
        if recipient.delivery in KEPT:
            prompted += 1
            continue  # kept for when they write (logged when it was kept)
        try:
            message_id = task._prompt_one(request, recipient, text)
        except Exception as exc:
            kept = isinstance(exc, MessagingWindowClosedError) and task.on_window_closed == "wait"
            if kept and keep_prompt(task, store, request, recipient, text):
                prompted += 1
                continue
            failure = "Could not send the prompt of request %s to recipient %s: %s"
            failures.append((recipient.label, _failed(task, store, request, recipient, exc, failure)))
            continue
        store.mark_prompt_sent(
            request.request_id, recipient.recipient_id, message_id or "", channel=task.channel.name
        )
        sent[recipient.recipient_id] = message_id
        prompted += 1
        task.log.info("Sent the prompt of request %s to recipient %s", request.request_id, recipient.label)
    for recipient, error in task._confirm_delivery(store, request, text, sent):
        failures.append((recipient.label, error))
        record_failure(task, store, request, recipient.recipient_id, error)
        prompted -= 1
    needed = prompts_needed(request)
    if prompted >= needed:
        return
    cancel(task, store, request)
    if prompted:  # some got it, but the policy needs more of them
        raise AirflowFailException(
            f"Only {prompted} of {len(request.recipients)} reviewers got the prompt of request "
            f"{request.request_id}; decision policy {task.policy.describe()} needs {needed}. Could not "
            f"reach {', '.join(who for who, _ in failures)}: {failures[0][1]}"
        ) from failures[0][1]
    closed = [(who, exc) for who, exc in failures if isinstance(exc, MessagingWindowClosedError)]
    if len(closed) == len(failures):
        who = ", ".join(recipient for recipient, _ in closed)
        raise AirflowFailException(
            f"Could not send the approval prompt to {who}: {closed[0][1]}"
        ) from closed[0][1]
    raise next(exc for _, exc in failures if not isinstance(exc, MessagingWindowClosedError))


def _failed(
    task: BaseApprovalOperator,
    store: DecisionStore,
    request: ApprovalRequest,
    recipient: Recipient,
    exc: Exception,
    failure: str,
) -> Exception:
    """Warn (``failure``: a %-format for the request id, the recipient and the error's type) that
    ``recipient``'s prompt failed with ``exc``, record it in the store, and return ``exc``."""
    task.log.warning(failure, request.request_id, recipient.label, type(exc).__name__)
    record_failure(task, store, request, recipient.recipient_id, exc)
    return exc


def keep_prompt(
    task: BaseApprovalOperator,
    store: DecisionStore,
    request: ApprovalRequest,
    recipient: Recipient,
    text: str,
) -> bool:
    """Keep ``recipient``'s refused prompt for when they write to the account; False when the store
    could not record it (the recipient then counts as not reached)."""
    try:
        store.hold_prompt(
            request.request_id,
            recipient.recipient_id,
            text,
            WINDOW_CLOSED_NOTE,
            channel=task.channel.name,
            persistent_buttons=task.channel.persistent_buttons,
        )
    except DecisionStoreError as exc:
        task.log.warning("Could not keep the prompt of request %s: %s", request.request_id, exc)
        return False
    task.log.info(
        "Recipient %s has not written to the account within %s's messaging window: the prompt of "
        "request %s is kept and goes out when they next write; waiting meanwhile",
        recipient.label,
        task.channel.title,
        request.request_id,
    )
    return True


def record_failure(
    task: BaseApprovalOperator,
    store: DecisionStore,
    request: ApprovalRequest,
    recipient_id: str,
    exc: Exception,
) -> None:
    """Record why ``recipient_id`` has no prompt (shown in the audit trail); a store failure only warns."""
    error = f"{type(exc).__name__}: {exc}" if isinstance(exc, InstagramHilError) else type(exc).__name__
    try:
        store.mark_prompt_failed(request.request_id, recipient_id, error, channel=task.channel.name)
    except DecisionStoreError as store_error:
        task.log.warning(
            "Could not record the failed prompt of request %s: %s", request.request_id, store_error
        )


def cancel(task: BaseApprovalOperator, store: DecisionStore, request: ApprovalRequest) -> None:
    """Cancel a request its policy can no longer reach; a store failure only warns."""
    try:
        store.cancel_request(request.request_id)
        task.log.info("Cancelled request %s", request.request_id)
    except DecisionStoreError as exc:
        task.log.warning("Could not cancel request %s: %s", request.request_id, exc)


def send_follow_ups(task: BaseApprovalOperator, request_id: str) -> DecisionEventPayload:
    """Woken by the trigger: send the reminders and escalation prompts due, then wait again (raises
    ``TaskDeferred``); return the outcome when the request closed meanwhile."""
    store = task._store()
    request = store.get_request(request_id)
    if request is None:
        raise AirflowException(f"Approval request {request_id} is not in the decision store")
    if request.status is RequestStatus.PENDING:
        due = task.follow_ups.due(request, _utcnow())
        # In the order they fell due (one late wake may find both due).
        for recipient in due.reminders:
            remind(task, store, request, recipient)
        for recipient in due.escalation:
            escalate(task, store, request, recipient)
        task._defer(store.get_request(request_id) or request)
    return payload_from_state(request.state)


def escalate(
    task: BaseApprovalOperator, store: DecisionStore, request: ApprovalRequest, recipient: Recipient
) -> None:
    """Prompt one backup reviewer now that nobody answered in time."""
    text = task._prompt_text(
        request.subject or task.subject,
        as_review_fields(task.fields),
        request.expires_at,
        request_code(request.request_id),
    )
    try:
        message_id = task._prompt_one(request, recipient, text)
    except Exception as exc:
        window_closed = isinstance(exc, MessagingWindowClosedError) and task.on_window_closed == "wait"
        if not (window_closed and keep_prompt(task, store, request, recipient, text)):
            _failed(task, store, request, recipient, exc, "Could not escalate request %s to %s: %s")
        return
    store.mark_prompt_sent(
        request.request_id, recipient.recipient_id, message_id, channel=task.channel.name, now=_utcnow()
    )
    task.log.info(
        "Nobody answered request %s within %s: escalated to %s",
        request.request_id,
        task.follow_ups.escalate_after,
        recipient.label,
    )


def remind(
    task: BaseApprovalOperator, store: DecisionStore, request: ApprovalRequest, recipient: Recipient
) -> None:
    """Remind one reviewer who has not answered; tried once per reminder time, sent or not."""
    try:
        task._prompt_one(request, recipient, reminder_text(request))
    except MessagingWindowClosedError:
        task.log.info(
            "Not reminding %s of request %s: outside the channel's messaging window",
            recipient.label,
            request.request_id,
        )
    except Exception as exc:
        task.log.warning(
            "Could not remind %s of request %s: %s",
            recipient.label,
            request.request_id,
            type(exc).__name__,
        )
    else:
        task.log.info("Reminded %s of request %s", recipient.label, request.request_id)
    # Marked either way: one attempt per reminder time, never a retry loop.
    channel = task.channel.name
    store.mark_reminded(request.request_id, recipient.recipient_id, channel=channel, now=_utcnow())


def prompts_needed(request: ApprovalRequest) -> int:
    """How many reviewers must have the prompt for the request's policy to be reachable at all."""
    reviewers = sum(r.role is RecipientRole.REVIEWER for r in request.recipients)
    if request.policy.kind is PolicyKind.ALL:
        return reviewers
    if request.policy.kind is PolicyKind.QUORUM:
        return request.policy.min_approvals or 1
    return 1
