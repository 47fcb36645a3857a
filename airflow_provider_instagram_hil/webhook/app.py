"""``create_app()``: the Flask app that turns Meta webhook deliveries into recorded decisions."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from airflow_provider_instagram_hil.webhook.blueprint import webhook_blueprint
from airflow_provider_instagram_hil.webhook.resources import (
    CONFIG_PREFIX,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_REPLY_THREADS,
    EXTENSION_NAME,
    build_resources,
)
from airflow_provider_instagram_hil.webhook.settings import CHANNEL_CONN_KEYS, load_from_airflow
from airflow_provider_instagram_hil.webhook.status import status_blueprint

log = logging.getLogger("airflow_provider_instagram_hil.webhook")

DEFAULTS: dict[str, Any] = {
    f"{CONFIG_PREFIX}SEND_REPLIES": True,
    f"{CONFIG_PREFIX}MAX_BODY_BYTES": DEFAULT_MAX_BODY_BYTES,
    f"{CONFIG_PREFIX}REPLY_THREADS": DEFAULT_REPLY_THREADS,
    f"{CONFIG_PREFIX}STATUS_PAGE": True,
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the webhook app.

    Config keys (all prefixed ``INSTAGRAM_HIL_``): ``APP_SECRETS`` (list, or comma-separated string),
    ``VERIFY_TOKEN`` (one, or a list: one per channel's subscription), ``STORE_URL``, ``STORE_TIMEOUTS`` (a
    :class:`~airflow_provider_instagram_hil.store.engine.StoreTimeouts`, default: read from Airflow with
    the URL, else the defaults), ``CONN_ID`` (the Instagram connection that replies to reviewers),
    ``MESSENGER_CONN_ID`` and ``WHATSAPP_CONN_ID`` (the other channels' connections: their secrets and
    tokens count too, and replies on their channel go through them), ``REPLY_CHANNELS`` (channels replies
    are queued for; default: those with a connection),
    ``SEND_REPLIES`` (default True), ``MAX_BODY_BYTES`` (default 1 MiB), ``REPLY_THREADS`` (default 2),
    ``STATUS_PAGE`` (default True: serve ``GET /requests/<request_id>``),
    ``REPLY_SENDER`` (a ``send(channel, recipient_id, text) -> message id`` callable replacing the
    Instagram hook), ``OUTBOX_POLL_INTERVAL`` (default 2 s: how often the outbox is read for replies
    other processes queued). Keys absent from
    ``test_config`` are read from Airflow: the connections named by ``[instagram_hil] conn_id``,
    ``messenger_conn_id`` and ``whatsapp_conn_id``, and ``[instagram_hil] store_url``. Shared resources
    lives in ``app.extensions["instagram_hil"]``.

    :param test_config: config values that take precedence over the defaults and Airflow.
    :raises WebhookConfigError: no app secret, or another unusable setting.
    """
    app = Flask("airflow_provider_instagram_hil.webhook")
    app.config.from_mapping(DEFAULTS)
    if test_config is not None:
        app.config.from_mapping(test_config)
    missing = _missing_keys(app.config)
    if missing:
        conn_id = app.config.get(f"{CONFIG_PREFIX}CONN_ID")
        given = {
            channel: app.config[CONFIG_PREFIX + key]
            for channel, key in CHANNEL_CONN_KEYS.items()
            if CONFIG_PREFIX + key in app.config
        }
        for name, value in load_from_airflow(missing, conn_id, given).items():
            app.config[CONFIG_PREFIX + name] = value
    app.extensions[EXTENSION_NAME] = build_resources(app.config)
    app.register_blueprint(webhook_blueprint)
    if app.config[f"{CONFIG_PREFIX}STATUS_PAGE"]:
        app.register_blueprint(status_blueprint)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _missing_keys(config: Mapping[str, Any]) -> list[str]:
    """Keys to fetch from Airflow: the connection id whenever the hook or a secret comes from it."""
    needed = ["APP_SECRETS", "VERIFY_TOKEN", "STORE_URL", "AIRFLOW_HITL"]
    if config.get(f"{CONFIG_PREFIX}SEND_REPLIES") and config.get(f"{CONFIG_PREFIX}REPLY_SENDER") is None:
        needed.append("CONN_ID")
    missing = [name for name in needed if CONFIG_PREFIX + name not in config]
    secrets_missing = {"APP_SECRETS", "VERIFY_TOKEN"} & set(missing)
    if secrets_missing and "CONN_ID" not in missing and CONFIG_PREFIX + "CONN_ID" not in config:
        missing.append("CONN_ID")  # the secrets come from that connection: name it in messages
    if {"CONN_ID", "APP_SECRETS", "VERIFY_TOKEN"} & set(missing):
        # The other channels' connections add secrets and tokens, and send their replies.
        missing += [key for key in CHANNEL_CONN_KEYS.values() if CONFIG_PREFIX + key not in config]
    if "STORE_URL" in missing and CONFIG_PREFIX + "STORE_TIMEOUTS" not in config:
        # The store's time limits come from where its URL comes from; a given URL keeps the defaults.
        missing.append("STORE_TIMEOUTS")
    return missing


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    return jsonify(error=(exc.name or "error").lower()), exc.code or 500


def _unexpected_error(exc: Exception) -> ResponseReturnValue:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    # The type only: a message or traceback could quote the payload.
    rule = request.url_rule.rule if request.url_rule is not None else "-"
    log.error("Unhandled %s while answering %s %s", type(exc).__name__, request.method, rule)
    return jsonify(error="internal error"), 500
