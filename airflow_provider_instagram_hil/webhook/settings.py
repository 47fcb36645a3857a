"""The webhook's settings from Airflow: the one webhook module that imports Airflow, and only lazily.

``create_app()`` calls :func:`load_from_airflow` for the config keys it was not given: the app secrets
and verify tokens from the extras of every configured channel connection (``[instagram_hil] conn_id``,
``messenger_conn_id``, ``whatsapp_conn_id``: one Meta app usually serves all three, but each may have
its own), and the store URL and time limits from ``[instagram_hil] store_url`` and ``store_*_timeout``.
Replies go out on the channel a tap came from, through that channel's hook (:class:`HookReplies`): one
hook per reply thread and channel, kept for a few minutes (its pooled session saves a TLS handshake per
reply) and rebuilt after that, so a renewed token is picked up without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_instagram_hil.channels import get_channel
from airflow_provider_instagram_hil.exceptions import InstagramHilError
from airflow_provider_instagram_hil.hooks.connection_settings import app_secrets_of, verify_token_of

log = logging.getLogger("airflow_provider_instagram_hil.webhook")

#: Config keys (unprefixed) naming the connection of each channel besides Instagram's ``CONN_ID``.
CHANNEL_CONN_KEYS = {"messenger": "MESSENGER_CONN_ID", "whatsapp": "WHATSAPP_CONN_ID"}


class WebhookConfigError(InstagramHilError, ValueError):
    """The webhook cannot start: a secret, token or URL is missing or malformed."""


def split_secrets(value: object) -> list[str]:
    """App secrets from a connection extra or a config value: a list, or one string with commas.

    :raises WebhookConfigError: a value that is neither.
    """
    if value is not None and not isinstance(value, (str, list, tuple)):
        raise WebhookConfigError("app secrets must be a list of strings or a comma-separated string")
    if isinstance(value, (list, tuple)) and not all(isinstance(part, str) for part in value):
        raise WebhookConfigError("app secrets must be strings")
    return list(app_secrets_of(value))


def load_from_airflow(
    missing: Collection[str],
    conn_id: str | None = None,
    channel_conn_ids: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Read the missing webhook settings from Airflow.

    :param missing: unprefixed config keys to fill: ``CONN_ID``, ``MESSENGER_CONN_ID``,
        ``WHATSAPP_CONN_ID``, ``STORE_URL``, ``STORE_TIMEOUTS``, ``APP_SECRETS``, ``VERIFY_TOKEN``,
        ``AIRFLOW_HITL``.
    :param conn_id: the Instagram connection; default ``[instagram_hil] conn_id``.
    :param channel_conn_ids: the Messenger and WhatsApp connections (``{"messenger": ...}``) when given;
        the others are read from ``[instagram_hil] messenger_conn_id`` / ``whatsapp_conn_id``.
    :return: the values found, under the same unprefixed keys. ``CONN_ID`` is None when the Instagram
        connection does not exist but another channel's does (a Messenger- or WhatsApp-only webhook).
    :raises WebhookConfigError: a connection cannot be read.
    """
    from airflow_provider_instagram_hil import config

    values: dict[str, Any] = {}
    conn_id = conn_id or config.get_conn_id()
    given = channel_conn_ids or {}
    others = {
        channel: given[channel] if channel in given else config.get_channel_conn_id(channel)
        for channel in CHANNEL_CONN_KEYS
    }
    for channel, key in CHANNEL_CONN_KEYS.items():
        if key in missing:
            values[key] = others[channel]
    if "STORE_URL" in missing:
        values["STORE_URL"] = config.get_store_url()
    if "STORE_TIMEOUTS" in missing:
        values["STORE_TIMEOUTS"] = config.get_store_timeouts()
    if "AIRFLOW_HITL" in missing:
        values["AIRFLOW_HITL"] = _airflow_hitl_bridge()
    instagram_found = True
    if {"APP_SECRETS", "VERIFY_TOKEN"} & set(missing):
        secrets: list[str] = []
        tokens: list[str] = []
        extras = _connection_extras(conn_id, [cid for cid in others.values() if cid])
        instagram_found = conn_id in extras
        for extra in extras.values():
            secrets += [secret for secret in split_secrets(extra.get("app_secret")) if secret not in secrets]
            token = verify_token_of(extra)
            if token and token not in tokens:
                tokens.append(token)
        if "APP_SECRETS" in missing:
            values["APP_SECRETS"] = secrets
        if "VERIFY_TOKEN" in missing:
            values["VERIFY_TOKEN"] = tokens[0] if len(tokens) == 1 else (tokens or None)
    if "CONN_ID" in missing:
        values["CONN_ID"] = conn_id if instagram_found else None
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


def _connection_extras(conn_id: str, channel_conn_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The extras of the Instagram connection and the other channels' connections, by connection id.

    A missing Instagram connection is skipped (with a warning) when another channel's connection exists;
    any other connection that cannot be read is an error.
    """
    extras: dict[str, dict[str, Any]] = {}
    for cid in channel_conn_ids:
        if cid not in extras:
            extras[cid] = _connection_extra(cid)
    if conn_id not in extras:
        try:
            extras = {conn_id: _connection_extra(conn_id), **extras}
        except WebhookConfigError:
            if not channel_conn_ids:
                raise
            log.warning(
                "No Instagram connection %r: serving the Messenger/WhatsApp connection(s) %s only",
                conn_id,
                ", ".join(channel_conn_ids),
            )
    return extras


def _connection_extra(conn_id: str) -> dict[str, Any]:
    from airflow_provider_instagram_hil.version_compat import BaseHook

    try:
        connection = BaseHook.get_connection(conn_id)
        extra = connection.extra_dejson
    except Exception as exc:
        # Not found, or a secrets backend failing: say which connection, never what it holds.
        raise WebhookConfigError(
            f"Cannot read the Airflow connection {conn_id!r} ({type(exc).__name__}). Create it (type "
            "instagram, messenger or whatsapp) with app_secret and verify_token in its extra, or set "
            "[instagram_hil] conn_id / messenger_conn_id / whatsapp_conn_id."
        ) from None
    return extra if isinstance(extra, dict) else {}


#: How long a reply thread keeps its hook before reading the connection again.
HOOK_TTL_SECONDS = 300.0
#: A reply's own retries stay well inside the outbox sender's lease; the outbox retries later.
REPLY_RETRY_DEADLINE = 15.0


class HookReplies:
    """Replies on the channel a tap came from, through that channel's hook.

    Instagram replies go through ``InstagramHook(conn_id)``; Messenger replies through
    ``MessengerHook(messenger_conn_id)``, or, without one, through the Instagram connection (with Facebook
    Login, one Page token serves both); WhatsApp replies through ``WhatsAppHook(whatsapp_conn_id)``. Each
    thread reuses its hook of a channel (and its connection pool) for ``ttl`` seconds, so a renewed token
    is picked up without a restart.

    :param conn_id: the Instagram connection, or None when there is none.
    :param ttl: seconds a thread reuses a hook before building a new one.
    :param messenger_conn_id: the Messenger connection, if configured.
    :param whatsapp_conn_id: the WhatsApp connection, if configured.
    """

    def __init__(
        self,
        conn_id: str | None,
        ttl: float = HOOK_TTL_SECONDS,
        *,
        messenger_conn_id: str | None = None,
        whatsapp_conn_id: str | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.ttl = ttl
        # channel -> (the channel whose hook sends, its connection)
        self.routes: dict[str, tuple[str, str]] = {}
        if conn_id:
            self.routes["instagram"] = ("instagram", conn_id)
            self.routes["messenger"] = ("instagram", conn_id)
        if messenger_conn_id:
            self.routes["messenger"] = ("messenger", messenger_conn_id)
        if whatsapp_conn_id:
            self.routes["whatsapp"] = ("whatsapp", whatsapp_conn_id)
        self._local = threading.local()

    @property
    def channels(self) -> frozenset[str]:
        """The channels replies can go out on."""
        return frozenset(self.routes)

    def _hook(self, channel: str) -> Any:
        route = self.routes.get(channel)
        if route is None:
            raise WebhookConfigError(
                f"No connection to reply on {channel}: set [instagram_hil] {channel}_conn_id"
            )
        now = time.monotonic()
        hooks = self._local.__dict__.setdefault("hooks", {})
        hook, built_at = hooks.get(route, (None, 0.0))
        if hook is None or now - built_at > self.ttl:
            if hook is not None:
                hook.close()
            hook = get_channel(route[0]).make_hook(
                route[1], retry_deadline=REPLY_RETRY_DEADLINE, max_attempts=3
            )
            hooks[route] = (hook, now)
        return hook

    def send(self, channel: str, recipient_id: str, text: str) -> str | None:
        """Send ``text`` on ``channel``; return Meta's message id."""
        return get_channel(channel).send_reply(self._hook(channel), recipient_id, text)

    def send_prompt(
        self,
        channel: str,
        recipient_id: str,
        text: str,
        request_id: str,
        options: Sequence[str],
        *,
        persistent_buttons: bool = False,
    ) -> str | None:
        """Send an approval prompt with one button per option on ``channel`` (``persistent_buttons``: the
        channel's variant whose buttons stay tappable); return Meta's message id."""
        prompting = get_channel(channel, persistent_buttons=persistent_buttons)
        return prompting.send_prompt(self._hook(channel), recipient_id, text, request_id, options)

    def count_sent(self, channel: str, recipient_id: str, text: str, since: datetime) -> int | None:
        """How many messages with ``text`` went to ``recipient_id`` since ``since``, per Meta; None when the
        channel cannot tell (WhatsApp)."""
        found = get_channel(channel).count_sent(self._hook(channel), recipient_id, text, since)
        return None if found is None else int(found)
