"""Reminders and escalation: what is due for a pending request, and when the trigger should wake next.

Nothing here sends: the operator does, on a worker, when its trigger wakes it (the triggerer holds no
token). Times count from the request's creation; nothing is due at or after its deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from airflow_provider_instagram_hil.notices import deadline_text, quoted_subject
from airflow_provider_instagram_hil.prompt import options_line
from airflow_provider_instagram_hil.store import (
    KEPT,
    PROMPTED,
    ApprovalRequest,
    Delivery,
    Recipient,
    RecipientRole,
)
from airflow_provider_instagram_hil.typed_answers import request_code


@dataclass(frozen=True)
class FollowUps:
    """When to remind the reviewers, and when to hand the request to the backup reviewers.

    :param remind_after: durations after the prompt; each sends one reminder to whoever has not answered.
    :param escalate_after: after it, the backup reviewers get the prompt too (None: never).
    """

    remind_after: tuple[timedelta, ...] = ()
    escalate_after: timedelta | None = None

    @classmethod
    def build(
        cls,
        remind_after: timedelta | Sequence[timedelta] | None,
        escalate_after: timedelta | None,
        response_timeout: timedelta | None,
    ) -> FollowUps:
        """Validate the operator's arguments; ``ValueError`` names the wrong one (``response_timeout``
        None: not known yet, a template)."""
        limit = response_timeout or timedelta.max
        reminders = (remind_after,) if isinstance(remind_after, timedelta) else tuple(remind_after or ())
        for after in reminders:
            if not isinstance(after, timedelta) or not timedelta(0) < after < limit:
                raise ValueError(
                    f"remind_after must be timedeltas between 0 and response_timeout ({response_timeout}), "
                    f"got {remind_after!r}"
                )
        if escalate_after is not None and (
            not isinstance(escalate_after, timedelta) or not timedelta(0) < escalate_after < limit
        ):
            raise ValueError(
                f"escalate_after must be a timedelta between 0 and response_timeout ({response_timeout}), "
                f"got {escalate_after!r}"
            )
        return cls(tuple(sorted(set(reminders))), escalate_after)

    def __bool__(self) -> bool:
        return bool(self.remind_after) or self.escalate_after is not None

    def _times(self, request: ApprovalRequest) -> list[datetime]:
        afters = [*self.remind_after, *([self.escalate_after] if self.escalate_after else [])]
        return sorted(request.created_at + after for after in afters)

    def next_wake(self, request: ApprovalRequest, now: datetime) -> datetime | None:
        """The next time something may be due, before the deadline; None when nothing is left."""
        due = self.due(request, now)
        if due.reminders or due.escalation:
            return now  # due already: wake at once
        return next((at for at in self._times(request) if now < at < request.expires_at), None)

    def due(self, request: ApprovalRequest, now: datetime) -> Due:
        """Who should get a reminder, and which backup reviewers the prompt, at ``now``."""
        if now >= request.expires_at:
            return Due((), ())
        answered = {response.responder_id for response in request.responses}
        passed = [
            request.created_at + after for after in self.remind_after if request.created_at + after <= now
        ]
        reminders: list[Recipient] = []
        if passed:
            latest = passed[-1]
            reminders = [
                r
                for r in request.recipients
                if r.delivery in PROMPTED
                and r.recipient_id not in answered
                and r.prompted_at is not None
                and r.prompted_at < latest
                and (r.reminded_at is None or r.reminded_at < latest)
            ]
        escalation: list[Recipient] = []
        if self.escalate_after is not None and request.created_at + self.escalate_after <= now:
            escalation = [
                r
                for r in request.recipients
                if r.role is RecipientRole.ESCALATION
                and r.delivery not in PROMPTED
                and r.delivery not in KEPT  # goes out when they write (on_window_closed="wait")
                and r.delivery is not Delivery.FAILED
            ]
        return Due(tuple(reminders), tuple(escalation))


@dataclass(frozen=True)
class Due:
    """What to send now: reminders (to reviewers who have the prompt) and the escalation prompt."""

    reminders: tuple[Recipient, ...]
    escalation: tuple[Recipient, ...]


def reminder_text(request: ApprovalRequest) -> str:
    """A short reminder quoting the subject, the deadline and the answers (with buttons, where shown)."""
    return (
        f"Reminder: {quoted_subject(request)} still needs your answer, by {deadline_text(request)}.\n"
        + options_line(request.options, request_code(request.request_id))
    )
