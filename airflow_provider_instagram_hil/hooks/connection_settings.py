"""A Graph API connection (Instagram, Messenger or WhatsApp) read into settings: host, API version,
sending account, timeout, secrets."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.version_compat import Connection

DEFAULT_HOST = "https://graph.facebook.com"
FACEBOOK_GRAPH_HOST = "graph.facebook.com"
INSTAGRAM_GRAPH_HOST = "graph.instagram.com"
DEFAULT_API_VERSION = "v25.0"
DEFAULT_ACCOUNT_ID = "me"
DEFAULT_TIMEOUT = 30.0

_API_VERSION_RE = re.compile(r"^v\d+\.\d+$")
_ACCOUNT_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class ConnectionSettings:
    """The connection, parsed and merged with arguments and defaults; secrets stay out of ``repr``."""

    base_url: str
    api_version: str
    account_id: str
    timeout: float
    token: str | None = field(repr=False)
    app_secrets: tuple[str, ...] = field(repr=False)
    verify_token: str | None = field(repr=False)


def app_secrets_of(raw: object) -> tuple[str, ...]:
    """The app secrets of a connection extra or a config value: a list, or one string with commas
    (several secrets: rotation, or one Meta app per channel); blanks dropped."""
    if isinstance(raw, (list, tuple)):
        return tuple(str(s).strip() for s in raw if not _blank(s))
    if _blank(raw):
        return ()
    return tuple(s.strip() for s in str(raw).split(",") if s.strip())


def verify_token_of(extra: Mapping[str, Any]) -> str | None:
    """The webhook verify token of a connection extra; None when it has none."""
    raw = extra.get("verify_token")
    return None if _blank(raw) else str(raw)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_connection_settings(
    conn: Connection,
    timeout: float | None,
    *,
    label: str = "Instagram",
    account_field: str = "account_id",
    default_account: str | None = DEFAULT_ACCOUNT_ID,
) -> ConnectionSettings:
    """Merge argument > connection extra > default; raise ``ValueError`` naming the bad field.

    :param conn: the Airflow connection (type ``instagram``, ``messenger`` or ``whatsapp``).
    :param timeout: the hook's ``timeout`` argument; when given it wins over the ``timeout`` extra.
    :param label: how messages name the connection's type, e.g. ``"WhatsApp"``.
    :param account_field: the extra naming the sending account (``account_id``, ``phone_number_id``).
    :param default_account: the account when that extra is empty; None makes it required.
    """
    where = f"{label} connection {conn.conn_id!r}"
    extra = conn.extra_dejson
    host = (conn.host or "").strip().rstrip("/") or DEFAULT_HOST
    if "://" not in host:
        host = f"https://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where}: host must be an http(s) URL such as {DEFAULT_HOST}")
    if conn.port and parts.port is None:
        host = f"{host}:{conn.port}"

    api_version = (
        DEFAULT_API_VERSION if _blank(extra.get("api_version")) else str(extra["api_version"]).strip()
    )
    if not _API_VERSION_RE.match(api_version):
        raise ValueError(f"{where}: extra 'api_version' must look like 'v25.0', got {api_version[:20]!r}")
    raw_account = extra.get(account_field)
    if _blank(raw_account) and default_account is None:
        raise ValueError(f"{where}: extra '{account_field}' is required")
    account_id = default_account if _blank(raw_account) else str(raw_account).strip()
    assert account_id is not None
    if not _ACCOUNT_ID_RE.match(account_id) or (default_account is None and not account_id.isdigit()):
        expected = (
            "a numeric ID" if default_account is None else "'me' or a numeric Page / Instagram account ID"
        )
        raise ValueError(f"{where}: extra '{account_field}' must be {expected}")

    if timeout is None:
        raw = DEFAULT_TIMEOUT if _blank(extra.get("timeout")) else extra["timeout"]
        try:
            timeout = float(raw)
        except (TypeError, ValueError):
            raise ValueError(
                f"{where}: extra 'timeout' must be a number of seconds, got {raw!r:.20}"
            ) from None
        if isinstance(raw, bool) or not 0 < timeout < math.inf:
            raise ValueError(f"{where}: extra 'timeout' must be a positive number of seconds")

    app_secrets = app_secrets_of(extra.get("app_secret"))
    verify_token = verify_token_of(extra)
    token = (conn.password or "").strip() or None
    return ConnectionSettings(host, api_version, account_id, timeout, token, app_secrets, verify_token)
