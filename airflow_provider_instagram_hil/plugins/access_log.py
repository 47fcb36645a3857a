"""Keep the verify token out of the API server's access log, on every Airflow line.

Meta's subscription handshake carries the verify token in the query string
(``GET .../webhooks/instagram?hub.verify_token=...``). Airflow 3.3's access log redacts secret-looking
query parameters; on 3.1 (uvicorn's access log) and 3.2 (Airflow's ``http.access`` log) the whole query
is written out. Both read ``scope["query_string"]`` of the request's ASGI scope, the same dict the
mounted app receives. :class:`RedactQueryForAccessLog` hands the app a copy with the real query and
leaves the redacted one in the shared scope, for the access log to read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

#: A query parameter whose name holds one of these has its value replaced, as Airflow's masker does.
SENSITIVE_NAME_PARTS = ("token", "secret", "password", "passwd", "signature", "api_key", "apikey")
REDACTED = "***"


def is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in SENSITIVE_NAME_PARTS)


def redact_query(query: str) -> str:
    """Return ``query`` with the values of sensitive parameters replaced by ``***``."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(is_sensitive(name) for name, _ in pairs):
        return query
    return urlencode([(n, REDACTED if is_sensitive(n) else v) for n, v in pairs], safe="*")


class RedactQueryForAccessLog:
    """ASGI middleware: the app sees the request's query, the server's access log a redacted one.

    :param app: the ASGI application to call.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        raw = scope.get("query_string") or b""
        if scope.get("type") != "http" or not raw:
            await self.app(scope, receive, send)
            return
        inner = dict(scope)
        redacted = redact_query(raw.decode("latin-1"))
        scope["query_string"] = redacted.encode("latin-1")
        await self.app(inner, receive, send)
