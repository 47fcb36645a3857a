"""WhatsApp (Cloud API): reply buttons for up to 3 options, a list for up to 10, a template out of window.

- Up to 3 options: interactive reply buttons (title at most 20 characters, id 256) under a body of at
  most 1,024 characters.
- 4 to 10 options: an interactive list, one row per option (row title at most 24 characters, id 200)
  under a body of at most 1,024 characters; the list opens from a button labelled :data:`LIST_BUTTON`.
  11 or more options are refused when the DAG is parsed.
- Outside the 24-hour customer-service window only a pre-approved template reaches the person: its body
  variable ``{{1}}`` gets the prompt on one line (at most :data:`TEMPLATE_PARAMETER_CHARS` characters,
  no line breaks), and its quick-reply buttons, in order, get the options' payloads.
- Recipients: WhatsApp ids, i.e. phone numbers in international format, kept as digits (``+49 151
  2345678`` becomes ``491512345678``, which is how WhatsApp's webhook names the sender).
- "Was it sent": WhatsApp has no Conversations API, so :meth:`WhatsAppChannel.count_sent` is None and
  a reply left in doubt by a killed sender is sent again.
- Delivery: sent, delivered, read or failed arrive later as status webhooks (``statuses[]``); a
  failure's first error is recorded as ``"<code> <title>: <details>"`` (:func:`status_error`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_instagram_hil.channels.base import Channel, PromptStyle, message_id_of
from airflow_provider_instagram_hil.prompt import (
    CHARACTERS,
    PromptLayout,
    ReviewField,
    TextLimit,
    render_prompt,
)

MAX_BODY_CHARS = 1024
MAX_TEXT_CHARS = 4096
MAX_BUTTONS = 3
MAX_BUTTON_TITLE_CHARS = 20
MAX_LIST_ROWS = 10
MAX_ROW_TITLE_CHARS = 24
#: The label of the button that opens the list of options.
LIST_BUTTON = "Choose an answer"
#: Room for the prompt in a template's body variable; the approved text around it needs the rest of 1,024.
TEMPLATE_PARAMETER_CHARS = 900
MAX_TEMPLATE_BUTTONS = 10

#: Cloud API codes for "outside the customer-service window": 131047 (re-engagement message), and 470,
#: its code in the On-Premises API and older Cloud API versions.
WINDOW_CLOSED_CODES = frozenset({131047, 470})

BODY_LIMIT = TextLimit(MAX_BODY_CHARS, CHARACTERS)
TEXT_LIMIT = TextLimit(MAX_TEXT_CHARS, CHARACTERS)
REPLY_BUTTONS = PromptStyle(
    "reply_buttons",
    "a reply button",
    MAX_BUTTONS,
    PromptLayout(BODY_LIMIT, "a WhatsApp interactive message's body", options_line=False),
    title_limit=TextLimit(MAX_BUTTON_TITLE_CHARS, CHARACTERS),
)
LIST = PromptStyle(
    "interactive_list",
    "a list row",
    MAX_LIST_ROWS,
    PromptLayout(BODY_LIMIT, "a WhatsApp interactive message's body", options_line=False),
    title_limit=TextLimit(MAX_ROW_TITLE_CHARS, CHARACTERS),
)
TEMPLATE_LAYOUT = PromptLayout(
    TextLimit(TEMPLATE_PARAMETER_CHARS, CHARACTERS),
    "a WhatsApp template's body variable",
    options_line=False,
    one_line=True,
)

_SEPARATORS = re.compile(r"[\s().\-]")
_INTERNATIONAL = re.compile(r"^\+?[1-9]\d{7,14}$")


class WhatsAppChannel(Channel):
    """WhatsApp through the Cloud API (``POST /{version}/{phone-number-id}/messages``)."""

    name = "whatsapp"
    title = "WhatsApp"
    recipient_kind = "a phone number in international format (e.g. +4915123456789)"
    styles = (REPLY_BUTTONS, LIST)
    hook_path = "airflow_provider_instagram_hil.hooks.whatsapp:WhatsAppHook"
    hook_conn_arg = "whatsapp_conn_id"
    inbox_url = "https://web.whatsapp.com/"

    def validate_recipient(self, recipient_id: str) -> str:
        """An international number (E.164: country code first, 8 to 15 digits), returned as digits."""
        raw = recipient_id if isinstance(recipient_id, str) else ""
        compact = _SEPARATORS.sub("", raw)
        if compact.startswith("00") or not _INTERNATIONAL.match(compact):
            raise ValueError(
                f"WhatsApp: recipient_id {recipient_id!r} is not a phone number in international format: "
                "write the country code first, e.g. +4915123456789 (8 to 15 digits, no leading 0 or 00)"
            )
        return compact.lstrip("+")

    def send_prompt(
        self, hook: Any, recipient_id: str, text: str, request_id: str, options: Sequence[str]
    ) -> str | None:
        """Interactive reply buttons (up to 3 options) or an interactive list (up to 10)."""
        return message_id_of(hook.send_interactive(recipient_id, self.interactive(text, request_id, options)))

    def interactive(self, text: str, request_id: str, options: Sequence[str]) -> dict[str, Any]:
        """The ``interactive`` object of a prompt with ``options``."""
        if self.style_for(len(options)) is REPLY_BUTTONS:
            buttons = [
                {"type": "reply", "reply": {"id": self.payload(request_id, option), "title": option}}
                for option in options
            ]
            return {"type": "button", "body": {"text": text}, "action": {"buttons": buttons}}
        rows = [{"id": self.payload(request_id, option), "title": option} for option in options]
        return {
            "type": "list",
            "body": {"text": text},
            "action": {"button": LIST_BUTTON, "sections": [{"title": "Options", "rows": rows}]},
        }

    def render_template_text(self, subject: str, fields: Sequence[ReviewField]) -> str:
        """The prompt for a template's body variable: one line, no options (the buttons carry them)."""
        return render_prompt(subject, fields, [], TEMPLATE_LAYOUT)

    def template_components(self, text: str, request_id: str, options: Sequence[str]) -> list[dict[str, Any]]:
        """The template's body variable and one quick-reply button payload per option, in order."""
        if len(options) > MAX_TEMPLATE_BUTTONS:
            raise ValueError(f"WhatsApp: a template holds at most {MAX_TEMPLATE_BUTTONS} quick-reply buttons")
        components: list[dict[str, Any]] = [{"type": "body", "parameters": [{"type": "text", "text": text}]}]
        components += [
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(index),
                "parameters": [{"type": "payload", "payload": self.payload(request_id, option)}],
            }
            for index, option in enumerate(options)
        ]
        return components

    def send_template(
        self,
        hook: Any,
        recipient_id: str,
        text: str,
        request_id: str,
        options: Sequence[str],
        *,
        name: str,
        language: str,
    ) -> str | None:
        """Send the pre-approved template ``name`` with ``text`` in its body and the options' payloads."""
        components = self.template_components(text, request_id, options)
        return message_id_of(hook.send_template(recipient_id, name, language, components))

    def send_reply(self, hook: Any, recipient_id: str, text: str) -> str | None:
        """A plain text message (at most 4,096 characters)."""
        return message_id_of(hook.send_text(recipient_id, text))


def status_error(errors: object) -> str:
    """What a failed status's ``errors[]`` says, as the recipient row keeps it: ``"<code> <title>:
    <details>"`` of the first error (or ``"unknown error"``)."""
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, Mapping):
        return "unknown error"
    code = first.get("code")
    title = first.get("title") or first.get("message") or ""
    data = first.get("error_data")
    details = data.get("details") if isinstance(data, Mapping) else None
    text = " ".join(str(part) for part in (code, title) if part not in (None, ""))
    if details:
        text = f"{text}: {details}" if text else str(details)
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:500] or "unknown error"


def status_error_code(error: str | None) -> int | None:
    """The code at the start of a :func:`status_error` text, or None."""
    head = (error or "").split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def is_window_closed(error: str | None) -> bool:
    """Whether a recorded delivery error says the customer-service window was closed."""
    return status_error_code(error) in WINDOW_CLOSED_CODES


WHATSAPP = WhatsAppChannel()
