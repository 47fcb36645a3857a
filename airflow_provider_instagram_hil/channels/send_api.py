"""What Instagram and Messenger share: the Send API's quick replies and its button template.

- Quick replies: up to 13 under a text; they vanish once the person sends anything else.
- The button template: ``{"template_type": "button", "text": ..., "buttons": [...]}`` with 1 to 3
  postback buttons (title at most 20 characters, payload at most 1,000) under a text of at most 640
  characters. Its buttons stay tappable later; a tap arrives as a ``postback`` webhook event carrying the
  button's payload, the same payload a quick reply carries (see ``payloads``).

"Characters" are counted as UTF-16 code units, the stricter reading of Meta's documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from airflow_provider_instagram_hil.channels.base import Channel, PromptStyle, message_id_of
from airflow_provider_instagram_hil.meta_limits import quick_replies_for
from airflow_provider_instagram_hil.option_titles import option_title_problem
from airflow_provider_instagram_hil.payloads import MAX_PAYLOAD_CHARS, encode_payload
from airflow_provider_instagram_hil.prompt import CHARACTERS, PromptLayout, TextLimit

BUTTON_TEMPLATE_KIND = "button_template"
MAX_BUTTONS = 3
MAX_TEMPLATE_TEXT_CHARS = 640
MAX_BUTTON_TITLE_CHARS = 20

TEMPLATE_TEXT_LIMIT = TextLimit(MAX_TEMPLATE_TEXT_CHARS, CHARACTERS)
BUTTON_TITLE_LIMIT = TextLimit(MAX_BUTTON_TITLE_CHARS, CHARACTERS)


class PostbackButton(TypedDict):
    """One button of a button template as the Send API takes it."""

    type: str
    title: str
    payload: str


def button_template_style(layout: PromptLayout) -> PromptStyle:
    """The button template as a prompt style: up to 3 options, titles of at most 20 characters."""
    return PromptStyle(
        BUTTON_TEMPLATE_KIND, "a button-template button", MAX_BUTTONS, layout, title_limit=BUTTON_TITLE_LIMIT
    )


def postback_buttons(request_id: str, options: Sequence[str]) -> list[PostbackButton]:
    """One postback button per option, in order, with the same payload a quick reply would carry."""
    return [
        {"type": "postback", "title": option, "payload": encode_payload(request_id, option)}
        for option in options
    ]


def button_template_problem(
    text: object, buttons: Sequence[Mapping[str, Any]], limits: Sequence[TextLimit]
) -> str | None:
    """What is wrong with a button template whose text must fit every one of ``limits``, or None."""
    if not isinstance(text, str) or not text:
        return "text must be a non-empty string"
    for limit in limits:
        if not limit.fits(text):
            return (
                f"text is {limit.measure(text)} {limit.unit_name}; a button template's text holds at most "
                f"{limit.size}"
            )
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        return f"a button template holds 1 to {MAX_BUTTONS} buttons, got {len(buttons)}"
    for button in buttons:
        problem = choice_problem(button, is_button=True)
        if problem:
            return problem
    return None


def choice_problem(item: Mapping[str, Any], *, is_button: bool) -> str | None:
    """What is wrong with one quick reply or button (its title and payload), or None."""
    title, payload = item.get("title", ""), item.get("payload", "")
    problem = option_title_problem(title)
    if problem is not None:
        return f"title {title!r} {problem}"
    if is_button and not BUTTON_TITLE_LIMIT.fits(title):
        return (
            f"button title {title!r} is {BUTTON_TITLE_LIMIT.measure(title)} characters; at most "
            f"{MAX_BUTTON_TITLE_CHARS}"
        )
    if not isinstance(payload, str) or not payload:
        return "every button and quick reply needs a payload"
    if len(payload) > MAX_PAYLOAD_CHARS:
        return f"a payload is {len(payload)} characters; at most {MAX_PAYLOAD_CHARS} are allowed"
    return None


class SendApiChannel(Channel):
    """A channel that sends through the Send API (Instagram, Messenger): its prompt is a button template
    where its style for that many options is one, else a message with quick replies."""

    def send_prompt(
        self, hook: Any, recipient_id: str, text: str, request_id: str, options: Sequence[str]
    ) -> str | None:
        """A button template (when this channel shows that many options as one) or quick replies."""
        if self.style_for(len(options)).kind == BUTTON_TEMPLATE_KIND:
            return message_id_of(hook.send_buttons(recipient_id, text, postback_buttons(request_id, options)))
        return message_id_of(hook.send_message(recipient_id, text, quick_replies_for(request_id, options)))

    def send_reply(self, hook: Any, recipient_id: str, text: str) -> str | None:
        """A plain message."""
        return message_id_of(hook.send_message(recipient_id, text))

    def count_sent(self, hook: Any, recipient_id: str, text: str, since: datetime) -> int | None:
        """Messages with ``text`` in the conversation since ``since`` (Conversations API)."""
        return int(hook.count_sent_since(recipient_id, text, since, platform=self.name))
