"""Slow clients and timed taps, for the slow-client tests of each serving shape (imported by name).

:class:`SlowBodyClients` opens connections that each announce a request body and then send it one byte
at a time, never finishing: the slowloris shape that occupies a server that reads bodies in its
application threads. :func:`timed_taps` then sends signed taps and times each answer.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

import requests

from airflow_provider_instagram_hil.payloads import encode_payload
from airflow_provider_instagram_hil.sandbox.reviewer import quick_reply_event
from airflow_provider_instagram_hil.webhook.signature import sign_body


class SlowBodyClients:
    """``count`` connections to ``url`` that POST a body one byte per ``interval`` seconds, forever.

    The bytes are spread evenly over each interval (independent clients), not sent in one burst.

    :param url: the webhook URL.
    :param count: connections to hold.
    :param body_bytes: the ``Content-Length`` announced (never reached).
    :param interval: seconds between two bytes on one connection (below the server's idle timeout).
    """

    def __init__(self, url: str, count: int, *, body_bytes: int = 4096, interval: float = 1.0) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: sha256={'0' * 64}\r\nContent-Length: {body_bytes}\r\n\r\n{{"
        ).encode()
        self.count = count
        self.interval = interval
        self.sockets: list[socket.socket] = []
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, name="slow-body-clients", daemon=True)

    def __enter__(self) -> SlowBodyClients:
        for _ in range(self.count):
            sock = socket.create_connection(self.address, timeout=10)
            sock.sendall(self.head)
            sock.setblocking(False)
            self.sockets.append(sock)
        self._thread.start()
        return self

    def _trickle(self) -> None:
        # Each connection sends at its own moment within the interval, as independent clients would.
        while not self._stop.is_set():
            sockets = list(self.sockets)
            pause = self.interval / max(len(sockets), 1)
            for sock in sockets:
                if self._stop.wait(pause):
                    return
                try:
                    with contextlib.suppress(BlockingIOError):
                        if sock.recv(1, socket.MSG_PEEK) == b"":
                            raise ConnectionResetError  # closed by the server
                    sock.send(b" ")
                except OSError:
                    self.sockets.remove(sock)
                    self.closed_by_server += 1
                    sock.close()

    @property
    def open(self) -> int:
        return len(self.sockets)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


@dataclass(frozen=True)
class TimedTap:
    status: int
    recorded: int | None
    seconds: float


def timed_taps(
    url: str,
    app_secret: str,
    requests_and_reviewers: Sequence[tuple[str, str]],
    option: str = "Approve",
    timeout: float = 30.0,
) -> list[TimedTap]:
    """Tap ``option`` once on each (request id, reviewer) pair, one after the other; time each answer.

    Each tap opens a new connection, as a new delivery from Meta may: the server must still accept it.
    """
    answers = []
    for request_id, reviewer in requests_and_reviewers:
        event = quick_reply_event(encode_payload(request_id, option), sender_id=reviewer)
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign_body(body, app_secret)}
        started = time.monotonic()
        response = requests.post(url, data=body, headers=headers, timeout=timeout)
        elapsed = time.monotonic() - started
        recorded = response.json().get("recorded") if response.status_code == 200 else None
        answers.append(TimedTap(response.status_code, recorded, elapsed))
    return answers
