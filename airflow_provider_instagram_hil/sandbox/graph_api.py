"""Sandbox Graph API: a local stand-in for Meta's Graph Send API, for tests, the demo and benchmarks.

This is **not Meta**. It answers the two calls the provider makes (``POST /{version}/{account}/messages``
and ``GET /{version}/me``) with Graph-shaped JSON, records every message it accepts, and can be told to
fail the next calls the way Meta does (messaging window closed, throttling, 5xx, expired token, ...).
Test-control endpoints live under ``/_sandbox/``. Nothing here talks to the internet.

Run it alone::

    python -m airflow_provider_instagram_hil.sandbox.graph_api --port 0 --token T --ready-file url.txt

It prints ``SANDBOX_GRAPH_API_URL=http://127.0.0.1:PORT`` once listening and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

SANDBOX_ACCOUNT = {"id": "17841400000000000", "name": "Sandbox Account", "username": "sandbox.account"}
READY_PREFIX = "SANDBOX_GRAPH_API_URL="
MAX_TEXT_BYTES = 1000
MAX_QUICK_REPLIES = 13

_ME = re.compile(r"^/(v\d+\.\d+)/me$")
_MESSAGES = re.compile(r"^/(v\d+\.\d+)/([A-Za-z0-9_.-]+)/messages$")
_CONVERSATIONS = re.compile(r"^/(v\d+\.\d+)/([A-Za-z0-9_.-]+)/conversations$")
_CONVERSATION = re.compile(r"^/(v\d+\.\d+)/sbxconv_([A-Za-z0-9_.-]+)$")
#: Meta's Conversations API returns the 20 most recent messages of a conversation.
CONVERSATION_MESSAGES = 20


class Fault(NamedTuple):
    """How one fault kind answers: a Graph error (``code`` set) or a raw ``body``."""

    status: int
    code: int | None = None
    subcode: int | None = None
    message: str = ""
    body: str | None = None
    retry_after: bool = False


#: Fault kinds for :meth:`SandboxGraphApi.inject_fault`, with the answers Meta gives in those cases.
FAULTS: dict[str, Fault] = {
    "window_closed": Fault(400, 10, 2534022, "(#10) This message is sent outside of allowed window."),
    "throttled": Fault(400, 4, None, "(#4) Application request limit reached", retry_after=True),
    "throttled_429": Fault(
        429, 613, None, "(#613) Calls to this api have exceeded the rate limit.", retry_after=True
    ),
    "server_error": Fault(500, 2, None, "An unexpected error has occurred. Please retry your request later."),
    "maybe_sent": Fault(500, 1, 1357046, "An unknown error has occurred."),
    "invalid_token": Fault(400, 190, 463, "Error validating access token: Session has expired."),
    "recipient_unavailable": Fault(400, 551, 1545041, "This person isn't available right now."),
    "no_matching_user": Fault(400, 100, 2018001, "(#100) No matching user found"),
    "html_error": Fault(
        502, body="<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
    ),
    # "timeout" answers normally after a long pause (the message is recorded first, as Meta may have
    # delivered it); "disconnect" drops the connection without an answer.
    "timeout": Fault(200),
    "disconnect": Fault(0),
}


def graph_error(code: int, message: str, *, subcode: int | None = None, kind: str = "OAuthException") -> dict:
    """A Graph API error body, shaped like Meta's."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": _trace_id()}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def _graph_time(epoch: float) -> str:
    """A timestamp as the Graph API writes it, e.g. ``2026-12-02T06:30:00+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(epoch))


def _trace_id() -> str:
    return "Asbx" + secrets.token_urlsafe(12)


class SandboxGraphApi:
    """An HTTP server on loopback that plays Meta's Graph Send API.

    :param host: interface to bind.
    :param port: port to bind; 0 picks a free one (read it from :attr:`url`).
    :param token: when set, Graph calls must carry ``Authorization: Bearer <token>`` (else error 190).
    :param timeout_fault_seconds: how long a ``timeout`` fault keeps the client waiting.
    :param retry_after: ``Retry-After`` seconds sent with throttling faults.
    :param log_requests: print one line per request (method, path, status) to stderr.
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
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.timeout_fault_seconds = timeout_fault_seconds
        self.retry_after = retry_after
        self.log_requests = log_requests
        self._changed = threading.Condition()
        self._messages: list[dict[str, Any]] = []
        self._faults: list[list[Any]] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> SandboxGraphApi:
        """Start serving in a background thread; return ``self``."""
        if self._server is not None:
            raise RuntimeError("the sandbox Graph API is already started")
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler, self)
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
        """Forget recorded messages and pending faults."""
        with self._changed:
            self._messages.clear()
            self._faults.clear()

    def wait_for_messages(self, n: int, timeout: float = 10.0, *, with_quick_replies: bool = False) -> list:
        """Block until ``n`` messages were accepted; return them all.

        :param with_quick_replies: count (and return) only messages that carry quick replies.
        :raises TimeoutError: when fewer than ``n`` arrived within ``timeout`` seconds.
        """
        found = self._wait_for(n, timeout, with_quick_replies)
        if len(found) < n:
            raise TimeoutError(f"expected {n} message(s) within {timeout:g} s, the sandbox got {len(found)}")
        return found

    def _wait_for(self, n: int, timeout: float, with_quick_replies: bool) -> list[dict[str, Any]]:
        with self._changed:
            self._changed.wait_for(
                lambda: self._stopping.is_set() or len(self._select(with_quick_replies)) >= n, timeout
            )
            return [dict(m) for m in self._select(with_quick_replies)]

    def _select(self, with_quick_replies: bool) -> list[dict[str, Any]]:
        return [m for m in self._messages if m["quick_replies"] or not with_quick_replies]

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type, sandbox: SandboxGraphApi) -> None:
        self.sandbox = sandbox
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._clients_lock:
            self._clients.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._clients_lock:
            self._clients.discard(request)
        super().shutdown_request(request)

    def close_client_sockets(self) -> None:
        """End keep-alive connections so no handler thread outlives :meth:`SandboxGraphApi.stop`."""
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each answer waited ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    @property
    def sandbox(self) -> SandboxGraphApi:
        return self.server.sandbox

    def log_message(self, format: str, *args: Any) -> None:
        if self.sandbox.log_requests:
            sys.stderr.write(f"sandbox-graph-api: {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- routing ------------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if parts.path.startswith("/_sandbox/"):
            self._control(method, parts.path, query, raw)
            return
        me, send = _ME.match(parts.path), _MESSAGES.match(parts.path)
        conversations, conversation = _CONVERSATIONS.match(parts.path), _CONVERSATION.match(parts.path)
        reads = me or conversations or conversation
        if not ((method == "GET" and reads) or (method == "POST" and send)):
            self._json(400, graph_error(2500, f"Unknown path components: {parts.path}"))
            return
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self._json(400, graph_error(100, "(#100) The request body is not valid JSON"))
                return
        if "access_token" in query or (isinstance(body, dict) and "access_token" in body):
            message = "sandbox: access_token must not travel in the URL or body; use the Authorization header"
            self._json(400, graph_error(100, message, kind="SandboxRegressionCheck"))
            return
        authorization_ok = self._authorization_ok()
        if not authorization_ok and self.sandbox.token is not None:
            self._json(400, graph_error(190, "Invalid OAuth access token - Cannot parse access token"))
            return
        fault = self.sandbox._next_fault()
        if fault and fault not in ("timeout", "disconnect"):
            self._fault(fault)
            return
        if fault == "disconnect":
            self.close_connection = True
            return
        if me:
            account = {
                k: v
                for k, v in SANDBOX_ACCOUNT.items()
                if k != "username" or "username" in query.get("fields", "")
            }
            self._delayed(fault, lambda: self._json(200, account))
        elif conversations:
            self._delayed(fault, lambda: self._json(200, self._conversations(query)))
        elif conversation:
            self._delayed(fault, lambda: self._json(200, self._conversation(conversation.group(2))))
        elif send:
            self._send_message(send.group(1), send.group(2), body, authorization_ok, fault)

    def _conversations(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /{account}/conversations?platform=...&user_id=...``: the conversation with that person."""
        user = query.get("user_id", "")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", user):
            return {"data": []}
        return {"data": [{"id": f"sbxconv_{user}", "updated_time": _graph_time(time.time())}]}

    def _conversation(self, user: str) -> dict[str, Any]:
        """``GET /{conversation-id}?fields=messages{...}``: the newest messages sent to ``user``."""
        sent = [m for m in self.sandbox.messages if m["recipient_id"] == user][-CONVERSATION_MESSAGES:]
        return {
            "id": f"sbxconv_{user}",
            "messages": {
                "data": [
                    {
                        "id": m["message_id"],
                        "created_time": _graph_time(m["received_at"]),
                        "from": {"id": SANDBOX_ACCOUNT["id"]},
                        "to": {"data": [{"id": user}]},
                        "message": m["text"],
                    }
                    for m in reversed(sent)
                ]
            },
        }

    def _send_message(
        self, version: str, account_id: str, body: Any, authorization_ok: bool, fault: str | None
    ) -> None:
        body = body if isinstance(body, dict) else {}
        recipient = body.get("recipient") if isinstance(body.get("recipient"), dict) else {}
        message = body.get("message") if isinstance(body.get("message"), dict) else {}
        text, quick_replies = message.get("text"), message.get("quick_replies") or []
        problem = None
        if not recipient.get("id"):
            problem = "(#100) The parameter recipient is required"
        elif not isinstance(text, str) or not text:
            problem = "(#100) The parameter message[text] is required"
        elif len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            problem = f"(#100) Length of param message[text] must be less than or equal to {MAX_TEXT_BYTES}"
        elif not isinstance(quick_replies, list) or len(quick_replies) > MAX_QUICK_REPLIES:
            problem = f"(#100) param message[quick_replies] must be an array of at most {MAX_QUICK_REPLIES}"
        if problem:
            self._json(400, graph_error(100, problem))
            return
        record = {
            "recipient_id": str(recipient["id"]),
            "account_id": account_id,
            "api_version": version,
            "messaging_type": body.get("messaging_type"),
            "text": text,
            "quick_replies": quick_replies,
            "message_id": "m_" + secrets.token_hex(16),
            "authorization_ok": authorization_ok,
            "received_at": time.time(),
        }
        self.sandbox._record(record)
        answer = {"recipient_id": record["recipient_id"], "message_id": record["message_id"]}
        self._delayed(fault, lambda: self._json(200, answer))

    def _control(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        sandbox = self.sandbox
        if path == "/_sandbox/messages" and method == "GET":
            with_qr = query.get("with_quick_replies", "") in ("1", "true")
            try:
                wanted, wait = int(query.get("min_count", 0)), float(query.get("wait", 0))
            except ValueError:
                self._json(400, {"error": "min_count must be an integer and wait a number of seconds"})
                return
            self._json(200, {"messages": sandbox._wait_for(wanted, min(wait, 600.0), with_qr)})
        elif path == "/_sandbox/messages" and method == "DELETE":
            with sandbox._changed:
                count = len(sandbox._messages)
                sandbox._messages.clear()
            self._json(200, {"deleted": count})
        elif path == "/_sandbox/faults" and method == "POST":
            try:
                spec = json.loads(raw or b"{}")
                sandbox.inject_fault(str(spec.get("kind")), int(spec.get("times", 1)))
            except (ValueError, TypeError, AttributeError) as exc:
                self._json(400, {"error": str(exc)})
                return
            self._json(200, {"kind": spec["kind"], "times": int(spec.get("times", 1))})
        elif path == "/_sandbox/faults" and method == "DELETE":
            with sandbox._changed:
                sandbox._faults.clear()
            self._json(200, {"cleared": True})
        else:
            self._json(404, {"error": f"no sandbox endpoint {method} {path}"})

    # -- answers ------------------------------------------------------------------------------------

    def _fault(self, kind: str) -> None:
        fault = FAULTS[kind]
        headers = {"Retry-After": f"{self.sandbox.retry_after:g}"} if fault.retry_after else {}
        if fault.code is None:
            self._write(fault.status, (fault.body or "").encode(), "text/html; charset=utf-8", headers)
            return
        self._json(fault.status, graph_error(fault.code, fault.message, subcode=fault.subcode), headers)

    def _delayed(self, fault: str | None, answer: Any) -> None:
        """Answer now, or, for a ``timeout`` fault, after a pause that :meth:`stop` cuts short."""
        if fault == "timeout" and self.sandbox._stopping.wait(self.sandbox.timeout_fault_seconds):
            self.close_connection = True
            return
        answer()

    def _authorization_ok(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            return False
        expected = self.sandbox.token
        return expected is None or secrets.compare_digest(value.encode(), expected.encode())

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._write(status, json.dumps(payload).encode(), "application/json", headers or {})

    def _write(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. after its read timeout)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the sandbox Graph API until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="Local stand-in for Meta's Graph Send API (not Meta).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None, help="require this bearer token on Graph calls")
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
