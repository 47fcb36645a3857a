"""The verify token stays out of the API server's access log: the app sees the query, the log does not."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_instagram_hil.plugins.access_log import RedactQueryForAccessLog, redact_query

TOKEN = "verify-me-51ab"
HANDSHAKE = f"hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=42"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(HANDSHAKE, "hub.mode=subscribe&hub.verify_token=***&hub.challenge=42", id="handshake"),
        pytest.param(
            "access_token=a&client_secret=b&x=1", "access_token=***&client_secret=***&x=1", id="both"
        ),
        pytest.param("page=2&limit=10", "page=2&limit=10", id="nothing-sensitive-left-as-is"),
        pytest.param("", "", id="empty"),
    ],
)
def test_redact_query(query, expected):
    assert redact_query(query) == expected


def _call(query: bytes, scope_type: str = "http") -> tuple[dict, dict]:
    seen: dict = {}

    async def app(scope, receive, send):
        seen.update(scope)

    scope = {"type": scope_type, "path": "/instagram-hil/webhooks/instagram", "query_string": query}
    asyncio.run(RedactQueryForAccessLog(app)(scope, None, None))
    return scope, seen


def test_app_sees_the_token_and_the_shared_scope_does_not():
    outer, inner = _call(HANDSHAKE.encode())
    assert inner["query_string"] == HANDSHAKE.encode()
    assert TOKEN.encode() not in outer["query_string"]
    assert outer["query_string"] == b"hub.mode=subscribe&hub.verify_token=***&hub.challenge=42"


def test_requests_without_a_query_pass_through_untouched():
    outer, inner = _call(b"")
    assert outer == inner


def test_only_http_scopes_are_touched():
    outer, inner = _call(HANDSHAKE.encode(), scope_type="websocket")
    assert outer["query_string"] == inner["query_string"] == HANDSHAKE.encode()
