"""Sandbox Graph API: a local stand-in for Meta's Graph API, for tests, the demo and benchmarks.

This is **not Meta**. It answers the calls the provider makes on its three channels with Graph-shaped JSON:
the Send API of Instagram and Messenger (``POST /{version}/{account}/messages``; the token says which:
``--token`` is the Instagram account's, ``--page-token`` the Facebook Page's), the Conversations API,
``GET /{version}/me``, and the WhatsApp Cloud API (``POST /{version}/{phone-number-id}/messages``, ``GET
/{version}/{phone-number-id}``). It checks bodies against Meta's limits (:mod:`.meta_messages`), records
every message it accepts, keeps approved WhatsApp templates, closes a person's 24-hour window on request
(Instagram and Messenger refuse at once with code 10; WhatsApp accepts, then posts a ``failed`` status
with error 131047, as the Cloud API does), posts signed WhatsApp status callbacks (sent, delivered, read,
failed) to a webhook URL, and can be told to fail the next calls the way Meta does (throttling, 5xx,
expired token, ...). Test-control endpoints live under ``/_sandbox/``. Nothing here talks to the internet.

Run it alone::

    python -m airflow_provider_instagram_hil.sandbox.graph_api --port 0 --token T --ready-file url.txt

It prints ``SANDBOX_GRAPH_API_URL=http://127.0.0.1:PORT`` once listening and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_provider_instagram_hil.sandbox.graph_answers import FAULTS, SANDBOX_PHONE_NUMBER_ID
from airflow_provider_instagram_hil.sandbox.graph_handler import GraphRequestHandler, GraphServer
from airflow_provider_instagram_hil.sandbox.meta_messages import Template
from airflow_provider_instagram_hil.sandbox.status_callbacks import StatusPoster

READY_PREFIX = "SANDBOX_GRAPH_API_URL="


class SandboxGraphApi:
    """An HTTP server on loopback that plays Meta's Graph Send API.

    :param host: interface to bind.
    :param port: port to bind; 0 picks a free one (read it from :attr:`url`).
    :param token: when set, Graph calls must carry ``Authorization: Bearer <token>`` (else error 190);
        it is the Instagram account's token.
    :param timeout_fault_seconds: how long a ``timeout`` fault keeps the client waiting.
    :param retry_after: ``Retry-After`` seconds sent with throttling faults.
    :param log_requests: print one line per request (method, path, status) to stderr.
    :param page_token: a Facebook Page's token: Send API calls with it are Messenger messages.
    :param whatsapp_token: the token WhatsApp Cloud API calls must carry, when set.
    :param phone_number_id: the WhatsApp Business phone number ID the sandbox serves.
    :param status_delay: seconds between a WhatsApp send's answer and its first status callback.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        timeout_fault_seconds: float = 3.0,
        retry_after: float = 1.0,
        log_requests: bool = False,
        page_token: str | None = None,
        whatsapp_token: str | None = None,
        phone_number_id: str = SANDBOX_PHONE_NUMBER_ID,
        status_delay: float = 0.2,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.page_token = page_token
        self.whatsapp_token = whatsapp_token
        self.phone_number_id = phone_number_id
        self.statuses = StatusPoster(phone_number_id, status_delay)
        self._closed_windows: set[str] = set()
        self._templates: dict[tuple[str, str], Template] = {}
        self.timeout_fault_seconds = timeout_fault_seconds
        self.retry_after = retry_after
        self.log_requests = log_requests
        self._changed = threading.Condition()
        self._messages: list[dict[str, Any]] = []
        self._faults: list[list[Any]] = []
        self._stopping = threading.Event()
        self._server: GraphServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> SandboxGraphApi:
        """Start serving in a background thread; return ``self``."""
        if self._server is not None:
            raise RuntimeError("the sandbox Graph API is already started")
        self._stopping.clear()
        self._server = GraphServer((self.host, self.port), GraphRequestHandler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sandbox-graph-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections (waiting ``timeout`` faults end at once)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self.statuses.stop()
        with self._changed:
            self._changed.notify_all()  # ends long polls of /_sandbox/messages
        server.shutdown()
        server.close_client_sockets()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxGraphApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to put in the connection's host, e.g. ``http://127.0.0.1:40123``."""
        if self._server is None:
            raise RuntimeError("the sandbox Graph API is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    # -- what tests look at and control -------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Copies of the messages accepted so far, oldest first."""
        with self._changed:
            return [dict(m) for m in self._messages]

    def inject_fault(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` Graph calls fail as ``kind`` (one of :data:`FAULTS`)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {sorted(FAULTS)}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self._changed:
            self._faults.append([kind, times])

    def reset(self) -> None:
        """Forget recorded messages, pending faults and closed windows."""
        with self._changed:
            self._messages.clear()
            self._faults.clear()
            self._closed_windows.clear()

    def set_window(self, recipient_id: str, open_: bool) -> None:
        """Open or close ``recipient_id``'s 24-hour window (closed: they have not written for a day)."""
        with self._changed:
            (self._closed_windows.discard if open_ else self._closed_windows.add)(str(recipient_id))

    def window_closed(self, recipient_id: str) -> bool:
        with self._changed:
            return str(recipient_id) in self._closed_windows

    def add_template(self, name: str, language: str, body: str, buttons: Sequence[str] = ()) -> Template:
        """Approve a WhatsApp template: ``body`` with ``{{1}}``-style variables, quick-reply ``buttons``."""
        if not name or not language or not body or len(buttons) > 10:
            raise ValueError("a template needs a name, a language, a body and at most 10 buttons")
        template = Template(name, language, body, tuple(buttons))
        with self._changed:
            self._templates[(name, language)] = template
        return template

    def templates(self) -> dict[tuple[str, str], Template]:
        with self._changed:
            return dict(self._templates)

    def wait_for_messages(self, n: int, timeout: float = 10.0, *, with_quick_replies: bool = False) -> list:
        """Block until ``n`` messages were accepted; return them all.

        :param with_quick_replies: count (and return) only messages that carry tappable options (quick
            replies, buttons, list rows or template buttons).
        :raises TimeoutError: when fewer than ``n`` arrived within ``timeout`` seconds.
        """
        found = self._wait_for(n, timeout, with_quick_replies)
        if len(found) < n:
            raise TimeoutError(f"expected {n} message(s) within {timeout:g} s, the sandbox got {len(found)}")
        return found

    def _wait_for(
        self, n: int, timeout: float, with_quick_replies: bool, channel: str | None = None
    ) -> list[dict[str, Any]]:
        with self._changed:
            self._changed.wait_for(
                lambda: self._stopping.is_set() or len(self._select(with_quick_replies, channel)) >= n,
                timeout,
            )
            return [dict(m) for m in self._select(with_quick_replies, channel)]

    def _select(self, with_quick_replies: bool, channel: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self._messages
            if (m["options"] or not with_quick_replies) and channel in (None, m["channel"])
        ]

    def _next_fault(self) -> str | None:
        with self._changed:
            if not self._faults:
                return None
            entry = self._faults[0]
            entry[1] -= 1
            if entry[1] <= 0:
                self._faults.pop(0)
            return str(entry[0])

    def _record(self, message: dict[str, Any]) -> None:
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the sandbox Graph API until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="Local stand-in for Meta's Graph Send API (not Meta).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None, help="require this bearer token on Graph calls")
    parser.add_argument("--page-token", default=None, help="a Facebook Page's token: its sends are Messenger")
    parser.add_argument(
        "--whatsapp-token", default=None, help="require this token on WhatsApp Cloud API calls"
    )
    parser.add_argument("--phone-number-id", default=SANDBOX_PHONE_NUMBER_ID)
    parser.add_argument("--status-delay", type=float, default=0.2)
    parser.add_argument("--ready-file", type=Path, default=None, help="write the URL here once listening")
    parser.add_argument("--timeout-fault-seconds", type=float, default=3.0)
    parser.add_argument("--retry-after", type=float, default=1.0)
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sandbox = SandboxGraphApi(
        args.host,
        args.port,
        token=args.token,
        timeout_fault_seconds=args.timeout_fault_seconds,
        retry_after=args.retry_after,
        log_requests=True,
        page_token=args.page_token,
        whatsapp_token=args.whatsapp_token,
        phone_number_id=args.phone_number_id,
        status_delay=args.status_delay,
    )
    with sandbox:
        if args.ready_file is not None:
            partial = args.ready_file.with_name(args.ready_file.name + ".partial")
            partial.write_text(sandbox.url + "\n")
            os.replace(partial, args.ready_file)
        print(f"{READY_PREFIX}{sandbox.url}", flush=True)
        stop.wait()
    print("sandbox Graph API stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
