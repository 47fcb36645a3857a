"""Run the webhook's Flask (WSGI) app inside Airflow's ASGI API server.

Airflow mounts plugin apps as ASGI applications; the webhook is a WSGI app. ``a2wsgi`` bridges the two
with a small pool of threads, and two things sit in front of it:

- :class:`BufferedBody` reads the whole request body in the event loop, within the size limit and a read
  deadline, *before* the request gets one of those threads. Without it a client that trickles its body
  holds a thread for as long as it likes, and a handful of such clients stop every tap and status page.
  Waiting connections cost the event loop next to nothing; the threads only ever see complete requests.
- :class:`TerminatedInput` tells Werkzeug that ``wsgi.input`` ends where the body ends (``a2wsgi`` does
  not say so): without it a body sent with ``Transfer-Encoding: chunked`` reads as empty and fails its
  signature check.
- :mod:`.access_log` keeps the handshake's verify token out of the API server's access log (Airflow
  3.1 and 3.2 write query strings there as they are).

Given ``on_shutdown``, the whole stack is mounted inside a small FastAPI app whose lifespan ends by
calling it and stopping the bridge's threads: the API server runs the lifespan of the FastAPI apps it
mounts (and of no other ASGI app), so the webhook's store and reply sender are released when it stops.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Threads that run WSGI requests per API-server worker; webhook requests are short database writes.
DEFAULT_WSGI_THREADS = 8
#: Seconds a client has to send its whole request body (``[instagram_hil] body_read_timeout``).
DEFAULT_BODY_READ_TIMEOUT = 10.0
#: Body limit when none is given: the webhook's own default (1 MiB).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TerminatedInput:
    """WSGI middleware declaring that ``wsgi.input`` ends where the request body ends.

    Only correct in front of a server that really terminates the stream, as ``a2wsgi`` does (it reads
    ASGI body messages until ``more_body`` is false). It never reads or logs headers.

    :param app: the WSGI application to call.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgi.input_terminated"] = True
        return self.app(environ, start_response)


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class BufferedBody:
    """ASGI middleware: the whole body, read within ``max_body_bytes`` and ``read_timeout``, or no app.

    A declared ``Content-Length`` over the limit gets ``413`` unread; a chunked body is read until it
    passes the limit (``413``); a body not complete within ``read_timeout`` seconds gets ``408``. Each
    answer closes the connection. Only complete requests reach ``app``, replayed as one body message.

    :param app: the ASGI application to call (e.g. the ``a2wsgi`` bridge).
    :param max_body_bytes: the largest body accepted.
    :param read_timeout: seconds from the first body read to its end.
    """

    def __init__(self, app: AsgiApp, *, max_body_bytes: int, read_timeout: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_body_bytes:
            await _refuse(send, 413, "body too large")
            return
        try:
            body = await asyncio.wait_for(self._read(receive), self.read_timeout)
        except _TooLarge:
            await _refuse(send, 413, "body too large")
            return
        except asyncio.TimeoutError:
            await _refuse(send, 408, "request body not received in time")
            return
        except _Disconnected:
            # Nobody will read it, but middlewares in front (Airflow's BaseHTTPMiddleware ones) log an
            # error with a traceback for every request that ends without a response.
            await _refuse(send, 400, "client disconnected")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # only a disconnect can come now
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server refuses a malformed length itself
    return 0


async def _refuse(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def wsgi_to_asgi(
    app: WSGIApplication,
    *,
    threads: int = DEFAULT_WSGI_THREADS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    read_timeout: float = DEFAULT_BODY_READ_TIMEOUT,
    on_shutdown: Callable[[], None] | None = None,
) -> Any:
    """Wrap a WSGI app so Airflow's API server can mount it: bodies read first, chunked ones included.

    :param app: the WSGI application (e.g. the webhook's Flask app).
    :param threads: size of the thread pool that runs WSGI requests.
    :param max_body_bytes: larger bodies get 413 before any thread sees them.
    :param read_timeout: seconds a client has to send its body, else 408.
    :param on_shutdown: called (in a thread) when the server's lifespan ends, e.g. to release the app's
        resources; the bridge's threads are stopped after it. None: no lifespan.
    :return: an ASGI application (a FastAPI one with ``on_shutdown``).
    """
    # Imported here: a2wsgi ships with apache-airflow-core, which is only certain where the API server runs.
    from a2wsgi import WSGIMiddleware

    from airflow_provider_instagram_hil.plugins.access_log import RedactQueryForAccessLog

    # a2wsgi declares its own WSGI and ASGI protocol types, equivalent to these but not identical.
    bridge = WSGIMiddleware(cast("Any", TerminatedInput(app)), workers=threads)
    buffered = BufferedBody(cast("AsgiApp", bridge), max_body_bytes=max_body_bytes, read_timeout=read_timeout)
    redacted = RedactQueryForAccessLog(buffered)
    if on_shutdown is None:
        return redacted

    def shut_down() -> None:
        try:
            on_shutdown()
        finally:
            bridge.executor.shutdown(wait=True)

    return _with_lifespan(cast("AsgiApp", redacted), shut_down)


def _with_lifespan(app: AsgiApp, shut_down: Callable[[], None]) -> Any:
    """``app`` mounted in a FastAPI app whose lifespan ends with ``shut_down()`` (run in a thread)."""
    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await asyncio.to_thread(shut_down)

    wrapper = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    wrapper.mount("", app)
    return wrapper
