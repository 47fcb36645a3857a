"""WhatsApp status webhooks (sent, delivered, read, failed) turned into delivery updates of our prompts.

A WhatsApp delivery (``object: whatsapp_business_account``) carries, next to ``messages[]``, a
``statuses[]`` list under ``entry[].changes[].value``: ``{"id": wamid, "status": ..., "recipient_id":
wa_id, "timestamp": ..., "errors": [...]}``. Each becomes a :class:`StatusUpdate`; the webhook records it on
the recipient row whose prompt has that message id (``DecisionStore.set_delivery``), so a failed delivery
is in the audit trail and the WhatsApp operator sees a closed window. Statuses of our replies match no
prompt and change nothing. Like taps, every field is distrusted: anything odd is skipped, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from airflow_provider_instagram_hil.channels.whatsapp import status_error
from airflow_provider_instagram_hil.store import Delivery

WHATSAPP_OBJECT = "whatsapp_business_account"
MAX_MESSAGE_ID_CHARS = 255

#: Statuses worth recording, and which wins when one delivery has several for the same message. "sent" is
#: what the operator records itself once the Cloud API accepted the prompt, so it changes nothing.
RECORDED = {"delivered": Delivery.DELIVERED, "read": Delivery.READ, "failed": Delivery.FAILED}
_RANK = {Delivery.DELIVERED: 1, Delivery.READ: 2, Delivery.FAILED: 3}


@dataclass(frozen=True)
class StatusUpdate:
    """What WhatsApp says about one message we sent.

    :param message_id: the ``wamid`` the Cloud API gave the message.
    :param recipient_id: whom it went to (a WhatsApp id), for the log.
    :param delivery: the new delivery state.
    :param error: for a failure, its first error as ``"<code> <title>: <details>"``.
    """

    message_id: str
    recipient_id: str | None
    delivery: Delivery
    error: str | None = None


def status_updates(payload: object) -> list[StatusUpdate]:
    """Every recordable status in a decoded WhatsApp webhook body, one per message (the most telling)."""
    if not isinstance(payload, Mapping) or payload.get("object") != WHATSAPP_OBJECT:
        return []
    found: dict[str, StatusUpdate] = {}
    for value in _values(payload.get("entry")):
        statuses = value.get("statuses")
        for status in statuses if isinstance(statuses, list) else ():
            update = _update(status)
            if update is None:
                continue
            seen = found.get(update.message_id)
            if seen is None or _RANK[update.delivery] > _RANK[seen.delivery]:
                found[update.message_id] = update
    return list(found.values())


def _values(entries: object) -> list[Mapping[str, object]]:
    values = []
    for entry in entries if isinstance(entries, list) else ():
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        for change in changes if isinstance(changes, list) else ():
            if isinstance(change, Mapping) and change.get("field") == "messages":
                value = change.get("value")
                if isinstance(value, Mapping):
                    values.append(value)
    return values


def _update(status: object) -> StatusUpdate | None:
    if not isinstance(status, Mapping):
        return None
    message_id, kind = status.get("id"), status.get("status")
    delivery = RECORDED.get(kind) if isinstance(kind, str) else None
    if delivery is None or not _printable(message_id, MAX_MESSAGE_ID_CHARS):
        return None
    assert isinstance(message_id, str)
    recipient = status.get("recipient_id")
    recipient_id = recipient if _printable(recipient, 64) else None
    assert recipient_id is None or isinstance(recipient_id, str)
    error = status_error(status.get("errors")) if delivery is Delivery.FAILED else None
    return StatusUpdate(message_id, recipient_id, delivery, error)


def _printable(value: object, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()
