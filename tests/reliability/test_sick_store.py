"""The real ``instagram-hil webhook`` on a store that is sick but not dead: 503 in seconds, then recovery.

Meta wants an answer within 5 s and redelivers after a 503, so a stalled database must cost each
delivery a bounded wait, never the server's threads: the handshake keeps answering, and once the
database answers again the same process records the redelivery (no restart).
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from stalling_servers import SilentListener, StallingProxy, upstream_of, via

from airflow_provider_instagram_hil.store import DecisionStore, RequestStatus

from .live import LiveWebhook
from .support import new_tap, postgres_schema_url, register_requests, signed_headers, tap_body

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CONNECT, STATEMENT, POOL = 2.0, 1.0, 1.0
TIMEOUT_ENV = {
    "AIRFLOW__INSTAGRAM_HIL__STORE_CONNECT_TIMEOUT": str(CONNECT),
    "AIRFLOW__INSTAGRAM_HIL__STORE_STATEMENT_TIMEOUT": str(STATEMENT),
    "AIRFLOW__INSTAGRAM_HIL__STORE_POOL_TIMEOUT": str(POOL),
}
#: The worst a stalled store may cost one delivery with these limits: a pooled connection's health
#: check or a new connection (CONNECT) after waiting for a pooled one (POOL); plus generous slack.
BOUND = CONNECT + POOL
SLACK = 1.5
CONCURRENT_TAPS = 6


def _live(store_url: str, home: Path) -> LiveWebhook:
    live = LiveWebhook(store_url, home)
    live.stack.extra_env.update(TIMEOUT_ENV)
    return live.start()


def _post_tap(live: LiveWebhook, body: bytes) -> tuple[int, float]:
    started = time.monotonic()
    response = requests.post(live.url, data=body, headers=signed_headers(body, live.app_secret), timeout=30)
    return response.status_code, time.monotonic() - started


def _handshake(live: LiveWebhook) -> tuple[int, float]:
    challenge = secrets.token_hex(4)
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": live.stack.verify_token,
        "hub.challenge": challenge,
    }
    started = time.monotonic()
    response = requests.get(live.url, params=params, timeout=30)
    assert response.text == challenge
    return response.status_code, time.monotonic() - started


def _stalled_round(
    live: LiveWebhook, bodies: list[bytes], *, concurrent: bool = True
) -> tuple[list[tuple[int, float]], list[float]]:
    """Post every body (at once, or one after the other) and do handshakes meanwhile; return the answers."""
    with ThreadPoolExecutor(max_workers=len(bodies) if concurrent else 1) as pool:
        taps = [pool.submit(_post_tap, live, body) for body in bodies]
        handshakes = []
        while not all(tap.done() for tap in taps):
            status, elapsed = _handshake(live)
            assert status == 200
            handshakes.append(elapsed)
        return [tap.result() for tap in taps], handshakes


@pytest.mark.postgres
def test_stalled_postgres_gets_503_within_the_bound_and_recovers(tmp_path, figures):
    with postgres_schema_url() as url, StallingProxy(*upstream_of(url)) as proxy:
        direct = DecisionStore(url)
        direct.ensure_schema()
        made = register_requests(direct, CONCURRENT_TAPS)
        taps = [new_tap(request_id, "Approve", recipients[0]) for request_id, recipients in made]
        bodies = [tap_body([tap]) for tap in taps]
        live = _live(via(url, proxy.port), tmp_path / "home")
        try:
            pid = live.stack.webhook.pid
            stranger = new_tap(made[0][0], "Approve", "17841499999999999")
            assert _post_tap(live, tap_body([stranger]))[0] == 200  # warms the webhook's pool

            proxy.stall()
            answers, handshakes = _stalled_round(live, bodies)
            assert [status for status, _ in answers] == [503] * len(bodies)
            assert max(elapsed for _, elapsed in answers) < BOUND + SLACK
            assert handshakes
            assert max(handshakes) < 1.0

            proxy.resume()
            redelivered = [_post_tap(live, body) for body in bodies]  # Meta delivers again
            assert [status for status, _ in redelivered] == [200] * len(bodies)
            assert all(direct.get_request(tap.request_id).status is RequestStatus.DECIDED for tap in taps)
            assert live.stack.webhook.pid == pid  # the same process: no restart
            assert "is unavailable: timeout" in live.output()
            figures("slowest_503_s", round(max(e for _, e in answers), 2))
            figures("slowest_handshake_s", round(max(handshakes), 2))
        finally:
            live.stop()
            direct.dispose()


def test_store_that_never_answers_gets_503_within_the_bound(tmp_path, figures):
    # One delivery at a time: while the store has never answered, the store checks its schema under a
    # lock first, so concurrent deliveries wait for each other's connection attempts.
    with SilentListener() as silent:
        live = _live(f"postgresql://postgres@127.0.0.1:{silent.port}/test", tmp_path / "home")
        try:
            bodies = [tap_body([new_tap("0" * 32, "Approve", "17841400000000001")])] * 3
            answers, handshakes = _stalled_round(live, bodies, concurrent=False)
            assert [status for status, _ in answers] == [503] * len(bodies)
            assert max(elapsed for _, elapsed in answers) < BOUND + SLACK
            assert max(handshakes) < 1.0
            assert "is unavailable: timeout" in live.output()
            figures("slowest_503_s", round(max(e for _, e in answers), 2))
        finally:
            live.stop()
