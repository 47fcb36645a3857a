"""Act as Meta delivering a reviewer's tap: build the webhook event, sign it, post it."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import requests

from airflow_provider_instagram_hil.webhook.signature import sign_body


def quick_reply_event(
    payload: str,
    *,
    sender_id: str,
    account_id: str = "17841400000000000",
    title: str | None = None,
    mid: str | None = None,
) -> dict[str, Any]:
    """An Instagram ``messages`` webhook body for one quick-reply tap, as Meta documents it."""
    now_ms = int(time.time() * 1000)
    return {
        "object": "instagram",
        "entry": [
            {
                "id": account_id,
                "time": now_ms,
                "messaging": [
                    {
                        "sender": {"id": sender_id},
                        "recipient": {"id": account_id},
                        "timestamp": now_ms,
                        "message": {
                            "mid": mid or f"aWdfZAG1faXRlbToxOklH{secrets.token_hex(12)}",
                            "text": title or payload.rsplit(":", 1)[-1],
                            "quick_reply": {"payload": payload},
                        },
                    }
                ],
            }
        ],
    }


def text_event(
    text: str, *, sender_id: str, account_id: str = "17841400000000000", mid: str | None = None
) -> dict[str, Any]:
    """An Instagram ``messages`` webhook body for a message the reviewer typed (no button tapped)."""
    event = quick_reply_event("", sender_id=sender_id, account_id=account_id, mid=mid)
    message = event["entry"][0]["messaging"][0]["message"]
    del message["quick_reply"]
    message["text"] = text
    return event


def post_signed(
    webhook_url: str,
    event: dict[str, Any],
    app_secret: str,
    *,
    session: requests.Session | None = None,
    timeout: float = 10.0,
) -> requests.Response:
    """POST ``event`` to the webhook signed with ``app_secret``, as Meta would."""
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign_body(body, app_secret)}
    poster = session or requests
    return poster.post(webhook_url, data=body, headers=headers, timeout=timeout)


def messenger_event(
    payload: str,
    *,
    sender_id: str,
    title: str,
    postback: bool,
    page_id: str = "100000000000001",
    mid: str | None = None,
) -> dict[str, Any]:
    """A Messenger (``object: page``) webhook body: a postback (button template) or a quick-reply tap."""
    if postback:
        return postback_event(
            payload, sender_id=sender_id, title=title, object_="page", account_id=page_id, mid=mid
        )
    now_ms = int(time.time() * 1000)
    event: dict[str, Any] = {"sender": {"id": sender_id}, "recipient": {"id": page_id}, "timestamp": now_ms}
    event["message"] = {
        "mid": mid or f"m_{secrets.token_hex(16)}",
        "text": title,
        "quick_reply": {"payload": payload},
    }
    return {"object": "page", "entry": [{"id": page_id, "time": now_ms, "messaging": [event]}]}


def postback_event(
    payload: str,
    *,
    sender_id: str,
    title: str,
    object_: str = "instagram",
    account_id: str = "17841400000000000",
    mid: str | None = None,
) -> dict[str, Any]:
    """A tap on a button template's postback button: an Instagram (``object: instagram``) or Messenger
    (``object: page``) webhook body with one ``postback`` event, as Meta documents it."""
    now_ms = int(time.time() * 1000)
    postback = {"mid": mid or f"m_{secrets.token_hex(16)}", "title": title, "payload": payload}
    event = {
        "sender": {"id": sender_id},
        "recipient": {"id": account_id},
        "timestamp": now_ms,
        "postback": postback,
    }
    return {"object": object_, "entry": [{"id": account_id, "time": now_ms, "messaging": [event]}]}


def whatsapp_event(
    payload: str,
    *,
    sender_id: str,
    title: str,
    source: str,
    phone_number_id: str = "106540352242922",
    context_id: str | None = None,
) -> dict[str, Any]:
    """A WhatsApp Cloud API webhook body for one tap.

    :param source: ``button_reply`` (reply buttons), ``list_reply`` (a list row) or ``button`` (a
        template's quick-reply button).
    """
    message: dict[str, Any] = {
        "from": sender_id,
        "id": "wamid.HBgL" + secrets.token_hex(20).upper(),
        "timestamp": str(int(time.time())),
    }
    if context_id:
        message["context"] = {"from": "15550783881", "id": context_id}
    if source == "button":
        message.update(type="button", button={"payload": payload, "text": title})
    else:
        message.update(
            type="interactive", interactive={"type": source, source: {"id": payload, "title": title}}
        )
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Reviewer"}, "wa_id": sender_id}],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


#: The webhook body and the tap source of a prompt shown as ``kind`` (see the sandbox's records).
TAP_SOURCES = {
    "interactive_button": "button_reply",
    "interactive_list": "list_reply",
    "template": "button",
}


def tap_event(prompt: dict[str, Any], option: str, *, sender_id: str | None = None) -> dict[str, Any]:
    """The webhook body Meta sends when the reviewer taps ``option`` on ``prompt`` (a message the sandbox
    Graph API recorded), in the shape of the prompt's channel.

    :param sender_id: who taps; by default the prompt's recipient, as that channel's webhook names them
        (a WhatsApp number without its ``+``).
    :raises KeyError: ``option`` is not one of the prompt's options.
    """
    channel = prompt.get("channel", "instagram")
    choices = prompt.get("options") or prompt["quick_replies"]
    payload = {choice["title"]: choice["payload"] for choice in choices}[option]
    sender = sender_id or str(prompt["recipient_id"]).lstrip("+")
    if channel == "messenger":
        postback = prompt.get("kind") == "button_template"
        return messenger_event(payload, sender_id=sender, title=option, postback=postback)
    if channel == "whatsapp":
        source = TAP_SOURCES[prompt["kind"]]
        return whatsapp_event(
            payload, sender_id=sender, title=option, source=source, context_id=prompt.get("message_id")
        )
    if prompt.get("kind") == "button_template":
        return postback_event(payload, sender_id=sender, title=option)
    return quick_reply_event(payload, sender_id=sender, title=option)
