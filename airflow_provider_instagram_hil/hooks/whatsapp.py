"""``WhatsAppHook``: messages through the WhatsApp Cloud API, and what its error codes mean."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow_provider_instagram_hil.channels.whatsapp import (
    MAX_BUTTONS,
    MAX_LIST_ROWS,
    MAX_TEXT_CHARS,
    TEXT_LIMIT,
    WHATSAPP,
    WINDOW_CLOSED_CODES,
)
from airflow_provider_instagram_hil.connection_forms import WHATSAPP_CONN_FIELDS, WHATSAPP_UI_FIELD_BEHAVIOUR
from airflow_provider_instagram_hil.exceptions import (
    InstagramApiError,
    MessagingWindowClosedError,
    RateLimitedError,
    RecipientUnavailableError,
)
from airflow_provider_instagram_hil.hooks.graph import GraphApiHook
from airflow_provider_instagram_hil.hooks.graph_errors import ChannelRule, ErrorHints, RetryableFailure

WINDOW_HINT = (
    "The reviewer has not written to the WhatsApp number in the last 24 hours (WhatsApp's customer-service "
    "window), so only a pre-approved template can reach them. Set template_name and template_language on "
    "WhatsAppApprovalOperator (an approved template with one body variable and a quick-reply button per "
    "option), or ask the reviewer to message the number, then clear the task to send the prompt again."
)
WHATSAPP_HINTS = ErrorHints(
    window=WINDOW_HINT,
    recipient=(
        "This number can't be messaged on WhatsApp: recipient_id must be the reviewer's WhatsApp number in "
        "international format, registered on WhatsApp (and, for a test number, on its list of allowed "
        "recipients)."
    ),
    token=(
        "The access token in the WhatsApp connection is invalid or expired: renew it (a system-user token "
        "does not expire) in the connection."
    ),
    messages_off="The WhatsApp Business account cannot send messages: check it in WhatsApp Manager.",
)
TEMPLATE_HINT = (
    "The template was refused: check template_name and template_language against WhatsApp Manager, and "
    "that the approved template has exactly one body variable and one quick-reply button per option, in "
    "the options' order."
)
ACCOUNT_HINT = "The WhatsApp Business account or phone number cannot send: check it in WhatsApp Manager."

#: Cloud API codes: https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
THROTTLING_CODES = frozenset({130429, 131056, 80007})
TRANSIENT_CODES = frozenset({131000, 131016, 133004})
RECIPIENT_CODES = frozenset({131026, 131030, 131021, 131051})
TEMPLATE_CODES = frozenset({132000, 132001, 132005, 132007, 132012, 132015, 132016, 132018, 132068})
ACCOUNT_CODES = frozenset({131031, 131042, 133010, 368})


def whatsapp_rule(
    code: int | None, subcode: int | None, message: str, details: dict[str, Any]
) -> Exception | None:
    """Triage the Cloud API's own codes; None leaves the answer to the general Graph rules."""
    retry_after = details.pop("retry_after", None)
    if code in WINDOW_CLOSED_CODES:
        return MessagingWindowClosedError(message, hint=WINDOW_HINT, **details)
    if code in THROTTLING_CODES:
        return RetryableFailure(RateLimitedError(message, **details), retry_after=retry_after)
    if code in TRANSIENT_CODES:
        return RetryableFailure(InstagramApiError(message, **details), retry_after=retry_after)
    if code in RECIPIENT_CODES:
        return RecipientUnavailableError(f"{WHATSAPP_HINTS.recipient} Graph said: {message}", **details)
    if code in TEMPLATE_CODES:
        return InstagramApiError(f"{TEMPLATE_HINT} Graph said: {message}", **details)
    if code in ACCOUNT_CODES:
        return InstagramApiError(f"{ACCOUNT_HINT} Graph said: {message}", **details)
    return None


class WhatsAppHook(GraphApiHook):
    """Send WhatsApp messages through the Cloud API: ``POST /{version}/{phone-number-id}/messages``.

    The connection (type ``whatsapp``) holds a system-user or business access token (password) with
    ``whatsapp_business_messaging``, the Graph API base URL (host, default ``https://graph.facebook.com``)
    and the extras ``phone_number_id`` (required: the ID of the sending number, not the number),
    ``api_version``, ``app_secret``, ``verify_token`` and ``timeout``. Calls, retries and secrets are
    :class:`~airflow_provider_instagram_hil.hooks.graph.GraphApiHook`'s; the Cloud API's codes are
    triaged by :func:`whatsapp_rule` (131047 outside the window, 130429/131056 throttling, ...).

    :param whatsapp_conn_id: the Airflow connection to use.
    :param timeout: read timeout in seconds for one call; overrides the connection's ``timeout`` extra.
    :param retry_deadline: total seconds one call may spend including retries.
    :param max_attempts: most attempts per call, the first one included.
    """

    conn_name_attr = "whatsapp_conn_id"
    default_conn_name = "whatsapp_default"
    conn_type = "whatsapp"
    hook_name = "WhatsApp"
    conn_fields: ClassVar[dict[str, dict[str, Any]]] = WHATSAPP_CONN_FIELDS
    ui_field_behaviour: ClassVar[dict[str, Any]] = WHATSAPP_UI_FIELD_BEHAVIOUR
    error_hints = WHATSAPP_HINTS
    account_field = "phone_number_id"
    default_account = None
    token_hint = "put a system-user or business access token in its Password field"

    def __init__(
        self,
        whatsapp_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry_deadline: float = 60.0,
        max_attempts: int = 5,
    ) -> None:
        super().__init__(
            whatsapp_conn_id, timeout=timeout, retry_deadline=retry_deadline, max_attempts=max_attempts
        )

    @property
    def phone_number_id(self) -> str:
        """The ID of the sending WhatsApp Business phone number."""
        return self.account_id

    def _channel_rule(self) -> ChannelRule | None:
        return whatsapp_rule

    # -- sends ----------------------------------------------------------------------------------------

    def send_text(self, to: str, body: str) -> dict[str, Any]:
        """Send a text message (at most 4,096 characters); return ``message_id`` and ``wa_id``.

        :param to: the recipient's number in international format.
        :raises ValueError: a bad number or text (no request is made).
        """
        if not isinstance(body, str) or not body.strip() or not TEXT_LIMIT.fits(body):
            raise ValueError(f"WhatsApp: a text message holds 1 to {MAX_TEXT_CHARS} characters")
        return self._send(to, {"type": "text", "text": {"body": body, "preview_url": False}})

    def send_interactive(self, to: str, interactive: Mapping[str, Any]) -> dict[str, Any]:
        """Send an interactive message (reply buttons or a list); return ``message_id`` and ``wa_id``.

        :raises ValueError: a bad number, or more buttons or rows than WhatsApp shows (no request is made).
        """
        action = interactive.get("action") or {}
        buttons = action.get("buttons") or []
        rows = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
        if interactive.get("type") == "button" and not 1 <= len(buttons) <= MAX_BUTTONS:
            raise ValueError(f"WhatsApp: reply buttons hold 1 to {MAX_BUTTONS} buttons, got {len(buttons)}")
        if interactive.get("type") == "list" and not 1 <= len(rows) <= MAX_LIST_ROWS:
            raise ValueError(f"WhatsApp: a list holds 1 to {MAX_LIST_ROWS} rows, got {len(rows)}")
        return self._send(to, {"type": "interactive", "interactive": dict(interactive)})

    def send_template(
        self, to: str, name: str, language: str, components: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Send the pre-approved template ``name`` in ``language``; return ``message_id`` and ``wa_id``."""
        template = {"name": name, "language": {"code": language}, "components": [dict(c) for c in components]}
        return self._send(to, {"type": "template", "template": template})

    def _send(self, to: str, message: dict[str, Any]) -> dict[str, Any]:
        wa_id = WHATSAPP.validate_recipient(to)
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id, **message}
        answer = self._call("POST", f"{self.phone_number_id}/messages", json_body=body)
        sent = next(iter(answer.get("messages") or []), None)
        contact = next(iter(answer.get("contacts") or []), None)
        result = {
            "message_id": sent.get("id") if isinstance(sent, dict) else None,
            "message_status": sent.get("message_status") if isinstance(sent, dict) else None,
            "wa_id": contact.get("wa_id") if isinstance(contact, dict) else None,
        }
        self.log.info("Sent WhatsApp %s message %s to %s", message["type"], result["message_id"], wa_id)
        if result["wa_id"] and result["wa_id"] != wa_id:
            # Their taps arrive from the WhatsApp id, which then matches no recipient of the request.
            self.log.warning(
                "WhatsApp knows the number %s as WhatsApp id %s: put %s in recipient_id, or their answers "
                "will be refused as coming from someone else",
                wa_id,
                result["wa_id"],
                result["wa_id"],
            )
        return result

    def test_connection(self) -> tuple[bool, str]:
        """Check the token and the phone number ID with ``GET /{phone-number-id}``; never raise."""
        try:
            data = self._call(
                "GET",
                self.phone_number_id,
                params={"fields": "display_phone_number,verified_name"},
                max_attempts=1,
            )
        except Exception as exc:
            return False, self._redact(f"{type(exc).__name__}: {exc}")
        name = data.get("verified_name") or "unnamed business"
        return True, (
            f"Connected to the WhatsApp Cloud API {self.api_version} as {name} "
            f"({data.get('display_phone_number') or 'no number'}, phone number ID {data.get('id')})."
        )
