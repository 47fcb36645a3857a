"""The ``[instagram_hil]`` configuration section, read through Airflow's config."""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_instagram_hil.store import DecisionStore
from airflow_provider_instagram_hil.store.engine import StoreTimeouts
from airflow_provider_instagram_hil.version_compat import conf

SECTION = "instagram_hil"
DEFAULT_CONN_ID = "instagram_default"
DEFAULT_POLL_INTERVAL = 2.0
STORE_FILE_NAME = "instagram_hil.db"


def airflow_home() -> Path:
    """Return AIRFLOW_HOME as Airflow resolves it."""
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()


def get_store_url() -> str:
    """Return ``[instagram_hil] store_url``, or the embedded SQLite file under AIRFLOW_HOME."""
    url = conf.get(SECTION, "store_url", fallback="") or ""
    if url.strip():
        return url.strip()
    return f"sqlite:///{airflow_home() / STORE_FILE_NAME}"


def shared_store(url: str | None = None) -> DecisionStore:
    """The process-wide decision store: ``url`` when given (an operator's ``store_url``), else
    ``[instagram_hil] store_url``; with the ``store_*_timeout`` limits."""
    return DecisionStore.for_url(url or get_store_url(), get_store_timeouts())


def get_conn_id() -> str:
    """Return ``[instagram_hil] conn_id``: the connection the webhook reads its secrets from."""
    return (conf.get(SECTION, "conn_id", fallback="") or DEFAULT_CONN_ID).strip()


def get_channel_conn_id(channel: str) -> str | None:
    """Return ``[instagram_hil] messenger_conn_id`` or ``whatsapp_conn_id``: the webhook's connection of
    that channel, or None when it is not configured.

    :param channel: ``messenger`` or ``whatsapp``.
    """
    value = (conf.get(SECTION, f"{channel}_conn_id", fallback="") or "").strip()
    return value or None


def get_poll_interval() -> float:
    """Return ``[instagram_hil] poll_interval`` in seconds."""
    value = conf.getfloat(SECTION, "poll_interval", fallback=DEFAULT_POLL_INTERVAL)
    if value <= 0:
        raise ValueError(f"[{SECTION}] poll_interval must be positive, got {value}")
    return value


#: ``[instagram_hil]`` option -> :class:`StoreTimeouts` field.
STORE_TIMEOUT_OPTIONS = {
    "store_connect_timeout": "connect",
    "store_statement_timeout": "statement",
    "store_lock_timeout": "lock",
    "store_pool_timeout": "pool",
}


def get_store_timeouts() -> StoreTimeouts:
    """Return the decision store's time limits from ``[instagram_hil] store_*_timeout`` (seconds).

    :raises ValueError: naming the option that is not a positive number.
    """
    defaults = StoreTimeouts()
    values: dict[str, float] = {}
    for option, field in STORE_TIMEOUT_OPTIONS.items():
        value = conf.getfloat(SECTION, option, fallback=getattr(defaults, field))
        if not value > 0:
            raise ValueError(f"[{SECTION}] {option} must be a positive number of seconds, got {value}")
        values[field] = value
    return StoreTimeouts(**values)


DEFAULT_BODY_READ_TIMEOUT = 10.0


def get_body_read_timeout() -> float:
    """Return ``[instagram_hil] body_read_timeout``: seconds a client has to send a request body."""
    value = conf.getfloat(SECTION, "body_read_timeout", fallback=DEFAULT_BODY_READ_TIMEOUT)
    if not 0 < value < float("inf"):
        raise ValueError(f"[{SECTION}] body_read_timeout must be a positive number of seconds, got {value}")
    return value


def get_airflow_api_url() -> str:
    """Return ``[instagram_hil] airflow_api_url``, else ``[api] base_url``: Airflow's API server."""
    url = (conf.get(SECTION, "airflow_api_url", fallback="") or "").strip()
    if not url:
        url = (conf.get("api", "base_url", fallback="") or "").strip() or "http://localhost:8080"
    return url.rstrip("/")


def get_airflow_api_conn_id() -> str | None:
    """Return ``[instagram_hil] airflow_api_conn_id``, or None: sign tokens for reviewers' own users."""
    return (conf.get(SECTION, "airflow_api_conn_id", fallback="") or "").strip() or None
