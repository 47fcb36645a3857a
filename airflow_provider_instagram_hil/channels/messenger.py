"""Messenger (a Facebook Page): a button template for up to 3 options, quick replies for up to 13.

- Up to 3 options: a button template (``channels/send_api.py``) with postback buttons; its text holds at
  most 640 characters, a button title 20. Template buttons stay tappable later, so the prompt carries no
  "Reply: ..." line.
- 4 to 13 options: quick replies under a text of at most 2,000 characters, with the "Reply: ..." line
  (quick replies vanish once the person sends anything else). Meta shortens long quick-reply titles.
- Payloads: at most 1,000 characters. "Characters" are counted as UTF-16 code units (the stricter reading).
- Recipients: Page-scoped ids (PSIDs, digits), learned from the person's first message to the Page.
- "Was it sent": the Conversations API (``platform=messenger``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_instagram_hil.channels.base import PromptStyle
from airflow_provider_instagram_hil.channels.send_api import (
    TEMPLATE_TEXT_LIMIT,
    SendApiChannel,
    button_template_problem,
    button_template_style,
    choice_problem,
)
from airflow_provider_instagram_hil.prompt import CHARACTERS, PromptLayout, TextLimit

MAX_TEXT_CHARS = 2000
MAX_QUICK_REPLIES = 13

TEXT_LIMIT = TextLimit(MAX_TEXT_CHARS, CHARACTERS)

BUTTON_TEMPLATE = button_template_style(
    PromptLayout(TEMPLATE_TEXT_LIMIT, "a Messenger button template's text", options_line=False)
)
QUICK_REPLIES = PromptStyle(
    "quick_replies", "a quick reply", MAX_QUICK_REPLIES, PromptLayout(TEXT_LIMIT, "a Messenger message")
)

_PSID_RE = re.compile(r"^\d{1,64}$")


class MessengerChannel(SendApiChannel):
    """Messenger conversations of a Facebook Page through the Graph Send API."""

    name = "messenger"
    title = "Messenger"
    recipient_kind = "a Page-scoped ID (PSID)"
    styles = (BUTTON_TEMPLATE, QUICK_REPLIES)
    hook_path = "airflow_provider_instagram_hil.hooks.messenger:MessengerHook"
    hook_conn_arg = "messenger_conn_id"
    inbox_url = "https://www.messenger.com/"

    def validate_recipient(self, recipient_id: str) -> str:
        """A PSID: digits only."""
        value = recipient_id.strip() if isinstance(recipient_id, str) else ""
        if not _PSID_RE.match(value):
            raise ValueError(
                f"Messenger: recipient_id {recipient_id!r} is not a Page-scoped ID (PSID, digits): use the "
                "sender id the webhook logs when the reviewer messages the Page"
            )
        return value


def validate_message(
    text: str,
    quick_replies: Sequence[Mapping[str, Any]] | None = None,
    buttons: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Check a Messenger message (plain, with quick replies, or a button template) before any network call.

    :raises ValueError: starting with "Messenger:" and naming the limit that was broken.
    """
    if buttons is not None:
        problem = button_template_problem(text, buttons, (TEMPLATE_TEXT_LIMIT,))
    elif not isinstance(text, str) or not text:
        problem = "text must be a non-empty string"
    elif not TEXT_LIMIT.fits(text):
        problem = f"text is {TEXT_LIMIT.measure(text)} characters; a message holds at most {MAX_TEXT_CHARS}"
    elif quick_replies and len(quick_replies) > MAX_QUICK_REPLIES:
        problem = f"at most {MAX_QUICK_REPLIES} quick replies are allowed, got {len(quick_replies)}"
    else:
        problem = next(filter(None, (choice_problem(r, is_button=False) for r in quick_replies or ())), None)
    if problem:
        raise ValueError(f"Messenger: {problem}")


MESSENGER = MessengerChannel()
