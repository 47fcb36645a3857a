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

from airflow_provider_instagram_hil.sandbox.meta_messages import (
    Refused,
    Template,
    send_api_message,
    whatsapp_message,
)
from airflow_provider_instagram_hil.sandbox.status_callbacks import (
    DISPLAY_PHONE_NUMBER,
    REENGAGEMENT_ERROR,
    StatusPoster,
    status_item,
)

SANDBOX_ACCOUNT = {"id": "17841400000000000", "name": "Sandbox Account", "username": "sandbox.account"}
SANDBOX_PAGE = {"id": "100000000000001", "name": "Sandbox Page"}
SANDBOX_PHONE_NUMBER_ID = "106540352242922"
#: The Graph error of a closed window on each Send API channel (code 10 and its subcode).
WINDOW_SUBCODES = {"instagram": 2534022, "messenger": 2018278}
READY_PREFIX = "SANDBOX_GRAPH_API_URL="
MAX_TEXT_BYTES = 1000
MAX_QUICK_REPLIES = 13

_ME = re.compile(r"^/(v\d+\.\d+)/me$")
_PHONE_NUMBER = re.compile(r"^/(v\d+\.\d+)/(\d+)$")
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
    # The Cloud API's own code for a closed customer-service window, answered at once.
    "re_engagement": Fault(400, 131047, None, "(#131047) Re-engagement message"),
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
        phone = _PHONE_NUMBER.match(parts.path)
        phone = phone if phone and phone.group(2) == self.sandbox.phone_number_id else None
        reads = me or conversations or conversation or phone
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
        whatsapp = bool(phone) or bool(send and send.group(2) == self.sandbox.phone_number_id)
        channel = "whatsapp" if whatsapp else self._token_channel()
        authorization_ok = self._authorization_ok(channel)
        if not authorization_ok and self._token_required(channel):
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
            if channel == "messenger":
                self._delayed(fault, lambda: self._json(200, dict(SANDBOX_PAGE)))
                return
            account = {
                k: v
                for k, v in SANDBOX_ACCOUNT.items()
                if k != "username" or "username" in query.get("fields", "")
            }
            self._delayed(fault, lambda: self._json(200, account))
        elif phone:
            number = {
                "id": self.sandbox.phone_number_id,
                "display_phone_number": DISPLAY_PHONE_NUMBER,
                "verified_name": "Sandbox Business",
            }
            self._delayed(fault, lambda: self._json(200, number))
        elif conversations:
            self._delayed(fault, lambda: self._json(200, self._conversations(query)))
        elif conversation:
            self._delayed(fault, lambda: self._json(200, self._conversation(conversation.group(2))))
        elif send and whatsapp:
            self._send_whatsapp(send.group(1), body, authorization_ok, fault)
        elif send:
            self._send_message(send.group(1), send.group(2), body, authorization_ok, fault, channel)

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
        self,
        version: str,
        account_id: str,
        body: Any,
        authorization_ok: bool,
        fault: str | None,
        channel: str = "instagram",
    ) -> None:
        body = body if isinstance(body, dict) else {}
        try:
            shown = send_api_message(body, channel)
        except Refused as refused:
            self._json(400, graph_error(refused.code, refused.message, subcode=refused.subcode))
            return
        recipient_id = str(body["recipient"]["id"])
        if self.sandbox.window_closed(recipient_id):
            message = "(#10) This message is sent outside of allowed window."
            self._json(400, graph_error(10, message, subcode=WINDOW_SUBCODES[channel]))
            return
        record = {
            "channel": channel,
            "recipient_id": recipient_id,
            "account_id": account_id,
            "api_version": version,
            "messaging_type": body.get("messaging_type"),
            **shown,
            "message_id": "m_" + secrets.token_hex(16),
            "authorization_ok": authorization_ok,
            "received_at": time.time(),
        }
        self.sandbox._record(record)
        answer = {"recipient_id": record["recipient_id"], "message_id": record["message_id"]}
        self._delayed(fault, lambda: self._json(200, answer))

    def _send_whatsapp(self, version: str, body: Any, authorization_ok: bool, fault: str | None) -> None:
        """The Cloud API: accept, answer with a wamid, then post statuses (failed outside the window)."""
        body = body if isinstance(body, dict) else {}
        try:
            shown = whatsapp_message(body, self.sandbox.templates())
        except Refused as refused:
            self._json(400, graph_error(refused.code, refused.message, subcode=refused.subcode))
            return
        wa_id = shown["recipient_id"]
        wamid = "wamid.HBgL" + secrets.token_hex(20).upper()
        closed = shown["kind"] != "template" and self.sandbox.window_closed(wa_id)
        record = {
            "channel": "whatsapp",
            "account_id": self.sandbox.phone_number_id,
            "api_version": version,
            "messaging_type": None,
            "quick_replies": [],
            **shown,
            "message_id": wamid,
            "authorization_ok": authorization_ok,
            "received_at": time.time(),
            "delivered": not closed,
        }
        self.sandbox._record(record)
        sent: dict[str, Any] = {"id": wamid}
        if shown["kind"] == "template":
            sent["message_status"] = "accepted"
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body.get("to"), "wa_id": wa_id}],
            "messages": [sent],
        }
        self._delayed(fault, lambda: self._json(200, answer))
        if closed:  # Meta accepts the message, then reports it failed.
            self.sandbox.statuses.post_later([status_item(wamid, "failed", wa_id, [REENGAGEMENT_ERROR])])
        else:
            self.sandbox.statuses.post_later([status_item(wamid, "sent", wa_id)])
            self.sandbox.statuses.post_later([status_item(wamid, "delivered", wa_id)])

    def _control(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        sandbox = self.sandbox
        if path == "/_sandbox/messages" and method == "GET":
            with_qr = query.get("with_quick_replies", query.get("with_options", "")) in ("1", "true")
            try:
                wanted, wait = int(query.get("min_count", 0)), float(query.get("wait", 0))
            except ValueError:
                self._json(400, {"error": "min_count must be an integer and wait a number of seconds"})
                return
            channel = query.get("channel") or None
            self._json(200, {"messages": sandbox._wait_for(wanted, min(wait, 600.0), with_qr, channel)})
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
        elif method == "POST" and path in _CONTROLS:
            try:
                spec = json.loads(raw or b"{}")
                if not isinstance(spec, dict):
                    raise TypeError("the body must be a JSON object")
                self._json(200, _CONTROLS[path](sandbox, spec))
            except (ValueError, TypeError, KeyError) as exc:
                self._json(400, {"error": f"{type(exc).__name__}: {exc}"})
        elif path == "/_sandbox/callbacks" and method == "GET":
            self._json(200, {"callbacks": list(sandbox.statuses.results)})
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

    def _bearer(self) -> str | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        return value if scheme.lower() == "bearer" and value else None

    def _token_channel(self) -> str:
        """Which Send API channel the bearer token belongs to: the Page's token means Messenger."""
        bearer, page = self._bearer(), self.sandbox.page_token
        if bearer and page and secrets.compare_digest(bearer.encode(), page.encode()):
            return "messenger"
        return "instagram"

    def _expected_token(self, channel: str) -> str | None:
        sandbox = self.sandbox
        tokens = {"instagram": sandbox.token, "messenger": sandbox.page_token}
        return tokens.get(channel, sandbox.whatsapp_token)

    def _token_required(self, channel: str) -> bool:
        return self._expected_token(channel) is not None

    def _authorization_ok(self, channel: str = "instagram") -> bool:
        bearer = self._bearer()
        if bearer is None:
            return False
        expected = self._expected_token(channel)
        return expected is None or secrets.compare_digest(bearer.encode(), expected.encode())

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


def _control_window(sandbox: SandboxGraphApi, spec: dict[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/window {"recipient_id", "open"}``: open or close a person's 24-hour window."""
    recipient = str(spec["recipient_id"])
    sandbox.set_window(recipient, bool(spec.get("open", False)))
    return {"recipient_id": recipient, "open": not sandbox.window_closed(recipient)}


def _control_template(sandbox: SandboxGraphApi, spec: dict[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/templates {"name", "language", "body", "buttons"}``: approve a WhatsApp template."""
    buttons = spec.get("buttons") or []
    if not isinstance(buttons, list) or not all(isinstance(b, str) for b in buttons):
        raise TypeError("buttons must be a list of titles")
    template = sandbox.add_template(str(spec["name"]), str(spec["language"]), str(spec["body"]), buttons)
    return {"name": template.name, "language": template.language, "variables": template.variables}


def _control_status_webhook(sandbox: SandboxGraphApi, spec: dict[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/status_webhook {"url", "app_secret"}``: where signed status callbacks go."""
    url, secret = spec.get("url"), spec.get("app_secret")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise ValueError("url must be an http(s) URL")
    sandbox.statuses.configure(url, secret if isinstance(secret, str) and secret else None)
    return {"configured": sandbox.statuses.configured}


def _control_status(sandbox: SandboxGraphApi, spec: dict[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/statuses {"message_id", "status", "errors"}``: post one status now (e.g. read)."""
    found = [m for m in sandbox.messages if m["message_id"] == spec["message_id"]]
    if not found or found[0]["channel"] != "whatsapp":
        raise KeyError(f"no WhatsApp message {spec['message_id']!r}")
    if spec.get("status") not in ("sent", "delivered", "read", "failed"):
        raise ValueError("status must be sent, delivered, read or failed")
    errors = spec.get("errors") or ([REENGAGEMENT_ERROR] if spec["status"] == "failed" else None)
    item = status_item(found[0]["message_id"], spec["status"], found[0]["recipient_id"], errors)
    return {"http_status": sandbox.statuses.post_now([item])}


_CONTROLS = {
    "/_sandbox/window": _control_window,
    "/_sandbox/templates": _control_template,
    "/_sandbox/status_webhook": _control_status_webhook,
    "/_sandbox/statuses": _control_status,
}


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
