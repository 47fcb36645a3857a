"""Instagram: quick replies under a plain-text DM of at most 1000 UTF-8 bytes, sent with ``InstagramHook``.

- Options: 1 to 13, shown as quick replies (titles: the option-title rule, 20 code points; Meta shortens
  the shown title, never the payload).
- Text: 1000 UTF-8 bytes; the options are repeated on a last line, because Instagram's desktop and web
  apps show no quick replies.
- Recipients: Instagram-scoped ids (IGSIDs), learned from the person's first message to the account.
- "Was it sent": the Conversations API (``platform=instagram``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow_provider_instagram_hil.channels.base import Channel, PromptStyle, message_id_of
from airflow_provider_instagram_hil.meta_limits import MAX_QUICK_REPLIES, quick_replies_for
from airflow_provider_instagram_hil.prompt import INSTAGRAM_LAYOUT


class InstagramChannel(Channel):
    """Instagram direct messages through the Graph Send API."""

    name = "instagram"
    title = "Instagram"
    recipient_kind = "an Instagram-scoped ID (IGSID)"
    styles = (PromptStyle("quick_replies", "a quick reply", MAX_QUICK_REPLIES, INSTAGRAM_LAYOUT),)
    hook_path = "airflow_provider_instagram_hil.hooks.instagram:InstagramHook"
    hook_conn_arg = "instagram_conn_id"
    inbox_url = "https://www.instagram.com/direct/inbox/"

    def validate_recipient(self, recipient_id: str) -> str:
        """An IGSID: any non-empty id except a ``@username``."""
        recipient_id = recipient_id.strip() if isinstance(recipient_id, str) else ""
        if not recipient_id:
            raise ValueError("Instagram: recipient_id must be a non-empty Instagram-scoped ID (IGSID)")
        if recipient_id.startswith("@"):
            raise ValueError(
                f"Instagram: recipient_id {recipient_id!r} is a @username; it must be the reviewer's "
                "Instagram-scoped ID (IGSID, digits), which the webhook logs when they message the account"
            )
        return recipient_id

    def send_prompt(
        self, hook: Any, recipient_id: str, text: str, request_id: str, options: Sequence[str]
    ) -> str | None:
        """One DM with a quick reply per option."""
        return message_id_of(hook.send_message(recipient_id, text, quick_replies_for(request_id, options)))

    def send_reply(self, hook: Any, recipient_id: str, text: str) -> str | None:
        """A plain DM."""
        return message_id_of(hook.send_message(recipient_id, text))

    def count_sent(self, hook: Any, recipient_id: str, text: str, since: datetime) -> int | None:
        """Messages with ``text`` in the conversation since ``since`` (Conversations API)."""
        return int(hook.count_sent_since(recipient_id, text, since, platform="instagram"))


INSTAGRAM = InstagramChannel()
