"""Messenger (a Facebook Page): a button template for up to 3 options, quick replies for up to 13.

- Up to 3 options: a button template, ``{"template_type": "button", "text": ..., "buttons": [...]}``
  with postback buttons; its text holds at most 640 characters, a button title 20. Template buttons stay
  tappable later, so the prompt carries no "Reply: ..." line.
- 4 to 13 options: quick replies under a text of at most 2,000 characters, with the "Reply: ..." line
  (quick replies vanish once the person sends anything else). Meta shortens long quick-reply titles.
- Payloads: at most 1,000 characters. "Characters" are counted as UTF-16 code units (the stricter reading).
- Recipients: Page-scoped ids (PSIDs, digits), learned from the person's first message to the Page.
- "Was it sent": the Conversations API (``platform=messenger``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_instagram_hil.channels.base import Channel, PromptStyle, message_id_of
from airflow_provider_instagram_hil.meta_limits import quick_replies_for
from airflow_provider_instagram_hil.option_titles import option_title_problem
from airflow_provider_instagram_hil.payloads import MAX_PAYLOAD_CHARS
from airflow_provider_instagram_hil.prompt import CHARACTERS, PromptLayout, TextLimit

MAX_TEXT_CHARS = 2000
MAX_TEMPLATE_TEXT_CHARS = 640
MAX_BUTTONS = 3
MAX_QUICK_REPLIES = 13
MAX_TITLE_CHARS = 20

TEXT_LIMIT = TextLimit(MAX_TEXT_CHARS, CHARACTERS)
TEMPLATE_TEXT_LIMIT = TextLimit(MAX_TEMPLATE_TEXT_CHARS, CHARACTERS)
TITLE_LIMIT = TextLimit(MAX_TITLE_CHARS, CHARACTERS)

BUTTON_TEMPLATE = PromptStyle(
    "button_template",
    "a button-template button",
    MAX_BUTTONS,
    PromptLayout(TEMPLATE_TEXT_LIMIT, "a Messenger button template's text", options_line=False),
    title_limit=TITLE_LIMIT,
)
QUICK_REPLIES = PromptStyle(
    "quick_replies", "a quick reply", MAX_QUICK_REPLIES, PromptLayout(TEXT_LIMIT, "a Messenger message")
)

_PSID_RE = re.compile(r"^\d{1,64}$")


class MessengerChannel(Channel):
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

    def send_prompt(
        self, hook: Any, recipient_id: str, text: str, request_id: str, options: Sequence[str]
    ) -> str | None:
        """A button template (up to 3 options) or a message with quick replies."""
        if self.style_for(len(options)) is BUTTON_TEMPLATE:
            buttons = [
                {"type": "postback", "title": o, "payload": self.payload(request_id, o)} for o in options
            ]
            return message_id_of(hook.send_buttons(recipient_id, text, buttons))
        return message_id_of(hook.send_message(recipient_id, text, quick_replies_for(request_id, options)))

    def send_reply(self, hook: Any, recipient_id: str, text: str) -> str | None:
        """A plain message."""
        return message_id_of(hook.send_message(recipient_id, text))

    def count_sent(self, hook: Any, recipient_id: str, text: str, since: datetime) -> int | None:
        """Messages with ``text`` in the conversation since ``since`` (Conversations API)."""
        return int(hook.count_sent_since(recipient_id, text, since, platform="messenger"))


def validate_message(
    text: str,
    quick_replies: Sequence[Mapping[str, Any]] | None = None,
    buttons: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Check a Messenger message (plain, with quick replies, or a button template) before any network call.

    :raises ValueError: starting with "Messenger:" and naming the limit that was broken.
    """
    limit = TEMPLATE_TEXT_LIMIT if buttons is not None else TEXT_LIMIT
    problem = None
    if not isinstance(text, str) or not text:
        problem = "text must be a non-empty string"
    elif not limit.fits(text):
        where = "a button template's text" if buttons is not None else "a message"
        problem = f"text is {limit.measure(text)} characters; {where} holds at most {limit.size}"
    elif buttons is not None and not 1 <= len(buttons) <= MAX_BUTTONS:
        problem = f"a button template holds 1 to {MAX_BUTTONS} buttons, got {len(buttons)}"
    elif quick_replies and len(quick_replies) > MAX_QUICK_REPLIES:
        problem = f"at most {MAX_QUICK_REPLIES} quick replies are allowed, got {len(quick_replies)}"
    else:
        for item in [*(quick_replies or ()), *(buttons or ())]:
            problem = _choice_problem(item, is_button=buttons is not None)
            if problem:
                break
    if problem:
        raise ValueError(f"Messenger: {problem}")


def _choice_problem(item: Mapping[str, Any], *, is_button: bool) -> str | None:
    title, payload = item.get("title", ""), item.get("payload", "")
    problem = option_title_problem(title)
    if problem is not None:
        return f"title {title!r} {problem}"
    if is_button and not TITLE_LIMIT.fits(title):
        return f"button title {title!r} is {TITLE_LIMIT.measure(title)} characters; at most {MAX_TITLE_CHARS}"
    if not isinstance(payload, str) or not payload:
        return "every button and quick reply needs a payload"
    if len(payload) > MAX_PAYLOAD_CHARS:
        return f"a payload is {len(payload)} characters; at most {MAX_PAYLOAD_CHARS} are allowed"
    return None


MESSENGER = MessengerChannel()
