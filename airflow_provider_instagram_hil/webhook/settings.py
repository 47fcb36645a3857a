"""The webhook's settings from Airflow: the one webhook module that imports Airflow, and only lazily.

``create_app()`` calls :func:`load_from_airflow` for the config keys it was not given: the app secret(s)
and verify token from the extra of the connection named by ``[instagram_hil] conn_id``, and the store URL
and time limits from ``[instagram_hil] store_url`` and ``store_*_timeout``. Replies go through
``InstagramHook``: one per reply thread, kept for a few minutes (its pooled session saves a TLS handshake
per reply) and rebuilt after that, so a renewed token is picked up without a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_instagram_hil.exceptions import InstagramHilError


class WebhookConfigError(InstagramHilError, ValueError):
    """The webhook cannot start: a secret, token or URL is missing or malformed."""


def split_secrets(value: object) -> list[str]:
    """App secrets from a connection extra or a config value: a list, or one string with commas.

    :raises WebhookConfigError: a value that is neither.
    """
    if value is None:
        return []
    if isinstance(value, str):
        parts: Sequence[object] = value.split(",")
    elif isinstance(value, (list, tuple)):
        parts = value
    else:
        raise WebhookConfigError("app secrets must be a list of strings or a comma-separated string")
    if not all(isinstance(part, str) for part in parts):
        raise WebhookConfigError("app secrets must be strings")
    return [part.strip() for part in parts if isinstance(part, str) and part.strip()]


def load_from_airflow(missing: Collection[str], conn_id: str | None = None) -> dict[str, Any]:
    """Read the missing webhook settings from Airflow.

    :param missing: unprefixed config keys to fill: ``CONN_ID``, ``STORE_URL``, ``STORE_TIMEOUTS``,
        ``APP_SECRETS``, ``VERIFY_TOKEN``, ``AIRFLOW_HITL``.
    :param conn_id: the connection to read secrets from; default ``[instagram_hil] conn_id``.
    :return: the values found, under the same unprefixed keys.
    :raises WebhookConfigError: the connection cannot be read.
    """
    from airflow_provider_instagram_hil import config

    values: dict[str, Any] = {}
    conn_id = conn_id or config.get_conn_id()
    if "CONN_ID" in missing:
        values["CONN_ID"] = conn_id
    if "STORE_URL" in missing:
        values["STORE_URL"] = config.get_store_url()
    if "STORE_TIMEOUTS" in missing:
        values["STORE_TIMEOUTS"] = config.get_store_timeouts()
    if "AIRFLOW_HITL" in missing:
        values["AIRFLOW_HITL"] = _airflow_hitl_bridge()
    if {"APP_SECRETS", "VERIFY_TOKEN"} & set(missing):
        extra = _connection_extra(conn_id)
        if "APP_SECRETS" in missing:
            values["APP_SECRETS"] = split_secrets(extra.get("app_secret"))
        if "VERIFY_TOKEN" in missing:
            token = extra.get("verify_token")
            values["VERIFY_TOKEN"] = token if isinstance(token, str) and token else None
    return values


def _airflow_hitl_bridge() -> Any:
    """The bridge to Airflow's human-in-the-loop API: as the reviewer's own user, or as the account of
    ``[instagram_hil] airflow_api_conn_id``."""
    from airflow_provider_instagram_hil import config
    from airflow_provider_instagram_hil.hitl.bridge import HitlBridge
    from airflow_provider_instagram_hil.hitl.identity import service_account_tokens, user_tokens
    from airflow_provider_instagram_hil.version_compat import BaseHook

    api_url = config.get_airflow_api_url()
    conn_id = config.get_airflow_api_conn_id()
    if conn_id is None:
        return HitlBridge(api_url, user_tokens())
    try:
        account = BaseHook.get_connection(conn_id)
    except Exception as exc:
        raise WebhookConfigError(
            f"Cannot read the Airflow connection {conn_id!r} ({type(exc).__name__}) named by "
            "[instagram_hil] airflow_api_conn_id: give it the login and password of an Airflow account, "
            "or leave the option empty."
        ) from None
    return HitlBridge(api_url, service_account_tokens(api_url, account.login or "", account.password or ""))


def _connection_extra(conn_id: str) -> dict[str, Any]:
    from airflow_provider_instagram_hil.version_compat import BaseHook

    try:
        connection = BaseHook.get_connection(conn_id)
        extra = connection.extra_dejson
    except Exception as exc:
        # Not found, or a secrets backend failing: say which connection, never what it holds.
        raise WebhookConfigError(
            f"Cannot read the Airflow connection {conn_id!r} ({type(exc).__name__}). Create it (type "
            "instagram) with app_secret and verify_token in its extra, or set [instagram_hil] conn_id."
        ) from None
    return extra if isinstance(extra, dict) else {}


#: How long a reply thread keeps its hook before reading the connection again.
HOOK_TTL_SECONDS = 300.0
#: A reply's own retries stay well inside the outbox sender's lease; the outbox retries later.
REPLY_RETRY_DEADLINE = 15.0
#: The Conversations API's ``platform`` of each channel the Page's Send API reaches.
PLATFORMS = {"instagram": "instagram", "messenger": "messenger"}


class HookReplies:
    """Replies through ``InstagramHook(conn_id)``: one hook per thread, rebuilt after ``ttl`` seconds.

    Instagram (with Facebook Login) and Messenger share the Page's Send API, so one hook serves both.
    A thread reuses its hook (and its connection pool) for a while, and a renewed token is picked up
    without a restart.

    :param conn_id: the Instagram connection that sends messages.
    :param ttl: seconds a thread reuses its hook before building a new one.
    """

    def __init__(self, conn_id: str, ttl: float = HOOK_TTL_SECONDS) -> None:
        self.conn_id = conn_id
        self.ttl = ttl
        self._local = threading.local()

    def _hook(self) -> Any:
        from airflow_provider_instagram_hil.hooks.instagram import InstagramHook

        now = time.monotonic()
        hook = getattr(self._local, "hook", None)
        if hook is None or now - self._local.built_at > self.ttl:
            if hook is not None:
                hook.close()
            hook = self._local.hook = InstagramHook(
                instagram_conn_id=self.conn_id, retry_deadline=REPLY_RETRY_DEADLINE, max_attempts=3
            )
            self._local.built_at = now
        return hook

    def send(self, channel: str, recipient_id: str, text: str) -> str | None:
        """Send ``text``; return Meta's message id."""
        sent = self._hook().send_message(recipient_id, text)
        return str(sent.get("message_id") or "") or None

    def count_sent(self, channel: str, recipient_id: str, text: str, since: datetime) -> int:
        """How many messages with ``text`` went to ``recipient_id`` since ``since``, per Meta."""
        return int(
            self._hook().count_sent_since(recipient_id, text, since, platform=PLATFORMS.get(channel, channel))
        )
