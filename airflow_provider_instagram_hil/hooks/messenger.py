"""``MessengerHook``: a Facebook Page's Messenger conversations through the Graph Send API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow_provider_instagram_hil.channels.messenger import validate_message
from airflow_provider_instagram_hil.connection_forms import (
    MESSENGER_CONN_FIELDS,
    MESSENGER_UI_FIELD_BEHAVIOUR,
)
from airflow_provider_instagram_hil.hooks.graph_errors import ErrorHints
from airflow_provider_instagram_hil.hooks.send_api import SendApiHook

MESSENGER_HINTS = ErrorHints(
    window=(
        "The reviewer must send a message to the Facebook Page first: Meta only lets a Page message a "
        "person within 24 hours of that person's last message. Ask the reviewer to message the Page, then "
        "clear the task to send the prompt again."
    ),
    recipient=(
        "This person can't be messaged: recipient_id must be the reviewer's Page-scoped ID (PSID, the "
        "sender.id of their message to the Page), and they must not have blocked the Page."
    ),
    token="The access token in the Messenger connection is invalid or expired: renew it in the connection.",
    messages_off="The Page cannot send messages: check its messaging settings and the pages_messaging "
    "permission.",
)


class MessengerHook(SendApiHook):
    """Send Messenger messages as a Facebook Page.

    The connection (type ``messenger``) holds the Page access token (password), the Graph API base URL
    (host, default ``https://graph.facebook.com``) and the extras ``api_version``, ``account_id`` (the
    Page ID, default ``me``: the token's Page), ``app_secret``, ``verify_token`` and ``timeout``. The token
    needs the ``pages_messaging`` permission; reading conversations (used to avoid double replies) needs
    ``pages_read_engagement``. Calls, retries and errors are
    :class:`~airflow_provider_instagram_hil.hooks.graph.GraphApiHook`'s.

    :param messenger_conn_id: the Airflow connection to use.
    :param timeout: read timeout in seconds for one call; overrides the connection's ``timeout`` extra.
    :param retry_deadline: total seconds one call may spend including retries.
    :param max_attempts: most attempts per call, the first one included.
    """

    conn_name_attr = "messenger_conn_id"
    default_conn_name = "messenger_default"
    conn_type = "messenger"
    hook_name = "Messenger"
    conn_fields: ClassVar[dict[str, dict[str, Any]]] = MESSENGER_CONN_FIELDS
    ui_field_behaviour: ClassVar[dict[str, Any]] = MESSENGER_UI_FIELD_BEHAVIOUR
    error_hints = MESSENGER_HINTS
    token_hint = "put the Page access token in its Password field"
    platform = "messenger"

    def __init__(
        self,
        messenger_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry_deadline: float = 60.0,
        max_attempts: int = 5,
    ) -> None:
        super().__init__(
            messenger_conn_id, timeout=timeout, retry_deadline=retry_deadline, max_attempts=max_attempts
        )

    def send_message(
        self,
        recipient_id: str,
        text: str,
        quick_replies: Sequence[Mapping[str, Any]] | None = None,
        *,
        messaging_type: str = "RESPONSE",
    ) -> dict[str, Any]:
        """Send a text (at most 2,000 characters), with up to 13 quick replies; return Meta's answer.

        :raises ValueError: when the message breaks Messenger's limits (no request is made).
        :raises InstagramApiError: or a subclass when Meta refuses it.
        """
        validate_message(text, quick_replies)
        return self._sent(recipient_id, self._text_message(text, quick_replies), messaging_type)

    def _check_buttons(self, text: str, buttons: Sequence[Mapping[str, Any]]) -> None:
        """A button template's text holds at most 640 characters (:meth:`send_buttons`)."""
        validate_message(text, buttons=buttons)

    def _sent(self, recipient_id: str, message: dict[str, Any], messaging_type: str) -> dict[str, Any]:
        if not isinstance(recipient_id, str) or not recipient_id.strip():
            raise ValueError("recipient_id must be a non-empty Page-scoped ID (PSID)")
        result = self._send(recipient_id, message, messaging_type=messaging_type)
        self.log.info("Sent Messenger message %s to recipient %s", result.get("message_id"), recipient_id)
        return result
