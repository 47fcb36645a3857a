"""The message bodies Meta's send endpoints accept, checked as Meta checks them, for the sandbox Graph API.

Three shapes: the Send API of Instagram and of Messenger (``{"recipient", "messaging_type", "message"}``)
and the WhatsApp Cloud API (``{"messaging_product": "whatsapp", "to", "type", ...}``). Each check either
returns what the sandbox records (the text as the app shows it, and the tappable options with their
payloads) or raises :class:`Refused` with the Graph error Meta answers. The limits are Meta's documented
ones, written here again on purpose: the sandbox must not judge the provider with the provider's own code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

INSTAGRAM_TEXT_BYTES = 1000
MESSENGER_TEXT_CHARS = 2000
MESSENGER_TEMPLATE_TEXT_CHARS = 640
QUICK_REPLIES = 13
TITLE_CHARS = 20
PAYLOAD_CHARS = 1000
WHATSAPP_TEXT_CHARS = 4096
WHATSAPP_BUTTON_BODY_CHARS = 1024
WHATSAPP_LIST_BODY_CHARS = 4096
WHATSAPP_BUTTONS = 3
WHATSAPP_BUTTON_ID_CHARS = 256
WHATSAPP_ROWS = 10
WHATSAPP_ROW_TITLE_CHARS = 24
WHATSAPP_ROW_ID_CHARS = 200

_VARIABLE = re.compile(r"\{\{(\d+)\}\}")
_WA_ID = re.compile(r"^[1-9]\d{7,14}$")


class Refused(Exception):
    """Meta refuses the body: the Graph error it answers with."""

    def __init__(self, message: str, code: int = 100, subcode: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode


@dataclass(frozen=True)
class Template:
    """A pre-approved WhatsApp template: its body (with ``{{1}}``-style variables) and quick-reply buttons."""

    name: str
    language: str
    body: str
    buttons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def variables(self) -> int:
        return len(set(_VARIABLE.findall(self.body)))


def chars(text: str) -> int:
    """Characters as Meta counts them here: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def send_api_message(body: dict[str, Any], channel: str) -> dict[str, Any]:
    """Check an Instagram or Messenger Send API body; return what is recorded.

    :param channel: ``instagram`` or ``messenger``.
    :raises Refused: as Meta would.
    """
    recipient: dict[str, Any] = body["recipient"] if isinstance(body.get("recipient"), dict) else {}
    message: dict[str, Any] = body["message"] if isinstance(body.get("message"), dict) else {}
    if not recipient.get("id"):
        raise Refused("(#100) The parameter recipient is required")
    attachment = message.get("attachment")
    if isinstance(attachment, dict):
        return _button_template(attachment, channel)
    text, quick_replies = message.get("text"), message.get("quick_replies") or []
    if not isinstance(text, str) or not text:
        raise Refused("(#100) The parameter message[text] is required")
    if channel == "instagram" and len(text.encode("utf-8")) > INSTAGRAM_TEXT_BYTES:
        raise Refused(
            f"(#100) Length of param message[text] must be less than or equal to {INSTAGRAM_TEXT_BYTES}"
        )
    if channel == "messenger" and chars(text) > MESSENGER_TEXT_CHARS:
        raise Refused(
            f"(#100) Length of param message[text] must be less than or equal to {MESSENGER_TEXT_CHARS}"
        )
    if not isinstance(quick_replies, list) or len(quick_replies) > QUICK_REPLIES:
        raise Refused(f"(#100) param message[quick_replies] must be an array of at most {QUICK_REPLIES}")
    options = [_choice(reply, "quick_replies") for reply in quick_replies]
    return {
        "kind": "quick_replies" if options else "text",
        "text": text,
        "quick_replies": quick_replies,
        "options": options,
    }


def _button_template(attachment: dict[str, Any], channel: str) -> dict[str, Any]:
    """A button template (Messenger, and Instagram too): text of at most 640 characters, and on Instagram
    at most 1000 UTF-8 bytes like any message; 1 to 3 postback buttons."""
    payload: dict[str, Any] = attachment["payload"] if isinstance(attachment.get("payload"), dict) else {}
    if attachment.get("type") != "template" or payload.get("template_type") != "button":
        raise Refused("(#100) Unsupported attachment: only the button template is served by the sandbox")
    text, buttons = payload.get("text"), payload.get("buttons")
    if not isinstance(text, str) or not text or chars(text) > MESSENGER_TEMPLATE_TEXT_CHARS:
        raise Refused(f"(#100) param text must be 1 to {MESSENGER_TEMPLATE_TEXT_CHARS} characters")
    if channel == "instagram" and len(text.encode("utf-8")) > INSTAGRAM_TEXT_BYTES:
        raise Refused(f"(#100) Length of param text must be less than or equal to {INSTAGRAM_TEXT_BYTES}")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise Refused("(#100) param buttons must have 1 to 3 elements")
    if any(not isinstance(b, dict) or b.get("type") != "postback" for b in buttons):
        raise Refused("(#100) the sandbox serves postback buttons only")
    options = [_choice(button, "buttons") for button in buttons]
    return {"kind": "button_template", "text": text, "quick_replies": [], "options": options}


def _choice(item: object, where: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise Refused(f"(#100) param {where} must hold objects")
    title, payload = item.get("title"), item.get("payload")
    if not isinstance(title, str) or not title or (where == "buttons" and chars(title) > TITLE_CHARS):
        raise Refused(f"(#100) param {where}[title] must be 1 to {TITLE_CHARS} characters")
    if not isinstance(payload, str) or not payload or len(payload) > PAYLOAD_CHARS:
        raise Refused(f"(#100) param {where}[payload] must be 1 to {PAYLOAD_CHARS} characters")
    # Meta shortens a long quick-reply title where it shows it; the payload comes back whole.
    return {"title": title[:TITLE_CHARS], "payload": payload}


def whatsapp_message(body: dict[str, Any], templates: dict[tuple[str, str], Template]) -> dict[str, Any]:
    """Check a Cloud API body; return what is recorded (``recipient_id`` is the WhatsApp id).

    :raises Refused: as the Cloud API would.
    """
    if body.get("messaging_product") != "whatsapp":
        raise Refused("(#100) The parameter messaging_product is required.")
    to = body.get("to")
    wa_id = re.sub(r"[^\d]", "", to) if isinstance(to, str) else ""
    if not _WA_ID.match(wa_id):
        raise Refused("(#131009) Parameter value is not valid: to", code=131009)
    kind = body.get("type")
    if kind == "text":
        text = (body.get("text") or {}).get("body") if isinstance(body.get("text"), dict) else None
        if not isinstance(text, str) or not text or chars(text) > WHATSAPP_TEXT_CHARS:
            raise Refused(f"(#100) text.body must be 1 to {WHATSAPP_TEXT_CHARS} characters")
        return {"recipient_id": wa_id, "kind": "text", "text": text, "options": []}
    if kind == "interactive" and isinstance(body.get("interactive"), dict):
        return {"recipient_id": wa_id, **_interactive(body["interactive"])}
    if kind == "template" and isinstance(body.get("template"), dict):
        return {"recipient_id": wa_id, **_template(body["template"], templates)}
    raise Refused("(#100) Param type must be one of text, interactive, template (in the sandbox)")


def _interactive(interactive: dict[str, Any]) -> dict[str, Any]:
    text = interactive["body"].get("text") if isinstance(interactive.get("body"), dict) else None
    action: dict[str, Any] = interactive["action"] if isinstance(interactive.get("action"), dict) else {}
    if interactive.get("type") == "button":
        if not isinstance(text, str) or not text or chars(text) > WHATSAPP_BUTTON_BODY_CHARS:
            raise Refused(f"(#131009) body.text must be 1 to {WHATSAPP_BUTTON_BODY_CHARS} characters", 131009)
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= WHATSAPP_BUTTONS:
            raise Refused(f"(#131009) action.buttons must hold 1 to {WHATSAPP_BUTTONS} buttons", 131009)
        replies = [b.get("reply") if isinstance(b, dict) else None for b in buttons]
        options = [_reply(r, TITLE_CHARS, WHATSAPP_BUTTON_ID_CHARS) for r in replies]
        return {"kind": "interactive_button", "text": text, "options": options}
    if interactive.get("type") == "list":
        if not isinstance(text, str) or not text or chars(text) > WHATSAPP_LIST_BODY_CHARS:
            raise Refused(f"(#131009) body.text must be 1 to {WHATSAPP_LIST_BODY_CHARS} characters", 131009)
        label = action.get("button")
        if not isinstance(label, str) or not label or chars(label) > TITLE_CHARS:
            raise Refused(f"(#131009) action.button must be 1 to {TITLE_CHARS} characters", 131009)
        sections: list[Any] = action["sections"] if isinstance(action.get("sections"), list) else []
        rows = [row for s in sections if isinstance(s, dict) for row in (s.get("rows") or [])]
        if not 1 <= len(rows) <= WHATSAPP_ROWS:
            raise Refused(f"(#131009) a list must hold 1 to {WHATSAPP_ROWS} rows", 131009)
        options = [_reply(row, WHATSAPP_ROW_TITLE_CHARS, WHATSAPP_ROW_ID_CHARS) for row in rows]
        return {"kind": "interactive_list", "text": text, "options": options, "list_button": label}
    raise Refused("(#100) interactive.type must be button or list (in the sandbox)")


def _reply(item: object, title_chars: int, id_chars: int) -> dict[str, str]:
    title = item.get("title") if isinstance(item, dict) else None
    reply_id = item.get("id") if isinstance(item, dict) else None
    if not isinstance(title, str) or not title or chars(title) > title_chars:
        raise Refused(f"(#131009) a title must be 1 to {title_chars} characters", 131009)
    if not isinstance(reply_id, str) or not reply_id or len(reply_id) > id_chars:
        raise Refused(f"(#131009) an id must be 1 to {id_chars} characters", 131009)
    return {"title": title, "payload": reply_id}


def _template(template: dict[str, Any], templates: dict[tuple[str, str], Template]) -> dict[str, Any]:
    language: dict[str, Any] = template["language"] if isinstance(template.get("language"), dict) else {}
    found = templates.get((str(template.get("name")), str(language.get("code"))))
    if found is None:
        raise Refused("(#132001) Template name does not exist in the translation", 132001)
    components: list[Any] = template["components"] if isinstance(template.get("components"), list) else []
    body_params: list[Any] = []
    payloads: dict[int, str] = {}
    for component in components:
        if not isinstance(component, dict):
            continue
        if component.get("type") == "body":
            body_params = component.get("parameters") or []
        elif component.get("type") == "button" and component.get("sub_type") == "quick_reply":
            params = component.get("parameters") or [{}]
            payloads[int(str(component.get("index", "-1")))] = str(params[0].get("payload", ""))
    texts = [p.get("text") for p in body_params if isinstance(p, dict)]
    if len(texts) != found.variables or not all(isinstance(t, str) for t in texts):
        raise Refused("(#132000) Number of parameters does not match the expected number of params", 132000)
    for text in texts:
        if not text or "\n" in text or "\t" in text or "     " in text:
            raise Refused(
                "(#132018) Param text cannot have new-line/tab characters or more than 4 spaces", 132018
            )
    if sorted(payloads) != list(range(len(found.buttons))) or not all(payloads.values()):
        raise Refused("(#132000) Each quick-reply button of the template needs its payload", 132000)
    shown = _VARIABLE.sub(lambda m: str(texts[int(m.group(1)) - 1]), found.body)
    options = [{"title": title, "payload": payloads[i]} for i, title in enumerate(found.buttons)]
    return {"kind": "template", "text": shown, "options": options, "template": found.name}
