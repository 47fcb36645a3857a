"""Instagram: quick replies under a plain-text DM of at most 1000 UTF-8 bytes, sent with ``InstagramHook``.

- Options: 1 to 13, shown as quick replies (titles: the option-title rule, 20 code points; Meta shortens
  the shown title, never the payload).
- Text: 1000 UTF-8 bytes; the options are repeated on a last line, because Instagram's desktop and web
  apps show no quick replies.
- Persistent buttons (:data:`INSTAGRAM_BUTTONS`, the operator's ``persistent_buttons=True``): 1 to 3
  options as a button template (``channels/send_api.py``), whose postback buttons stay tappable after the
  reviewer writes something else. Its text fits both Messenger's 640 characters for a template and
  Instagram's 1000 UTF-8 bytes, and keeps the "Reply: ..." line (desktop and web show no templates
  either); a button title holds 20 characters (UTF-16 code units). 4 to 13 options: quick replies, as above.
- Recipients: Instagram-scoped ids (IGSIDs), learned from the person's first message to the account.
- "Was it sent": the Conversations API (``platform=instagram``).
"""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_instagram_hil.channels.base import PromptStyle
from airflow_provider_instagram_hil.channels.send_api import (
    TEMPLATE_TEXT_LIMIT,
    SendApiChannel,
    button_template_style,
)
from airflow_provider_instagram_hil.meta_limits import MAX_QUICK_REPLIES
from airflow_provider_instagram_hil.prompt import INSTAGRAM_LAYOUT, PromptLayout

QUICK_REPLIES = PromptStyle("quick_replies", "a quick reply", MAX_QUICK_REPLIES, INSTAGRAM_LAYOUT)
#: What an Instagram button template's text must fit: 1000 UTF-8 bytes and 640 characters.
BUTTON_TEMPLATE_LAYOUT = PromptLayout(
    INSTAGRAM_LAYOUT.limit, "an Instagram button template's text", also=(TEMPLATE_TEXT_LIMIT,)
)
BUTTON_TEMPLATE = button_template_style(BUTTON_TEMPLATE_LAYOUT)


class InstagramChannel(SendApiChannel):
    """Instagram direct messages through the Graph Send API."""

    name = "instagram"
    title = "Instagram"
    recipient_kind = "an Instagram-scoped ID (IGSID)"
    styles: ClassVar[tuple[PromptStyle, ...]] = (QUICK_REPLIES,)
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


class InstagramButtonsChannel(InstagramChannel):
    """Instagram with persistent buttons: a button template for up to 3 options, quick replies for more.

    The same channel to the store and the webhook (``name`` ``instagram``): only the prompt differs.
    """

    styles = (BUTTON_TEMPLATE, QUICK_REPLIES)
    persistent_buttons = True


INSTAGRAM = InstagramChannel()
INSTAGRAM_BUTTONS = InstagramButtonsChannel()
