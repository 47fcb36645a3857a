"""Run the webhook's Flask (WSGI) app inside Airflow's ASGI API server.

Airflow mounts plugin apps as ASGI applications; the webhook is a WSGI app. ``a2wsgi`` bridges the two,
and :class:`TerminatedInput` fixes the one thing the bridge leaves out: it feeds the WSGI app a stream
that ends where the request body ends, but does not say so. Werkzeug then reads a body sent with
``Transfer-Encoding: chunked`` (no ``Content-Length``) as empty, so a signed event would fail its
signature check. Setting ``wsgi.input_terminated`` tells Werkzeug the stream is safe to read to its end,
and lets Flask's ``MAX_CONTENT_LENGTH`` limit such bodies. :mod:`.access_log` keeps the handshake's verify
token out of the API server's access log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: Threads that run WSGI requests per API-server worker; webhook requests are short database writes.
DEFAULT_WSGI_THREADS = 8


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


def wsgi_to_asgi(app: WSGIApplication, *, threads: int = DEFAULT_WSGI_THREADS) -> Any:
    """Wrap a WSGI app so Airflow's API server can mount it, chunked request bodies included.

    :param app: the WSGI application (e.g. the webhook's Flask app).
    :param threads: size of the thread pool that runs WSGI requests.
    :return: an ASGI application.
    """
    # Imported here: a2wsgi ships with apache-airflow-core, which is only certain where the API server runs.
    from a2wsgi import WSGIMiddleware

    from airflow_provider_instagram_hil.plugins.access_log import RedactQueryForAccessLog

    # a2wsgi declares its own WSGI protocol types, equivalent to typeshed's but not identical.
    return RedactQueryForAccessLog(WSGIMiddleware(cast("Any", TerminatedInput(app)), workers=threads))
