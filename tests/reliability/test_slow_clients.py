"""Slow clients against the standalone webhook (``instagram-hil webhook``, waitress, default settings).

Hundreds of connections trickle request bodies that never end; signed taps on new connections must
still be answered, each within 1 s. waitress reads bodies in its I/O loop, so a slow client costs a
connection (up to ``--connection-limit``), never one of the threads that answer taps.
"""

from __future__ import annotations

import pytest
from slow_clients import SlowBodyClients, timed_taps

from .support import register_requests, scaled

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(scaled(300, 900))]

SLOW_CONNECTIONS = scaled(300, 900)
TAPS = scaled(10, 40)


def test_taps_answered_within_1s_while_slow_clients_hold_connections(live_webhook, backend_store, figures):
    made = register_requests(backend_store, TAPS)
    with SlowBodyClients(live_webhook.url, SLOW_CONNECTIONS) as slow:
        answers = timed_taps(live_webhook.url, live_webhook.app_secret, [(rid, who[0]) for rid, who in made])
        still_open = slow.open

    assert [answer.status for answer in answers] == [200] * TAPS
    assert [answer.recorded for answer in answers] == [1] * TAPS
    slowest = max(answer.seconds for answer in answers)
    assert slowest < 1.0, f"slowest tap took {slowest:.2f} s with {still_open} slow connections open"
    assert still_open == SLOW_CONNECTIONS  # they really were held open throughout
    figures("slow_connections", SLOW_CONNECTIONS)
    figures("slowest_tap_ms", round(slowest * 1000))
