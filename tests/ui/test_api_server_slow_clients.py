"""Slow clients against the webhook mounted in a real ``airflow api-server``.

The mount bridges ASGI to the webhook's WSGI app through a few threads. Hundreds of connections trickle
request bodies that never end; signed taps must still be answered, each within 1 s, because bodies are
read in the event loop before a request takes a thread.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from slow_clients import SlowBodyClients, timed_taps

from airflow_provider_instagram_hil.store import DecisionStore

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SLOW_CONNECTIONS = 300
#: Seconds between two bytes of one slow connection. Every byte crosses Airflow's own middlewares in the
#: API server's event loop (about a millisecond each here), so the load is connections / interval.
SLOW_INTERVAL = 2.0
TAPS = 10
REVIEWER = "6200000000000077"


@pytest.fixture(scope="module")
def store(api_server) -> Iterator[DecisionStore]:
    decision_store = DecisionStore(api_server.store_url)
    yield decision_store
    decision_store.dispose()


def _pending(store: DecisionStore, count: int) -> list[tuple[str, str]]:
    made = []
    for index in range(count):
        request, created = store.register_request(
            dag_id="slow_clients",
            run_id=f"manual__{time.monotonic_ns()}",
            task_id="approve",
            map_index=index,
            recipients=[REVIEWER],
            options=["Approve", "Reject"],
            expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
        )
        assert created
        made.append((request.request_id, REVIEWER))
    return made


def test_taps_answered_within_1s_while_slow_clients_trickle_bodies(api_server, store):
    warm_up = timed_taps(api_server.webhook_url, api_server.app_secret, _pending(store, 1))
    assert [answer.status for answer in warm_up] == [200]  # the first request builds lazy state
    pending = _pending(store, TAPS)
    with SlowBodyClients(api_server.webhook_url, SLOW_CONNECTIONS, interval=SLOW_INTERVAL) as slow:
        answers = timed_taps(api_server.webhook_url, api_server.app_secret, pending)
        still_open = slow.open

    assert [answer.status for answer in answers] == [200] * TAPS
    assert [answer.recorded for answer in answers] == [1] * TAPS
    slowest = max(answer.seconds for answer in answers)
    assert slowest < 1.0, f"slowest tap took {slowest:.2f} s with {still_open} slow connections open"
    assert still_open == SLOW_CONNECTIONS


def test_an_oversized_declared_body_is_refused_unread(api_server):
    with socket.create_connection(("127.0.0.1", int(api_server.url.rsplit(":", 1)[1])), timeout=10) as sock:
        path = api_server.webhook_url.split(api_server.url, 1)[1]
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {64 * 1024 * 1024}\r\n\r\n{{".encode()
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")
