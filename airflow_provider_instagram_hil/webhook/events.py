"""Meta webhook bodies turned into decision taps, trusting no field's presence or type.

The envelope (a JSON object with an ``entry`` list of objects, whose ``messaging``, ``standby`` and
``changes`` are lists) must be right, or :class:`PayloadError` says why. Inside it, every event that is
not a tap on one of our payloads or a message a person typed (echoes, reads, reactions, deletions,
attachments, foreign payloads, events missing a field or carrying odd types) becomes an :class:`Ignored`,
never an error. Typed text becomes a :class:`TextMessage`: the webhook reads it as an answer when its
sender has a pending request, and ignores it otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from airflow_provider_instagram_hil.ids import MAX_PARTY_ID_CHARS, is_request_id, mid_key
from airflow_provider_instagram_hil.option_titles import is_option_title
from airflow_provider_instagram_hil.payloads import decode_payload

#: Meta's ``object`` → the channel a tap came from.
CHANNELS = {"instagram": "instagram", "page": "messenger", "whatsapp_business_account": "whatsapp"}
#: ``changes[].field`` values that carry messaging events.
MESSAGE_FIELDS = ("messages", "messaging_postbacks")

#: A redelivery's timestamp stands in for a missing ``mid`` only when it is this short.
MAX_STAMP_CHARS = 64
#: Typed text longer than this is kept cut (WhatsApp's own limit): no answer is ever that long.
MAX_TYPED_CHARS = 4096


class PayloadError(ValueError):
    """The body is not JSON, or not shaped like a Meta webhook delivery."""


@dataclass(frozen=True)
class Tap:
    """A reviewer tapped one of our quick replies or buttons."""

    channel: str
    sender_id: str
    request_id: str
    option: str
    mid: str | None
    source: str
    """``quick_reply``, ``postback``, ``button_reply``, ``list_reply``, ``button``, or ``typed``."""
    reason: str | None = None
    """Typed after the option (``reject: numbers look wrong``)."""


@dataclass(frozen=True)
class TextMessage:
    """A person typed a message to the account (never logged: it may say anything)."""

    channel: str
    sender_id: str
    text: str
    mid: str | None

    def __repr__(self) -> str:
        return f"TextMessage(channel={self.channel!r}, sender_id={self.sender_id!r}, mid={self.mid!r})"


@dataclass(frozen=True)
class Ignored:
    """An event that decides nothing; ``reason`` is a fixed word, never a field's value."""

    reason: str
    mid: str | None = None
    sender_id: str | None = None
    """Kept for messages a person typed, so an admin can find a reviewer's IGSID in the log."""
    request_id: str | None = None
    """Kept for a tap on one of our payloads that names a request but no possible option."""


Event: TypeAlias = Tap | TextMessage | Ignored


def parse_body(body: bytes) -> list[Event]:
    """Parse a raw webhook body (any content type) into its events.

    :raises PayloadError: invalid JSON or a wrong envelope.
    """
    return parse_payload(decode_body(body))


def decode_body(body: bytes) -> object:
    """The JSON value of a raw webhook body.

    :raises PayloadError: invalid JSON.
    """
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError("body is not valid JSON") from exc


def parse_payload(payload: object) -> list[Event]:
    """Walk every entry of a decoded webhook body; an unknown ``object`` gives one ignored event.

    :raises PayloadError: a wrong envelope.
    """
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    kind = payload.get("object")
    channel = CHANNELS.get(kind) if isinstance(kind, str) else None
    if channel is None:
        return [Ignored("unknown_object")]
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("entry must be a list")
    events: list[Event] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise PayloadError("every entry must be an object")
        for key in ("messaging", "standby"):
            events.extend(_messaging_event(item, channel) for item in _list_field(entry, key))
        for change in _list_field(entry, "changes"):
            events.extend(_change_events(change, channel))
    return events


def _list_field(entry: Mapping[str, Any], key: str) -> list[Any]:
    value = entry.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"entry {key} must be a list")
    return value


def _messaging_event(event: object, channel: str) -> Event:
    """One ``messaging[]`` / ``standby[]`` item, or the ``value`` of an Instagram-style change."""
    if not isinstance(event, dict):
        return Ignored("malformed")
    sender = _id(_get(event.get("sender"), "id"))
    message = event.get("message")
    if isinstance(message, dict):
        mid = mid_key(message.get("mid"))
        if message.get("is_echo"):
            return Ignored("echo", mid)
        if message.get("is_deleted"):
            return Ignored("deleted", mid)
        quick_reply = message.get("quick_reply")
        if isinstance(quick_reply, dict):
            return _tap(channel, sender, quick_reply.get("payload"), mid, "quick_reply")
        if message.get("attachments"):
            return Ignored("attachment", mid, sender)
        return _text(channel, sender, message.get("text"), mid)
    postback = event.get("postback")
    if isinstance(postback, dict):
        mid = mid_key(postback.get("mid")) or _synthetic_mid("postback", sender, event.get("timestamp"))
        return _tap(channel, sender, postback.get("payload"), mid, "postback")
    for kind in ("read", "reaction", "delivery", "referral", "optin"):
        if kind in event:
            return Ignored(kind, mid_key(_get(event.get(kind), "mid")))
    return Ignored("unsupported")


def _change_events(change: object, channel: str) -> list[Event]:
    if not isinstance(change, dict):
        return [Ignored("malformed")]
    value = change.get("value")
    if change.get("field") not in MESSAGE_FIELDS or not isinstance(value, dict):
        return [Ignored("unsupported_change")]
    messages = value.get("messages")
    if isinstance(messages, list):
        return [_whatsapp_message(message, channel) for message in messages]
    if channel == "whatsapp":
        return [Ignored("unsupported_change")]  # statuses and the like
    # Instagram-style change: the dashboard "Test" button, and some postbacks, arrive this way.
    return [_messaging_event(value, channel)]


def _whatsapp_message(message: object, channel: str) -> Event:
    if not isinstance(message, dict):
        return Ignored("malformed")
    mid = mid_key(message.get("id"))
    sender = _id(message.get("from"))
    interactive = message.get("interactive")
    if isinstance(interactive, dict):
        for source in ("button_reply", "list_reply"):
            reply = interactive.get(source)
            if isinstance(reply, dict):
                return _tap(channel, sender, reply.get("id"), mid, source)
    button = message.get("button")
    if isinstance(button, dict):
        return _tap(channel, sender, button.get("payload"), mid, "button")
    if message.get("type") == "text":
        return _text(channel, sender, _get(message.get("text"), "body"), mid)
    return Ignored("unsupported", mid, sender)


def _text(channel: str, sender: str | None, text: object, mid: str | None) -> Event:
    if sender is None or not isinstance(text, str) or not text.strip():
        return Ignored("text", mid, sender)
    return TextMessage(channel, sender, text[:MAX_TYPED_CHARS], mid)


def _tap(channel: str, sender: str | None, payload: object, mid: str | None, source: str) -> Event:
    decoded = decode_payload(payload)
    if decoded is None:
        return Ignored("foreign_payload", mid)
    if sender is None:
        return Ignored("no_sender", mid)
    if not is_request_id(decoded.request_id):
        return Ignored("malformed", mid)
    # The operator's own rule: every title it accepted is accepted here, whatever Unicode it holds.
    if not is_option_title(decoded.option):
        return Ignored("invalid_option", mid, sender, decoded.request_id)
    return Tap(channel, sender, decoded.request_id, decoded.option, mid, source)


def _get(container: object, key: str) -> object:
    return container.get(key) if isinstance(container, dict) else None


def _id(value: object) -> str | None:
    """A sender id: text or a JSON integer (never a bool), short and printable."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and _printable(value, MAX_PARTY_ID_CHARS) else None


def _synthetic_mid(kind: str, sender: str | None, timestamp: object) -> str | None:
    """Dedupe key for an event without ``mid``: a redelivery repeats sender and timestamp."""
    if sender is None or isinstance(timestamp, bool) or not isinstance(timestamp, (int, str)):
        return None
    stamp = str(timestamp)
    return mid_key(f"{kind}:{sender}:{stamp}") if _printable(stamp, MAX_STAMP_CHARS) else None


def _printable(value: str, limit: int) -> bool:
    return 0 < len(value) <= limit and value.isprintable()
