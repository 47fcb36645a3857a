"""The sandbox Graph API's ``POST /_sandbox/...`` controls: what tests and the sandbox command change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_instagram_hil.sandbox.status_callbacks import REENGAGEMENT_ERROR, status_item

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.sandbox.graph_api import SandboxGraphApi


def control_window(sandbox: SandboxGraphApi, spec: dict[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/window {"recipient_id", "open"}``: open or close a person's 24-hour window."""
    recipient = str(spec["recipient_id"])
    sandbox.set_window(recipient, bool(spec.get("open", False)))
    return {"recipient_id": recipient, "open": not sandbox.window_closed(recipient)}


def control_template(sandbox: SandboxGraphApi, spec: dict[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/templates {"name", "language", "body", "buttons"}``: approve a WhatsApp template."""
    buttons = spec.get("buttons") or []
    if not isinstance(buttons, list) or not all(isinstance(b, str) for b in buttons):
        raise TypeError("buttons must be a list of titles")
    template = sandbox.add_template(str(spec["name"]), str(spec["language"]), str(spec["body"]), buttons)
    return {"name": template.name, "language": template.language, "variables": template.variables}


def control_status_webhook(sandbox: SandboxGraphApi, spec: dict[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/status_webhook {"url", "app_secret"}``: where signed status callbacks go."""
    url, secret = spec.get("url"), spec.get("app_secret")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise ValueError("url must be an http(s) URL")
    sandbox.statuses.configure(url, secret if isinstance(secret, str) and secret else None)
    return {"configured": sandbox.statuses.configured}


def control_status(sandbox: SandboxGraphApi, spec: dict[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/statuses {"message_id", "status", "errors"}``: post one status now (e.g. read)."""
    found = [m for m in sandbox.messages if m["message_id"] == spec["message_id"]]
    if not found or found[0]["channel"] != "whatsapp":
        raise KeyError(f"no WhatsApp message {spec['message_id']!r}")
    if spec.get("status") not in ("sent", "delivered", "read", "failed"):
        raise ValueError("status must be sent, delivered, read or failed")
    errors = spec.get("errors") or ([REENGAGEMENT_ERROR] if spec["status"] == "failed" else None)
    item = status_item(found[0]["message_id"], spec["status"], found[0]["recipient_id"], errors)
    return {"http_status": sandbox.statuses.post_now([item])}


#: ``POST /_sandbox/<name>`` controls: each takes the sandbox and the JSON body, and returns the answer.
CONTROLS = {
    "/_sandbox/window": control_window,
    "/_sandbox/templates": control_template,
    "/_sandbox/status_webhook": control_status_webhook,
    "/_sandbox/statuses": control_status,
}
