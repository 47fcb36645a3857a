"""Request bodies cross the a2wsgi bridge whole, chunked ones included."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from a2wsgi import WSGIMiddleware
from flask import Flask, jsonify, request

from airflow_provider_instagram_hil.plugins.asgi import BufferedBody, TerminatedInput, wsgi_to_asgi

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


class _Client:
    """Drives one ASGI HTTP request by hand: body messages when the test says so, answers recorded."""

    def __init__(self, content_length: int | None = None) -> None:
        headers = [] if content_length is None else [(b"content-length", str(content_length).encode())]
        self.scope = {"type": "http", "method": "POST", "path": "/webhooks/instagram", "headers": headers}
        self.incoming: asyncio.Queue[dict] = asyncio.Queue()
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        return await self.incoming.get()

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def chunk(self, body: bytes, more: bool = True) -> None:
        self.incoming.put_nowait({"type": "http.request", "body": body, "more_body": more})

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return starts[0]["status"] if starts else None


class _RecordingApp:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        message = await receive()
        self.bodies.append(message["body"])
        assert message["more_body"] is False
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class TestBufferedBody:
    def test_app_sees_the_request_only_once_the_body_is_complete(self):
        async def scenario() -> tuple[_RecordingApp, _Client, list[int]]:
            app, client = _RecordingApp(), _Client()
            middleware = BufferedBody(app, max_body_bytes=100, read_timeout=10)
            task = asyncio.create_task(middleware(client.scope, client.receive, client.send))
            seen = []
            for piece in (b"ab", b"cd"):
                client.chunk(piece)
                await asyncio.sleep(0)
                seen.append(len(app.bodies))
            client.chunk(b"ef", more=False)
            await task
            return app, client, seen

        app, client, seen = asyncio.run(scenario())
        assert seen == [0, 0]  # no thread (app call) while the body trickles in
        assert app.bodies == [b"abcdef"]
        assert client.status == 200

    def test_body_not_complete_in_time_gets_408(self):
        async def scenario() -> tuple[_RecordingApp, _Client, float]:
            app, client = _RecordingApp(), _Client()
            middleware = BufferedBody(app, max_body_bytes=100, read_timeout=0.2)
            client.chunk(b"{")
            started = asyncio.get_running_loop().time()
            await middleware(client.scope, client.receive, client.send)
            return app, client, asyncio.get_running_loop().time() - started

        app, client, elapsed = asyncio.run(scenario())
        assert client.status == 408
        assert app.bodies == []
        assert elapsed < 5

    @pytest.mark.parametrize(
        ("declared", "chunks"),
        [
            pytest.param(101, [], id="declared-length-unread"),
            pytest.param(None, [b"x" * 60, b"x" * 41], id="chunked-past-the-limit"),
        ],
    )
    def test_over_the_limit_gets_413(self, declared, chunks):
        async def scenario() -> tuple[_RecordingApp, _Client]:
            app, client = _RecordingApp(), _Client(declared)
            for piece in chunks:
                client.chunk(piece)
            await BufferedBody(app, max_body_bytes=100, read_timeout=10)(
                client.scope, client.receive, client.send
            )
            return app, client

        app, client = asyncio.run(scenario())
        assert client.status == 413
        assert app.bodies == []
        assert (b"connection", b"close") in client.sent[0]["headers"]

    def test_client_gone_before_the_end_calls_nothing(self):
        async def scenario() -> tuple[_RecordingApp, _Client]:
            app, client = _RecordingApp(), _Client()
            client.chunk(b"{")
            client.incoming.put_nowait({"type": "http.disconnect"})
            await BufferedBody(app, max_body_bytes=100, read_timeout=10)(
                client.scope, client.receive, client.send
            )
            return app, client

        app, client = asyncio.run(scenario())
        assert app.bodies == []
        assert client.status == 400  # never read; keeps middlewares in front from logging an error

    def test_wsgi_to_asgi_uses_the_webhooks_limit(self, echo_app):
        response = _post(wsgi_to_asgi(echo_app, max_body_bytes=1000), b"x" * 1001, chunked=True)
        assert response.status_code == 413
        assert response.json() == {"error": "body too large"}
