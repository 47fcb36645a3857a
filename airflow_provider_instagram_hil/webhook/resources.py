"""What the webhook shares between requests: the store, the secrets and the outbox sender.

Built once by ``create_app()`` from the ``INSTAGRAM_HIL_*`` config keys and kept in
``app.extensions["instagram_hil"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from airflow_provider_instagram_hil.hitl.bridge import HitlBridge
from airflow_provider_instagram_hil.store import DecisionStore
from airflow_provider_instagram_hil.store.engine import StoreTimeouts, build_engine
from airflow_provider_instagram_hil.store.urls import display_url
from airflow_provider_instagram_hil.webhook.sender import DEFAULT_POLL_INTERVAL, DEFAULT_THREADS, OutboxSender
from airflow_provider_instagram_hil.webhook.settings import (
    CHANNEL_CONN_KEYS,
    HookReplies,
    WebhookConfigError,
    split_secrets,
)

log = logging.getLogger("airflow_provider_instagram_hil.webhook")

CONFIG_PREFIX = "INSTAGRAM_HIL_"
EXTENSION_NAME = "instagram_hil"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_REPLY_THREADS = DEFAULT_THREADS
DEFAULT_OUTBOX_POLL_INTERVAL = DEFAULT_POLL_INTERVAL
#: Channels replies go out on by default: those the Instagram connection reaches (a Page token serves
#: Messenger too); WhatsApp is added when a WhatsApp connection is configured.
REPLY_CHANNELS = frozenset({"instagram", "messenger"})
KNOWN_CHANNELS = frozenset({"instagram", "messenger", "whatsapp"})


@dataclass
class WebhookResources:
    """What one webhook app shares between requests (thread-safe).

    :param store: where decisions are recorded.
    :param app_secrets: every secret a valid signature may use (rotation, and one app per channel).
    :param verify_token: the subscription handshake token; None refuses every handshake.
    :param max_body_bytes: larger bodies get 413 before being read.
    :param sender: delivers the outbox (replies to reviewers); None when replies are off.
    :param reply_channels: channels replies are queued for.
    :param airflow_hitl: answers Airflow's own human-in-the-loop tasks; None when the webhook has none.
    """

    store: DecisionStore
    app_secrets: tuple[str, ...]
    verify_token: str | None
    max_body_bytes: int
    sender: OutboxSender | None
    reply_channels: frozenset[str] = REPLY_CHANNELS
    airflow_hitl: HitlBridge | None = None
    verify_tokens: tuple[str, ...] = ()
    """Every token a handshake may carry (each channel's subscription may use its own); the first is
    ``verify_token``."""

    def __post_init__(self) -> None:
        if self.verify_token and self.verify_token not in self.verify_tokens:
            self.verify_tokens = (self.verify_token, *self.verify_tokens)

    def close(self, timeout: float | None = 5.0) -> None:
        """Give sends in flight ``timeout`` seconds, then release the store's connections.

        Replies not sent yet stay in the outbox for the next webhook process.
        """
        if self.sender is not None:
            self.sender.stop(timeout)
        if self.airflow_hitl is not None:
            self.airflow_hitl.close()
        self.store.dispose()


def get_resources(app: Flask | None = None) -> WebhookResources:
    """The :class:`WebhookResources` of ``app`` (default: the app handling the current request)."""
    resources = (app or current_app).extensions[EXTENSION_NAME]
    assert isinstance(resources, WebhookResources)
    return resources


def build_resources(config: Mapping[str, Any]) -> WebhookResources:
    """Validate the ``INSTAGRAM_HIL_*`` keys of ``config`` and build the shared resources.

    :raises WebhookConfigError: naming the key that is missing or wrong.
    """

    def key(name: str) -> Any:
        return config.get(CONFIG_PREFIX + name)

    conn_id = key("CONN_ID")
    secrets = tuple(split_secrets(key("APP_SECRETS")))
    if not secrets:
        raise WebhookConfigError(_no_secret_message(conn_id))
    tokens = _verify_tokens(key("VERIFY_TOKEN"))
    max_body_bytes = key("MAX_BODY_BYTES")
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes <= 0:
        raise WebhookConfigError(f"{CONFIG_PREFIX}MAX_BODY_BYTES must be a positive integer")
    store = _build_store(key("STORE_URL"), key("STORE_TIMEOUTS"))
    sender, channels = _build_sender(config, store, conn_id)
    return WebhookResources(
        store=store,
        app_secrets=secrets,
        verify_token=tokens[0] if tokens else None,
        max_body_bytes=max_body_bytes,
        sender=sender,
        reply_channels=channels,
        verify_tokens=tokens,
        airflow_hitl=_airflow_hitl(key("AIRFLOW_HITL")),
    )


def _verify_tokens(value: object) -> tuple[str, ...]:
    """The handshake tokens: one string, or a list of them (one per channel connection)."""
    if value is None or value == "":
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(item, str) for item in values):
        raise WebhookConfigError(f"{CONFIG_PREFIX}VERIFY_TOKEN must be a string or a list of strings")
    return tuple(dict.fromkeys(item for item in values if item))


def _no_secret_message(conn_id: object) -> str:
    """Say where the app secret goes: the connection's extra, however that connection is defined."""
    if conn_id is None:
        return (
            "No app secret configured, so no webhook signature can be checked. Put the Meta app secret (App "
            "settings > Basic) into the extra field app_secret of the connection named by [instagram_hil] "
            "conn_id, messenger_conn_id or whatsapp_conn_id."
        )
    if isinstance(conn_id, str) and conn_id:
        where = f"the Airflow connection {conn_id!r}"
        env = f"AIRFLOW_CONN_{conn_id.upper()}"
    else:
        where = "the Airflow connection named by [instagram_hil] conn_id (default 'instagram_default')"
        env = "AIRFLOW_CONN_<CONN_ID>"
    return (
        "No app secret configured, so no webhook signature can be checked. Put the Meta app secret "
        f"(App settings > Basic) into the extra field app_secret of {where}: in the Airflow UI, with "
        f"'airflow connections add', in the JSON of the {env} environment variable, or in your secrets "
        "backend."
    )


def _build_store(url: object, timeouts: object = None) -> DecisionStore:
    if not isinstance(url, str) or not url.strip():
        raise WebhookConfigError(
            f"{CONFIG_PREFIX}STORE_URL must be a SQLAlchemy URL, e.g. sqlite:////path/db"
        )
    if timeouts is not None and not isinstance(timeouts, StoreTimeouts):
        raise WebhookConfigError(f"{CONFIG_PREFIX}STORE_TIMEOUTS must be a StoreTimeouts")
    try:
        return DecisionStore(url.strip(), engine=build_engine(url.strip(), timeouts))
    except Exception as exc:  # unparsable URL, driver not installed, ...
        raise WebhookConfigError(
            f"Cannot use the decision store {display_url(url)} ({type(exc).__name__}): check "
            "[instagram_hil] store_url and that its database driver is installed."
        ) from None


def _airflow_hitl(bridge: object) -> HitlBridge | None:
    if bridge is not None and not isinstance(bridge, HitlBridge):
        raise WebhookConfigError(f"{CONFIG_PREFIX}AIRFLOW_HITL must be a HitlBridge or None")
    return bridge


def _build_sender(
    config: Mapping[str, Any], store: DecisionStore, conn_id: object
) -> tuple[OutboxSender | None, frozenset[str]]:
    """The outbox sender, and the channels replies are queued for."""
    channel_conns = {
        channel: config.get(CONFIG_PREFIX + key) or None for channel, key in CHANNEL_CONN_KEYS.items()
    }
    for channel, value in channel_conns.items():
        if value is not None and not isinstance(value, str):
            raise WebhookConfigError(f"{CONFIG_PREFIX}{CHANNEL_CONN_KEYS[channel]} must name a connection")
    channels = _reply_channels(config.get(CONFIG_PREFIX + "REPLY_CHANNELS"), channel_conns)
    if not config.get(CONFIG_PREFIX + "SEND_REPLIES", True):
        return None, channels
    send = config.get(CONFIG_PREFIX + "REPLY_SENDER")
    check = config.get(CONFIG_PREFIX + "REPLY_CHECKER")
    prompt = None
    if send is None:
        if conn_id is not None and (not isinstance(conn_id, str) or not conn_id):
            raise WebhookConfigError(f"{CONFIG_PREFIX}CONN_ID must name the connection that sends replies")
        if conn_id is None and not any(channel_conns.values()):
            raise WebhookConfigError(f"{CONFIG_PREFIX}CONN_ID must name the connection that sends replies")
        replies = HookReplies(
            conn_id,
            messenger_conn_id=channel_conns["messenger"],
            whatsapp_conn_id=channel_conns["whatsapp"],
        )
        send, check, prompt = replies.send, replies.count_sent, replies.send_prompt
        if config.get(CONFIG_PREFIX + "REPLY_CHANNELS") is None:
            channels = replies.channels
    elif not callable(send):
        raise WebhookConfigError(f"{CONFIG_PREFIX}REPLY_SENDER must be a send(channel, recipient_id, text)")
    else:  # its send_prompt(channel, recipient_id, text, request_id, options), if any, sends kept prompts
        prompt = getattr(send, "send_prompt", None)
    if check is not None and not callable(check):
        raise WebhookConfigError(
            f"{CONFIG_PREFIX}REPLY_CHECKER must be a count(channel, recipient_id, text, since)"
        )
    threads = config.get(CONFIG_PREFIX + "REPLY_THREADS") or DEFAULT_REPLY_THREADS
    poll = config.get(CONFIG_PREFIX + "OUTBOX_POLL_INTERVAL") or DEFAULT_OUTBOX_POLL_INTERVAL
    sender = OutboxSender(
        store.outbox, send, check=check, prompt=prompt, threads=threads, poll_interval=poll
    ).start()
    return sender, channels


def _reply_channels(value: object, channel_conns: Mapping[str, str | None]) -> frozenset[str]:
    """``REPLY_CHANNELS`` when given, else Instagram and Messenger, plus WhatsApp with its connection."""
    if value is None:
        return REPLY_CHANNELS | ({"whatsapp"} if channel_conns.get("whatsapp") else set())
    items = list(value) if isinstance(value, (list, tuple, set, frozenset)) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise WebhookConfigError(f"{CONFIG_PREFIX}REPLY_CHANNELS must be a list of channel names")
    unknown = set(items) - KNOWN_CHANNELS
    if unknown:
        raise WebhookConfigError(f"{CONFIG_PREFIX}REPLY_CHANNELS: unknown channel(s) {sorted(unknown)}")
    return frozenset(str(item) for item in items)
