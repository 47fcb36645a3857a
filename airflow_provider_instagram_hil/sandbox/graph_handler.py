"""The sandbox Graph API's HTTP side: routing Graph calls (Send API, Conversations API, WhatsApp Cloud
API) and the ``/_sandbox/`` test controls to the :class:`~.graph_api.SandboxGraphApi` that keeps the state."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_instagram_hil.sandbox.graph_answers import (
    FAULTS,
    SANDBOX_ACCOUNT,
    SANDBOX_PAGE,
    WINDOW_SUBCODES,
    graph_error,
    graph_time,
)
from airflow_provider_instagram_hil.sandbox.graph_controls import CONTROLS
from airflow_provider_instagram_hil.sandbox.meta_messages import Refused, send_api_message, whatsapp_message
from airflow_provider_instagram_hil.sandbox.status_callbacks import (
    DISPLAY_PHONE_NUMBER,
    REENGAGEMENT_ERROR,
    status_item,
)

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.sandbox.graph_api import SandboxGraphApi

_ME = re.compile(r"^/(v\d+\.\d+)/me$")
_PHONE_NUMBER = re.compile(r"^/(v\d+\.\d+)/(\d+)$")
_MESSAGES = re.compile(r"^/(v\d+\.\d+)/([A-Za-z0-9_.-]+)/messages$")
_CONVERSATIONS = re.compile(r"^/(v\d+\.\d+)/([A-Za-z0-9_.-]+)/conversations$")
_CONVERSATION = re.compile(r"^/(v\d+\.\d+)/sbxconv_([A-Za-z0-9_.-]+)$")
#: Meta's Conversations API returns the 20 most recent messages of a conversation.
CONVERSATION_MESSAGES = 20


class GraphServer(ThreadingHTTPServer):
    """The sandbox's HTTP server: one thread per connection, all closed when the sandbox stops."""

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
        """End keep-alive connections so no handler thread outlives ``SandboxGraphApi.stop()``."""
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)


class GraphRequestHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests as Meta's Graph API would, and the ``/_sandbox/`` controls."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each answer waited ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: GraphServer

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
        return {"data": [{"id": f"sbxconv_{user}", "updated_time": graph_time(time.time())}]}

    def _conversation(self, user: str) -> dict[str, Any]:
        """``GET /{conversation-id}?fields=messages{...}``: the newest messages sent to ``user``."""
        sent = [m for m in self.sandbox.messages if m["recipient_id"] == user][-CONVERSATION_MESSAGES:]
        return {
            "id": f"sbxconv_{user}",
            "messages": {
                "data": [
                    {
                        "id": m["message_id"],
                        "created_time": graph_time(m["received_at"]),
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
        elif method == "POST" and path in CONTROLS:
            try:
                spec = json.loads(raw or b"{}")
                if not isinstance(spec, dict):
                    raise TypeError("the body must be a JSON object")
                self._json(200, CONTROLS[path](sandbox, spec))
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
