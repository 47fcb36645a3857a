"""``SendApiHook``: the Send API that Instagram and Messenger share, and its Conversations API.

Instagram (with Facebook Login) and Messenger send through the same endpoint,
``POST /{version}/{account}/messages`` with ``{"recipient": {"id": ...}, "messaging_type": ...,
"message": {...}}``, and list what a Page sent through the same Conversations API. WhatsApp's Cloud API
is another shape (``hooks/whatsapp.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_instagram_hil.hooks.graph import GraphApiHook

MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE"})
_GRAPH_ID_RE = re.compile(r"^[A-Za-z0-9_.:=-]{1,200}$")


def _sent_since(created_time: object, since: datetime) -> bool:
    """Whether a Graph ``created_time`` (``2026-12-02T06:30:00+0000``) is at or after ``since``.

    An unreadable time does not count: the caller then sends again rather than risk losing a message.
    """
    if not isinstance(created_time, str):
        return False
    try:
        return datetime.strptime(created_time, "%Y-%m-%dT%H:%M:%S%z") >= since
    except ValueError:
        return False


class SendApiHook(GraphApiHook):
    """A Graph hook that sends through the Send API (Instagram, Messenger)."""

    #: The Conversations API's ``platform`` of this hook's channel.
    platform = "instagram"

    def _send(
        self, recipient_id: str, message: Mapping[str, Any], *, messaging_type: str = "RESPONSE"
    ) -> dict[str, Any]:
        """Send one message object; return Meta's answer (``recipient_id``, ``message_id``).

        :raises ValueError: an unknown ``messaging_type`` (no request is made).
        """
        if messaging_type not in MESSAGING_TYPES:
            raise ValueError(
                f"messaging_type must be one of {sorted(MESSAGING_TYPES)}, got {messaging_type!r}"
            )
        body = {"recipient": {"id": recipient_id}, "messaging_type": messaging_type, "message": dict(message)}
        return self._call("POST", f"{self.account_id}/messages", json_body=body)

    def send_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: Sequence[Mapping[str, Any]],
        *,
        messaging_type: str = "RESPONSE",
    ) -> dict[str, Any]:
        """Send a button template: a text over 1 to 3 postback buttons, which stay tappable later (a tap
        arrives at the webhook as a ``postback`` event with the button's payload); return Meta's answer.

        :param buttons: ``{"type": "postback", "title": ..., "payload": ...}`` each (title at most 20
            characters, payload at most 1,000).
        :param messaging_type: ``RESPONSE`` (inside the 24-hour window) or ``UPDATE``.
        :raises ValueError: when the template breaks the channel's limits (no request is made).
        :raises InstagramApiError: or one of its subclasses when Meta refuses it.
        """
        self._check_buttons(text, buttons)
        payload = {"template_type": "button", "text": text, "buttons": [dict(button) for button in buttons]}
        return self._sent(
            recipient_id, {"attachment": {"type": "template", "payload": payload}}, messaging_type
        )

    def _check_buttons(self, text: str, buttons: Sequence[Mapping[str, Any]]) -> None:
        """Raise ``ValueError`` when a button template breaks this channel's limits."""
        raise NotImplementedError

    @staticmethod
    def _text_message(text: str, quick_replies: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
        """The message object of a text with optional quick replies."""
        message: dict[str, Any] = {"text": text}
        if quick_replies:
            message["quick_replies"] = [dict(reply) for reply in quick_replies]
        return message

    def _sent(self, recipient_id: str, message: dict[str, Any], messaging_type: str) -> dict[str, Any]:
        """Check ``recipient_id`` in this channel's words, send ``message`` and log its id."""
        raise NotImplementedError

    def count_sent_since(
        self, recipient_id: str, text: str, since: datetime, *, platform: str | None = None
    ) -> int:
        """How many messages with exactly ``text`` this account sent to ``recipient_id`` since ``since``.

        Reads Meta's Conversations API (``GET /{account}/conversations?user_id=...``, then the newest
        messages of that conversation), so a sender that lost Meta's answer can tell whether a message
        went out before sending it again. Needs the permission to read conversations.

        :param platform: ``instagram`` or ``messenger``; default: this hook's channel.
        :raises InstagramApiError: or a subclass, when Meta refuses or cannot be reached.
        """
        found = self._call(
            "GET",
            f"{self.account_id}/conversations",
            params={"platform": platform or self.platform, "user_id": recipient_id},
            max_attempts=2,
        )
        conversation = next(iter(found.get("data") or []), None)
        conversation_id = str(conversation.get("id") or "") if isinstance(conversation, dict) else ""
        if not _GRAPH_ID_RE.match(conversation_id):
            return 0
        read = self._call(
            "GET", conversation_id, params={"fields": "messages{message,created_time,from}"}, max_attempts=2
        )
        messages = (read.get("messages") or {}).get("data") or []
        return sum(
            1
            for m in messages
            if isinstance(m, dict)
            and m.get("message") == text
            and (m.get("from") or {}).get("id") != recipient_id
            and _sent_since(m.get("created_time"), since)
        )
