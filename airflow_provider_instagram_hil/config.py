"""The ``[instagram_hil]`` configuration section: the one module that reads Airflow's config and the
environment; every other module asks it."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from airflow_provider_instagram_hil.store import DecisionStore
from airflow_provider_instagram_hil.store.engine import StoreTimeouts
from airflow_provider_instagram_hil.store.urls import default_store_url
from airflow_provider_instagram_hil.version_compat import api_server_reserved_url_prefixes, conf

log = logging.getLogger(__name__)

SECTION = "instagram_hil"
DEFAULT_CONN_ID = "instagram_default"
DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_URL_PREFIX = "/instagram-hil"
#: Paths the API server serves itself (a plugin app there would be shadowed), besides the ones it refuses
#: to mount under (:func:`~airflow_provider_instagram_hil.version_compat.api_server_reserved_url_prefixes`).
RESERVED_URL_PREFIXES = ("/api", "/ui", "/execution", "/auth", "/pluginsv2", "/static", "/docs", "/redoc")
_URL_PREFIX_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")


class PluginConfigError(ValueError):
    """An ``[instagram_hil]`` option that decides what the plugin mounts is invalid."""


def airflow_home() -> Path:
    """Return AIRFLOW_HOME as Airflow resolves it."""
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()


def get_store_url(url: str | None = None) -> str:
    """Return the store URL that applies: ``url`` when given (an operator's or a command's), else
    ``[instagram_hil] store_url``, else the embedded SQLite file under AIRFLOW_HOME."""
    if url:
        return url
    configured = (conf.get(SECTION, "store_url", fallback="") or "").strip()
    return configured or default_store_url(airflow_home())


def shared_store(url: str | None = None) -> DecisionStore:
    """The process-wide decision store at :func:`get_store_url`, with the ``store_*_timeout`` limits."""
    return DecisionStore.for_url(get_store_url(url), get_store_timeouts())


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


def all_users_are_admins() -> bool:
    """Return ``[core] simple_auth_manager_all_admins``: the simple auth manager makes anyone an admin."""
    return conf.getboolean("core", "simple_auth_manager_all_admins", fallback=False)


def get_public_url() -> str | None:
    """Return ``[instagram_hil] public_url`` without its trailing slash, or None when unset or unusable.

    It is the public base URL of the webhook app, e.g. ``https://airflow.example.com/instagram-hil``.
    """
    raw = (conf.get(SECTION, "public_url", fallback="") or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        log.warning(
            "[%s] public_url must be an http(s) base URL such as https://airflow.example.com/instagram-hil; "
            "linking to the Instagram inbox instead",
            SECTION,
        )
        return None
    return raw.rstrip("/")


def serve_in_api_server() -> bool:
    """Return ``[instagram_hil] serve_in_api_server`` (default False).

    :raises PluginConfigError: when the value is not a boolean.
    """
    raw = conf.get(SECTION, "serve_in_api_server", fallback="False") or "False"
    value = raw.strip().lower()
    if value in ("true", "t", "1", "yes", "y", "on"):
        return True
    if value in ("false", "f", "0", "no", "n", "off", ""):
        return False
    raise PluginConfigError(f"[{SECTION}] serve_in_api_server must be True or False, got {raw!r}")


def get_url_prefix() -> str:
    """Return ``[instagram_hil] url_prefix``: where the webhook app is mounted, e.g. ``/instagram-hil``.

    :raises PluginConfigError: when the prefix is not a plain absolute path, is one the API server
        keeps for itself, or one it refuses to mount a plugin under. That last check is Airflow's own,
        as it makes it: the prefix string starts with a reserved one (so ``/uikit`` is refused too).
    """
    raw = conf.get(SECTION, "url_prefix", fallback=DEFAULT_URL_PREFIX) or DEFAULT_URL_PREFIX
    prefix = raw.strip().rstrip("/")
    if not _URL_PREFIX_RE.match(prefix) or any(part in (".", "..") for part in prefix.split("/")):
        raise PluginConfigError(
            f"[{SECTION}] url_prefix must be an absolute path such as {DEFAULT_URL_PREFIX}, got {raw!r}"
        )
    for reserved in RESERVED_URL_PREFIXES:
        if prefix == reserved or prefix.startswith(reserved + "/"):
            raise PluginConfigError(
                f"[{SECTION}] url_prefix {prefix!r} is inside {reserved}, which the Airflow API server "
                f"uses; pick another, e.g. {DEFAULT_URL_PREFIX}"
            )
    for refused in api_server_reserved_url_prefixes():
        if prefix.startswith(refused):
            raise PluginConfigError(
                f"[{SECTION}] url_prefix {prefix!r} starts with {refused!r}, under which the Airflow API "
                f"server refuses to mount plugin apps (it compares the text, not path segments); pick "
                f"another, e.g. {DEFAULT_URL_PREFIX}"
            )
    return prefix
