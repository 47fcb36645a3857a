"""Act as Meta delivering a reviewer's tap: build the webhook event, sign it, post it."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import requests


def signature_for(body: bytes, app_secret: str) -> str:
    """Return the ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


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
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature_for(body, app_secret)}
    poster = session or requests
    return poster.post(webhook_url, data=body, headers=headers, timeout=timeout)
