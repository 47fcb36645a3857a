"""What the reviewer is told after a tap, queued in the outbox with the response it reports.

The texts never claim more than the store says: "Recorded" only when this tap's response committed, and
a tap on a closed request always says why it did not count.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from airflow_provider_instagram_hil.notices import closing_messages, quoted_subject
from airflow_provider_instagram_hil.store import DecisionResult, OutboxMessage, Outcome, RequestStatus
from airflow_provider_instagram_hil.typed_answers import request_code
from airflow_provider_instagram_hil.webhook.events import Tap

#: Builds the outbox messages for one tap's result; see :func:`reply_factory`.
ReplyFactory = Callable[[DecisionResult], list[OutboxMessage]]


def reply_text(result: DecisionResult, sender_id: str | None = None, option: str | None = None) -> str | None:
    """The text that tells the reviewer what became of a tap, or None when nothing is said.

    Other reviewers are named only by the names the DAG gave them (``recipient_id={"alice": ...}``),
    never by their ids.

    :param result: what ``DecisionStore.record_decision`` returned.
    :param sender_id: who tapped.
    :param option: what they chose.
    """
    request, outcome = result.request, result.outcome
    if request is None or outcome in (Outcome.DUPLICATE, Outcome.INVALID_OPTION, Outcome.UNKNOWN_REQUEST):
        return None
    if outcome is Outcome.RECORDED:
        assert result.response is not None
        mine = result.response.option
        if not result.closed:
            missing = result.approvals_missing
            waiting = f"{missing} more approval{'s' if missing != 1 else ''}" if missing else "the others"
            return f"✅ Recorded: {mine}. Waiting for {waiting}."
        if request.chosen_option != mine:
            return f"✅ Recorded: {mine}. The request is closed: {request.chosen_option}."
        return f"✅ Recorded: {mine}. Thank you."
    if outcome is Outcome.ALREADY_RESPONDED:
        assert result.response is not None
        return f"You already answered: {result.response.option}."
    if outcome is Outcome.ALREADY_DECIDED:
        if sender_id is not None and request.responded_by == sender_id:
            return f"You already answered this request: {request.chosen_option}."
        closing = request.responses[-1] if request.responses else None
        if closing is not None and closing.source == "airflow":
            who = closing.responder_id
            return f"This request was already answered in Airflow by {who}: {request.chosen_option}."
        closer = request.recipient(request.responded_by) if request.responded_by else None
        who = closer.name if closer is not None and closer.name else "another reviewer"
        return f"This request was already answered by {who}: {request.chosen_option}."
    if outcome is Outcome.EXPIRED:
        when = f"{request.expires_at:%Y-%m-%d %H:%M} UTC"
        if request.status is RequestStatus.DECIDED and request.chosen_option is not None:
            return (
                f"This request expired at {when} and its default, {request.chosen_option}, applied. "
                "Your answer was not recorded."
            )
        return f"This request expired at {when}; your answer was not recorded."
    if outcome is Outcome.CANCELLED:
        why = f" ({request.closed_reason})" if request.closed_reason else ""
        return f"This request was cancelled{why}; your answer was not recorded."
    if outcome is Outcome.SUPERSEDED:
        return "This request was replaced by a newer one: please answer the latest message."
    if outcome is Outcome.REASON_REQUIRED:
        choice = option or request.reject_options[0]
        return (
            f"{quoted_subject(request)} needs a reason for {choice}: reply "
            f'"{request_code(request.request_id)} {choice}: <your reason>". Nothing was recorded yet.'
        )
    if outcome in (Outcome.NOT_ALLOWED, Outcome.WRONG_CHANNEL):
        return "This request is not assigned to you."
    return None


def reply_factory(tap: Tap, channels: Collection[str]) -> ReplyFactory:
    """The outbox messages for ``tap``'s result: one reply to its sender, on its channel, if replies go
    there; when it closed the request, a notice to every other reviewer who has the prompt.

    :param tap: the tap being recorded.
    :param channels: channels this webhook can reply on.
    """

    def messages(result: DecisionResult) -> list[OutboxMessage]:
        text = reply_text(result, tap.sender_id, tap.option)
        notices = closing_messages(result, channels=frozenset(channels), skip=tap.sender_id)
        if text is None or tap.channel not in channels:
            return notices
        reply = OutboxMessage(tap.channel, tap.sender_id, text, kind="reply", request_id=tap.request_id)
        return [reply, *notices]

    return messages
