"""Value types the decision store takes and hands out."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from airflow_provider_instagram_hil.store.policy import DecisionPolicy


class RequestStatus(str, enum.Enum):
    """Where a request is in its life."""

    PENDING = "pending"
    DECIDED = "decided"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    """Stopped in Airflow (cleared, marked success or failed) or never prompted."""
    SUPERSEDED = "superseded"
    """A newer try of the same task instance asked again."""


class Outcome(str, enum.Enum):
    """What became of one response (or of closing a request at its deadline)."""

    RECORDED = "recorded"
    """This call recorded the response (or, for ``expire_request``, closed the request)."""
    DUPLICATE = "duplicate"
    """The same event (same ``mid``) had already been recorded: nothing changed."""
    ALREADY_RESPONDED = "already_responded"
    """This responder had already answered the request; the first answer stands."""
    ALREADY_DECIDED = "already_decided"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    NOT_ALLOWED = "not_allowed"
    """The sender is not one of the request's recipients."""
    WRONG_CHANNEL = "wrong_channel"
    """The sender is a recipient, but on another channel than the one the response came from."""
    UNKNOWN_REQUEST = "unknown_request"
    INVALID_OPTION = "invalid_option"
    REASON_REQUIRED = "reason_required"
    """A rejection without a reason, on a request that requires one: nothing recorded."""


class RecipientRole(str, enum.Enum):
    """Why a person was asked."""

    REVIEWER = "reviewer"
    ESCALATION = "escalation"


class Delivery(str, enum.Enum):
    """What is known about the prompt's delivery to one recipient."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    WAITING = "waiting"
    """Meta refused it (the 24-hour window is closed): it is sent when the person next writes."""
    CONTACTED = "contacted"
    """A waiting prompt's recipient wrote to the account: the webhook is sending the prompt now."""


#: Deliveries that mean the recipient has the prompt (WhatsApp reports delivered and read later).
PROMPTED = frozenset({Delivery.SENT, Delivery.DELIVERED, Delivery.READ})
#: Deliveries of a prompt kept for when its recipient writes (``on_window_closed="wait"``).
KEPT = frozenset({Delivery.WAITING, Delivery.CONTACTED})


@dataclass(frozen=True)
class RecipientSpec:
    """A person to ask, as a request is registered.

    :param recipient_id: the id the channel knows them by (an IGSID on Instagram).
    :param channel: ``instagram``, ``messenger`` or ``whatsapp``.
    :param name: how messages name them (e.g. ``"alice"``); for Airflow's HITL, their Airflow user.
    :param role: a reviewer, or a backup reached by escalation.
    """

    recipient_id: str
    channel: str = "instagram"
    name: str | None = None
    role: RecipientRole = RecipientRole.REVIEWER


@dataclass(frozen=True)
class Recipient:
    """One person asked in one request, on one channel."""

    channel: str
    recipient_id: str
    name: str | None
    role: RecipientRole
    prompt_message_id: str | None
    prompted_at: datetime | None
    reminded_at: datetime | None
    delivery: Delivery
    delivery_error: str | None

    @property
    def label(self) -> str:
        """How messages and logs name this person: the name, else the id."""
        return self.name or self.recipient_id


@dataclass(frozen=True)
class Response:
    """One person's answer to a request."""

    responder_id: str
    channel: str
    option: str
    reason: str | None
    mid: str | None
    received_at: datetime
    source: str


@dataclass(frozen=True)
class RequestState:
    """What a waiting trigger needs of a request: its status, outcome and answers."""

    request_id: str
    status: RequestStatus
    chosen_option: str | None
    responded_by: str | None
    responded_at: datetime | None
    timed_out: bool
    expires_at: datetime
    closed_reason: str | None = None
    responses: tuple[Response, ...] = ()
    newer_try: bool = False
    """A later try of the same task instance has a request of its own: this one's task moved on."""


@dataclass(frozen=True)
class ApprovalRequest:
    """A whole request: its row, its recipients and its responses."""

    request_id: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    source: str
    subject: str | None
    options: tuple[str, ...]
    reject_options: tuple[str, ...]
    default_option: str | None
    policy: DecisionPolicy
    created_at: datetime
    expires_at: datetime
    status: RequestStatus
    chosen_option: str | None
    responded_by: str | None
    responded_at: datetime | None
    timed_out: bool
    closed_reason: str | None
    recipients: tuple[Recipient, ...] = ()
    responses: tuple[Response, ...] = ()
    require_reason: bool = False
    """A rejection needs a reason, typed after the option."""
    timezone: str | None = None
    """The IANA time zone deadlines are shown in; None: UTC."""

    @property
    def state(self) -> RequestState:
        return RequestState(
            request_id=self.request_id,
            status=self.status,
            chosen_option=self.chosen_option,
            responded_by=self.responded_by,
            responded_at=self.responded_at,
            timed_out=self.timed_out,
            expires_at=self.expires_at,
            closed_reason=self.closed_reason,
            responses=self.responses,
        )

    def recipient(self, recipient_id: str, channel: str | None = None) -> Recipient | None:
        """The recipient row of ``recipient_id`` (on ``channel`` when given), or None."""
        for recipient in self.recipients:
            if recipient.recipient_id == recipient_id and channel in (None, recipient.channel):
                return recipient
        return None

    def label_of(self, responder_id: str | None) -> str | None:
        """How messages name ``responder_id``: its recipient name, else the id itself."""
        if responder_id is None:
            return None
        recipient = self.recipient(responder_id)
        return recipient.label if recipient is not None else responder_id


@dataclass(frozen=True)
class DecisionResult:
    """The outcome of ``record_decision`` or ``expire_request``, with the request as it now stands.

    :param outcome: what became of this call.
    :param request: the request after the call (None for an unknown request).
    :param closed: whether this call closed the request.
    :param response: the responder's response: the one recorded now, or their earlier one.
    :param approvals_missing: while the request stays open, approvals its policy still needs.
    """

    outcome: Outcome
    request: ApprovalRequest | None
    closed: bool = False
    response: Response | None = None
    approvals_missing: int = 0


@dataclass(frozen=True)
class AnsweredElsewhere:
    """The request was answered outside this store first (in Airflow's own human-in-the-loop UI).

    :param responder_id: who answered there (an Airflow user id).
    :param option: what they chose.
    :param source: where (``airflow``).
    """

    responder_id: str
    option: str
    source: str = "airflow"


#: Asked inside a response's transaction, before it is recorded: None lets it through; an
#: :class:`AnsweredElsewhere` records that answer instead; raising aborts (nothing is written).
ElsewhereCheck = Callable[["ApprovalRequest", "Recipient", str], "AnsweredElsewhere | None"]


@dataclass(frozen=True)
class OutboxMessage:
    """A message to send later, written in the same transaction as what it reports."""

    channel: str
    recipient_id: str
    text: str
    kind: str = "reply"
    request_id: str | None = None
    not_before: datetime | None = None
    event_key: str | None = None
    """The inbound event it answers, when nothing else is recorded for it: queued once per key."""
    held: bool = False
    """Kept until the recipient next writes to the account (a prompt Meta refused: the window was
    closed); see ``DecisionStore.release_prompts``."""


@dataclass(frozen=True)
class OutboxItem:
    """A claimed outbox row, ready to send."""

    id: int
    channel: str
    recipient_id: str
    kind: str
    text: str
    request_id: str | None
    attempts: int
    created_at: datetime
    in_doubt: bool = field(default=False)
    """A previous attempt was claimed but never finished: it may have reached Meta already."""
