"""Request bodies cross the a2wsgi bridge whole, chunked ones included."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from a2wsgi import WSGIMiddleware
from flask import Flask, jsonify, request

from airflow_provider_instagram_hil.plugins.asgi import TerminatedInput, wsgi_to_asgi

MAX_BODY = 64 * 1024


@pytest.fixture
def echo_app() -> Flask:
    """A Flask app that reports the body it read, as the webhook reads it (``get_data``)."""
    app = Flask("echo")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY

    @app.post("/webhooks/instagram")
    def echo():
        body = request.get_data()
        return jsonify(length=len(body), sha256=hashlib.sha256(body).hexdigest())

    return app


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _post(asgi_app, body: bytes, *, chunked: bool, chunk_size: int = 1000) -> httpx.Response:
    async def _send() -> httpx.Response:
        transport = httpx.ASGITransport(app=asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://airflow.test") as client:
            content = _chunks(body, chunk_size) if chunked else body
            return await client.post("/webhooks/instagram", content=content)

    return asyncio.run(_send())


BODY = b'{"object":"instagram","entry":[' + b",".join(b'{"id":"%d"}' % i for i in range(2000)) + b"]}"


class TestWsgiToAsgi:
    @pytest.mark.parametrize(
        "chunked", [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")]
    )
    def test_body_arrives_whole(self, echo_app, chunked):
        response = _post(wsgi_to_asgi(echo_app), BODY, chunked=chunked)
        assert response.status_code == 200
        assert response.json() == {"length": len(BODY), "sha256": hashlib.sha256(BODY).hexdigest()}

    def test_chunked_request_really_is_chunked(self, echo_app):
        seen: list[dict] = []

        async def spy(scope, receive, send):
            seen.append(dict(scope["headers"]))
            await wsgi_to_asgi(echo_app)(scope, receive, send)

        _post(spy, BODY, chunked=True)
        assert seen[0].get(b"transfer-encoding") == b"chunked"
        assert b"content-length" not in seen[0]

    def test_without_the_shim_a_chunked_body_is_lost(self, echo_app):
        # Why TerminatedInput exists: Werkzeug reads no body without Content-Length unless told it may.
        response = _post(WSGIMiddleware(echo_app), BODY, chunked=True)
        assert response.json()["length"] == 0

    def test_max_content_length_bounds_chunked_bodies(self, echo_app):
        # Werkzeug cuts a chunked body at MAX_CONTENT_LENGTH (memory stays bounded); a cut body then
        # fails the webhook's signature check. Without the shim no limit could apply: it reads nothing.
        response = _post(wsgi_to_asgi(echo_app), b"x" * (4 * MAX_BODY), chunked=True, chunk_size=4096)
        assert response.json()["length"] == MAX_BODY


class TestTerminatedInput:
    def test_sets_flag_and_passes_through(self):
        calls = []

        def app(environ, start_response):
            calls.append(environ["wsgi.input_terminated"])
            start_response("204 No Content", [])
            return [b""]

        result = TerminatedInput(app)({}, lambda status, headers, exc_info=None: None)
        assert result == [b""]
        assert calls == [True]
