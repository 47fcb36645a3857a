"""InstagramNotifier: a plain DM from a DAG or task callback (failure alerts, say)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.meta_limits import MAX_TEXT_BYTES
from airflow_provider_instagram_hil.notifications.base import ChannelNotifier
from airflow_provider_instagram_hil.prompt import shorten_to_bytes

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.version_compat import Context


class InstagramNotifier(ChannelNotifier):
    """Send a DM to one or more Instagram users, e.g. ``on_failure_callback=InstagramNotifier(...)``.

    The recipients must have messaged the account within the last 24 hours (Meta's messaging window).
    A text longer than Meta's 1000-byte limit is shortened with an ellipsis. Awaited (``await notifier``,
    e.g. as a Deadline Alert in the triggerer) it sends from a worker thread.

    :param recipient_id: IGSID of the recipient, or a list of them. (templated)
    :param text: the message. (templated)
    :param instagram_conn_id: the connection that sends it. (templated)
    :param kwargs: passed on to ``BaseNotifier`` (e.g. ``context``).
    """

    template_fields: Sequence[str] = ("recipient_id", "text", "instagram_conn_id")

    def __init__(
        self,
        *,
        recipient_id: str | Sequence[str],
        text: str,
        instagram_conn_id: str = InstagramHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not recipient_id:
            raise ValueError("recipient_id must name at least one recipient")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-empty string")
        self.recipient_id = recipient_id
        self.text = text
        self.instagram_conn_id = instagram_conn_id

    @cached_property
    def hook(self) -> InstagramHook:
        return InstagramHook(instagram_conn_id=self.instagram_conn_id)

    def notify(self, context: Context) -> None:
        """Send the rendered text to every recipient; raise the first failure after trying all."""
        recipients = [self.recipient_id] if isinstance(self.recipient_id, str) else list(self.recipient_id)
        text = (
            self.text
            if len(self.text.encode()) <= MAX_TEXT_BYTES
            else shorten_to_bytes(self.text, MAX_TEXT_BYTES)
        )
        failures: list[Exception] = []
        for recipient in recipients:
            try:
                sent = self.hook.send_message(str(recipient), text)
            except Exception as exc:
                self.log.warning("Could not notify recipient %s: %s", recipient, type(exc).__name__)
                failures.append(exc)
            else:
                self.log.info("Notified recipient %s (message %s)", recipient, sent.get("message_id"))
        if failures:
            raise failures[0]


send_instagram_notification = InstagramNotifier
