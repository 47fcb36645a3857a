"""``InstagramHook``: sends Instagram DMs (text with quick replies, or a button template) through Meta's
Graph Send API and explains its errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from airflow_provider_instagram_hil import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_instagram_hil.channels.instagram import BUTTON_TEMPLATE_LAYOUT
from airflow_provider_instagram_hil.channels.send_api import button_template_problem
from airflow_provider_instagram_hil.hooks.connection_settings import INSTAGRAM_GRAPH_HOST
from airflow_provider_instagram_hil.hooks.send_api import MESSAGING_TYPES, SendApiHook
from airflow_provider_instagram_hil.meta_limits import QuickReply, validate_message


class InstagramHook(SendApiHook):
    """Send Instagram direct messages through Meta's Graph API.

    The connection holds everything: the access token (password), the Graph API base URL (host:
    ``https://graph.facebook.com`` for Facebook Login, ``https://graph.instagram.com`` for Instagram
    Login) and the extras ``api_version``, ``account_id``, ``app_secret``, ``verify_token``, ``timeout``.

    Calls, retries (codes 4, 17, 32, 613 throttling; 1, 2 transient; code 1 / subcode 1357046 "may have
    been sent" is *not* retried), secrets and errors are
    :class:`~airflow_provider_instagram_hil.hooks.graph.GraphApiHook`'s.

    :param instagram_conn_id: the Airflow connection to use.
    :param timeout: read timeout in seconds for one call; overrides the connection's ``timeout`` extra.
    :param retry_deadline: total seconds one call may spend including retries; no sleep goes past it.
    :param max_attempts: most attempts per call, the first one included.
    """

    conn_name_attr = "instagram_conn_id"
    default_conn_name = "instagram_default"
    conn_type = "instagram"
    hook_name = "Instagram"
    conn_fields: ClassVar[dict[str, dict[str, Any]]] = CONN_FIELDS
    ui_field_behaviour: ClassVar[dict[str, Any]] = UI_FIELD_BEHAVIOUR
    token_hint = "put the Page or Instagram user access token in its Password field"
    platform = "instagram"

    def __init__(
        self,
        instagram_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry_deadline: float = 60.0,
        max_attempts: int = 5,
    ) -> None:
        super().__init__(
            instagram_conn_id, timeout=timeout, retry_deadline=retry_deadline, max_attempts=max_attempts
        )

    @property
    def is_instagram_login(self) -> bool:
        """Whether the connection uses Instagram Login (``graph.instagram.com``)."""
        return urlsplit(self.base_url).hostname == INSTAGRAM_GRAPH_HOST

    def send_message(
        self,
        recipient_id: str,
        text: str,
        quick_replies: Sequence[QuickReply] | None = None,
        *,
        messaging_type: str = "RESPONSE",
    ) -> dict[str, Any]:
        """Send one DM; return Meta's answer (``recipient_id``, ``message_id``).

        :param recipient_id: the reviewer's Instagram-scoped ID (IGSID), learned from their first message.
        :param text: message text, at most 1000 UTF-8 bytes.
        :param quick_replies: optional quick replies (at most 13; titles up to 20 characters).
        :param messaging_type: ``RESPONSE`` (inside the 24-hour window) or ``UPDATE``.
        :raises ValueError: when the message breaks Meta's limits (no request is made).
        :raises InstagramApiError: or one of its subclasses when Meta refuses the message.
        """
        validate_message(text, quick_replies)
        return self._sent(recipient_id, self._text_message(text, quick_replies), messaging_type)

    def _check_buttons(self, text: str, buttons: Sequence[Mapping[str, Any]]) -> None:
        """A button template's text holds at most 640 characters (UTF-16 code units) and 1000 UTF-8 bytes;
        only postback buttons (:meth:`send_buttons`)."""
        problem = button_template_problem(text, buttons, BUTTON_TEMPLATE_LAYOUT.limits)
        if problem is None and any(button.get("type") != "postback" for button in buttons):
            problem = "every button of the template must be a postback button (type 'postback')"
        if problem:
            raise ValueError(f"Instagram: {problem}")

    def _sent(self, recipient_id: str, message: dict[str, Any], messaging_type: str) -> dict[str, Any]:
        if not isinstance(recipient_id, str) or not recipient_id.strip():
            raise ValueError("recipient_id must be a non-empty Instagram-scoped ID (IGSID)")
        if recipient_id.startswith("@"):
            raise ValueError("recipient_id must be an Instagram-scoped ID (IGSID, digits), not a @username")
        if messaging_type not in MESSAGING_TYPES:
            raise ValueError(
                f"messaging_type must be one of {sorted(MESSAGING_TYPES)}, got {messaging_type!r}"
            )
        result = self._send(recipient_id, message, messaging_type=messaging_type)
        self.log.info("Sent Instagram message %s to recipient %s", result.get("message_id"), recipient_id)
        return result

    def test_connection(self) -> tuple[bool, str]:
        """Check the token with ``GET /me``; return ``(ok, message)`` and never raise."""
        try:
            fields = "id,username" if self.is_instagram_login else "id,name"
            data = self._call("GET", "me", params={"fields": fields}, max_attempts=1)
        except Exception as exc:
            return False, self._redact(f"{type(exc).__name__}: {exc}")
        name = data.get("username") or data.get("name") or "unnamed account"
        return True, f"Connected to the Graph API {self.api_version} as {name} (id {data.get('id')})."
