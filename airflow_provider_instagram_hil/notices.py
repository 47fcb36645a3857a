"""A word at every end: what the reviewers of a request are told when it closes.

When one reviewer's answer closes a request, the others who have its prompt learn who answered what;
at the deadline, everyone who has it learns which default applied, or that the task failed. The texts
are queued in the outbox in the same transaction that closes the request (the webhook's sender delivers
them), so nobody is told of a close that did not commit, and a crash loses no notice.
"""

from __future__ import annotations

from airflow_provider_instagram_hil.prompt import zone
from airflow_provider_instagram_hil.store import (
    PROMPTED,
    ApprovalRequest,
    DecisionResult,
    OutboxMessage,
    Outcome,
    RequestStatus,
)

#: How much of the subject a notice quotes.
QUOTED_SUBJECT_CHARS = 80


def quoted_subject(request: ApprovalRequest) -> str:
    """The request's subject in quotes, shortened to :data:`QUOTED_SUBJECT_CHARS` characters."""
    subject = request.subject or "the approval request"
    if len(subject) > QUOTED_SUBJECT_CHARS:
        subject = subject[: QUOTED_SUBJECT_CHARS - 1].rstrip() + "…"
    return f"'{subject}'" if request.subject else subject


def answered_by(request: ApprovalRequest) -> str:
    """Who closed a decided request, as reviewers may be told: the name the DAG gave them, the Airflow
    user for an answer given in Airflow, else "another reviewer" (never a channel id)."""
    closing = request.responses[-1] if request.responses else None
    if closing is not None and closing.source == "airflow":
        return f"{closing.responder_id} in Airflow"
    closer = request.recipient(request.responded_by) if request.responded_by else None
    return closer.name if closer is not None and closer.name else "another reviewer"


def deadline_text(request: ApprovalRequest) -> str:
    """The deadline in the request's time zone: ``14:00 CET on Thu 3 Dec``."""
    local = request.expires_at.astimezone(zone(request.timezone))
    return f"{local:%H:%M} {local.tzname()} on {local:%a} {local.day} {local:%b}"


def closed_notice(request: ApprovalRequest) -> str | None:
    """The notice for a request that just closed, or None while it is pending."""
    subject = quoted_subject(request)
    if request.status is RequestStatus.DECIDED and request.timed_out:
        return (
            f"{subject} got no answer by {deadline_text(request)}: the default, {request.chosen_option}, "
            "applied."
        )
    if request.status is RequestStatus.EXPIRED:
        return f"{subject} got no answer by {deadline_text(request)}: the task failed."
    if request.status is RequestStatus.DECIDED:
        return f"{subject} was answered by {answered_by(request)}: {request.chosen_option}."
    if request.status is RequestStatus.CANCELLED:
        why = f" ({request.closed_reason})" if request.closed_reason else ""
        return f"{subject} was cancelled{why}; no answer is needed any more."
    return None


def closing_messages(
    result: DecisionResult, *, channels: frozenset[str] | None = None, skip: str | None = None
) -> list[OutboxMessage]:
    """The notices to queue when ``result`` closed its request: one per recipient who has the prompt
    (those who answered too: the outcome may not be theirs), except ``skip`` (who is told by their own reply).

    :param channels: the channels notices can go out on (None: every channel).
    """
    request = result.request
    if request is None or result.outcome is not Outcome.RECORDED or not result.closed:
        return []
    text = closed_notice(request)
    if text is None:
        return []
    return [
        OutboxMessage(
            recipient.channel, recipient.recipient_id, text, kind="notice", request_id=request.request_id
        )
        for recipient in request.recipients
        if recipient.delivery in PROMPTED
        and recipient.recipient_id != skip
        and (channels is None or recipient.channel in channels)
    ]
