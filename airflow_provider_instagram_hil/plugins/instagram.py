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
from functools import cached_property
from typing import Any

from airflow_provider_instagram_hil.config import (
    SECTION,
    PluginConfigError,
    get_url_prefix,
    serve_in_api_server,
)
from airflow_provider_instagram_hil.version_compat import AirflowPlugin

log = logging.getLogger(__name__)

PLUGIN_NAME = "instagram_hil"


def build_webhook_asgi_app() -> Any:
    """Build the webhook Flask app (configured from Airflow) and wrap it for the ASGI API server.

    Bodies are read whole in the event loop, within the webhook's size limit and
    ``[instagram_hil] body_read_timeout``, before a request gets one of the bridge's threads. When the API
    server stops (its lifespan ends), the webhook's reply sender and store are released.
    """
    from airflow_provider_instagram_hil.config import get_body_read_timeout
    from airflow_provider_instagram_hil.plugins.asgi import DEFAULT_MAX_BODY_BYTES, wsgi_to_asgi
    from airflow_provider_instagram_hil.webhook import create_app, get_resources

    read_timeout = get_body_read_timeout()
    app = create_app()
    max_body_bytes = int(app.config.get("INSTAGRAM_HIL_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
    return wsgi_to_asgi(
        app,
        max_body_bytes=max_body_bytes,
        read_timeout=read_timeout,
        on_shutdown=lambda: _release(get_resources(app)),
    )


def _release(resources: Any) -> None:
    """Stop the reply sender (sends in flight get a few seconds) and close the store's connections."""
    resources.close()
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
