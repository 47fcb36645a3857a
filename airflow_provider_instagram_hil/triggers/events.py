"""What crosses from the trigger to the task: the event payload, and the XCom result built from it.

Plain TypedDicts, so they survive Airflow's serialisation between the triggerer and a worker. The
trigger builds the :class:`ApprovalResult` itself when it ends an approved task in the triggerer; the
operator builds it on a worker otherwise: both call :func:`approval_result`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final, Literal, TypedDict

from airflow_provider_instagram_hil.store import RequestState, RequestStatus

EventStatus = Literal["decided", "timed_out", "error", "wake"]
#: A follow-up (a reminder, an escalation) is due: the worker sends it and waits again.
WAKE: Final = "wake"

#: Why a request closed without a decision, as the task's error says it.
_CLOSED_WITHOUT_DECISION = {
    RequestStatus.CANCELLED: "the approval request was cancelled",
    RequestStatus.SUPERSEDED: "the approval request was superseded by a newer try",
    RequestStatus.PENDING: "the approval request is still pending",
}


class ResponsePayload(TypedDict):
    """One reviewer's answer, as the event and the XCom result list it."""

    responder: str
    channel: str
    option: str
    reason: str | None
    received_at: str
    source: str


class DecisionEventPayload(TypedDict):
    """What the trigger hands back to ``InstagramApprovalOperator.execute_complete``.

    ``status`` is ``"timed_out"`` whenever the deadline closed the request; ``chosen_option`` then holds
    the default option if one was applied, else None. ``responses`` lists every answer, oldest first.
    """

    status: EventStatus
    request_id: str
    chosen_option: str | None
    responded_by: str | None
    responded_at: str | None
    timed_out: bool
    error: str | None
    responses: list[ResponsePayload]


class ApprovalResult(TypedDict):
    """The operator's XCom ``return_value``."""

    request_id: str
    chosen_option: str
    approved: bool
    responded_by: str | None
    responded_at: str | None
    timed_out: bool
    responses: list[ResponsePayload]


def payload_from_state(state: RequestState) -> DecisionEventPayload:
    """Describe a resolved request as an event payload."""
    if state.status in _CLOSED_WITHOUT_DECISION:
        why = f" ({state.closed_reason})" if state.closed_reason else ""
        return error_payload(state.request_id, _CLOSED_WITHOUT_DECISION[state.status] + why)
    timed_out = state.timed_out or state.status is RequestStatus.EXPIRED
    return DecisionEventPayload(
        status="timed_out" if timed_out else "decided",
        request_id=state.request_id,
        chosen_option=state.chosen_option,
        responded_by=state.responded_by,
        responded_at=state.responded_at.isoformat() if state.responded_at else None,
        timed_out=timed_out,
        error=None,
        responses=[
            ResponsePayload(
                responder=r.responder_id,
                channel=r.channel,
                option=r.option,
                reason=r.reason,
                received_at=r.received_at.isoformat(),
                source=r.source,
            )
            for r in state.responses
        ],
    )


def wake_payload(request_id: str) -> DecisionEventPayload:
    """The event that resumes the worker to send a due follow-up; the request is still pending."""
    return DecisionEventPayload(
        status=WAKE,
        request_id=request_id,
        chosen_option=None,
        responded_by=None,
        responded_at=None,
        timed_out=False,
        error=None,
        responses=[],
    )


def error_payload(request_id: str, error: str) -> DecisionEventPayload:
    """An event payload that makes the task fail with ``error``."""
    return DecisionEventPayload(
        status="error",
        request_id=request_id,
        chosen_option=None,
        responded_by=None,
        responded_at=None,
        timed_out=False,
        error=error,
        responses=[],
    )


def approval_result(event: DecisionEventPayload, reject_options: Collection[str]) -> ApprovalResult | None:
    """The XCom result of a decided (or defaulted) request; None when the event carries no option."""
    chosen = event.get("chosen_option")
    if event.get("status") not in ("decided", "timed_out") or chosen is None:
        return None
    return ApprovalResult(
        request_id=event["request_id"],
        chosen_option=chosen,
        approved=chosen not in reject_options,
        responded_by=event.get("responded_by"),
        responded_at=event.get("responded_at"),
        timed_out=bool(event.get("timed_out")),
        responses=list(event.get("responses") or []),
    )


def decided_by(result: ApprovalResult) -> str:
    """Who decided, as logs and errors say it: a recipient, or the timeout default."""
    return "the timeout default" if result["timed_out"] else f"recipient {result['responded_by']}"
