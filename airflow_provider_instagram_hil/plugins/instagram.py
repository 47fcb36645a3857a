"""The Airflow plugin: serves the Instagram webhook from Airflow's own API server, when asked to.

Registered through the ``airflow.plugins`` entry point (see ``pyproject.toml``), so it loads with the
default ``[core] lazy_discover_providers = True``. Airflow imports it in every process that loads
plugins, task workers included, so importing it is cheap and can never fail: the webhook app is built
only when the API server reads :attr:`InstagramHilPlugin.fastapi_apps`, and only when
``[instagram_hil] serve_in_api_server`` is true. A configuration problem is logged and mounts nothing.

Airflow puts no authentication in front of plugin apps: the ``X-Hub-Signature-256`` check (and the
verify token for the handshake) in the webhook is the only gate.
"""

from __future__ import annotations

import logging
import re
from functools import cached_property
from typing import Any

from airflow_provider_instagram_hil.config import SECTION
from airflow_provider_instagram_hil.version_compat import (
    AirflowPlugin,
    api_server_reserved_url_prefixes,
    conf,
)

log = logging.getLogger(__name__)

PLUGIN_NAME = "instagram_hil"
DEFAULT_URL_PREFIX = "/instagram-hil"
#: Paths the API server serves itself (a plugin app there would be shadowed), besides the ones it refuses
#: to mount under (:func:`~airflow_provider_instagram_hil.version_compat.api_server_reserved_url_prefixes`).
RESERVED_URL_PREFIXES = ("/api", "/ui", "/execution", "/auth", "/pluginsv2", "/static", "/docs", "/redoc")
_URL_PREFIX_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")


class PluginConfigError(ValueError):
    """An ``[instagram_hil]`` option that decides what the plugin mounts is invalid."""


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


def build_webhook_asgi_app() -> Any:
    """Build the webhook Flask app (configured from Airflow) and wrap it for the ASGI API server.

    Bodies are read whole in the event loop, within the webhook's size limit and
    ``[instagram_hil] body_read_timeout``, before a request gets one of the bridge's threads. When the API
    server stops (its lifespan ends), the webhook's reply sender and store are released.
    """
    from airflow_provider_instagram_hil.config import get_body_read_timeout
    from airflow_provider_instagram_hil.plugins.asgi import DEFAULT_MAX_BODY_BYTES, wsgi_to_asgi
    from airflow_provider_instagram_hil.webhook import create_app, get_state

    read_timeout = get_body_read_timeout()
    app = create_app()
    max_body_bytes = int(app.config.get("INSTAGRAM_HIL_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
    return wsgi_to_asgi(
        app,
        max_body_bytes=max_body_bytes,
        read_timeout=read_timeout,
        on_shutdown=lambda: _release(get_state(app)),
    )


def _release(state: Any) -> None:
    """Stop the reply sender (sends in flight get a few seconds) and close the store's connections."""
    state.close()
    log.info("Instagram webhook stopped with the API server: reply sender and decision store released")


def build_fastapi_apps() -> list[dict[str, Any]]:
    """Return the plugin's ``fastapi_apps``: the webhook at ``url_prefix``, or nothing.

    Never raises: Airflow must start even when this provider is misconfigured.
    """
    try:
        if not serve_in_api_server():
            log.debug("[%s] serve_in_api_server is off: the webhook is not mounted", SECTION)
            return []
        prefix = get_url_prefix()
    except PluginConfigError as exc:
        log.error("Instagram webhook not mounted in the API server: %s", exc)
        return []
    except Exception:
        log.exception("Instagram webhook not mounted in the API server: cannot read [%s]", SECTION)
        return []
    try:
        app = build_webhook_asgi_app()
    except Exception as exc:
        # A missing secret is a configuration error, not a bug: the message says what to fix, and the
        # traceback is only worth printing at DEBUG.
        log.error(
            "Instagram webhook not mounted in the API server at %s: %s: %s. Fix the [%s] options or the "
            "connection they name, then restart the API server.",
            prefix,
            type(exc).__name__,
            exc,
            SECTION,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        return []
    from airflow_provider_instagram_hil.webhook import WEBHOOK_PATH

    log.info("Instagram webhook mounted in the API server at %s%s", prefix, WEBHOOK_PATH)
    return [{"app": app, "url_prefix": prefix, "name": PLUGIN_NAME}]


class InstagramHilPlugin(AirflowPlugin):
    """Mounts the Instagram webhook in Airflow's API server when ``serve_in_api_server`` is on.

    The operator's "Instagram request" extra link needs no registration here: on Airflow 3 the worker
    computes the URL when the task finishes or defers and stores it in XCom, and the API server
    rebuilds the link from its name and XCom key alone.
    """

    name = PLUGIN_NAME

    @cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """Built on first read, which only the API server (and ``airflow plugins``) do."""
        return build_fastapi_apps()
