"""Forged and replayed deliveries against the real webhook process, replies recorded by the sandbox.

Meta's signature covers the raw body and nothing else (no timestamp, no nonce): an altered body under an
old signature is refused, an identical replay is accepted but changes nothing (dedupe by ``mid``, first
decision wins), and a reviewer cannot answer a request that is not theirs.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests

from airflow_provider_instagram_hil.store import RequestStatus

from .support import igsid, new_tap, register_requests, signed_headers, tap_body

pytestmark = [pytest.mark.e2e]

NOT_ASSIGNED = "This request is not assigned to you."


def _post(live, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(live.url, data=body, headers=headers, timeout=15)


def _replies_to(live, who: str, count: int) -> list[str]:
    return [m["text"] for m in live.replies_to({who}, count)]


class TestForgedDeliveries:
    def test_old_signature_over_an_altered_body_is_refused(
        self, live_webhook, backend, backend_store, figures
    ):
        ((request_id, (reviewer, _other)),) = register_requests(backend_store, 1)
        stranger = igsid()
        original = tap_body([new_tap(request_id, "Approve", stranger)])
        old_signature = signed_headers(original, live_webhook.app_secret)
        assert _post(live_webhook, original, old_signature).status_code == 200
        forgeries = {
            "sender swapped for the reviewer": original.replace(stranger.encode(), reviewer.encode()),
            "option changed": original.replace(b":Approve", b":Reject"),
            "re-serialised, same JSON": json.dumps(json.loads(original), indent=1).encode(),
            "trailing space": original + b" ",
        }
        for name, body in forgeries.items():
            response = _post(live_webhook, body, old_signature)
            assert response.status_code == 403, name
            assert response.json() == {"error": "invalid signature"}
        assert backend_store.get_request(request_id).status is RequestStatus.PENDING
        figures("forgeries_refused", len(forgeries), scope=f"forgery[{backend.name}]")

    def test_tap_on_someone_elses_request_is_ignored_and_told_so(
        self, live_webhook, backend, backend_store, figures
    ):
        (mine, (theirs_id, theirs_reviewers)) = register_requests(backend_store, 2)
        me = mine[1][0]
        assert me not in theirs_reviewers
        response = _post_tap(live_webhook, theirs_id, "Approve", me)
        assert response.json() == {"status": "ok", "events": 1, "recorded": 0}
        assert backend_store.get_request(theirs_id).status is RequestStatus.PENDING
        assert backend_store.get_request(mine[0]).status is RequestStatus.PENDING
        assert _replies_to(live_webhook, me, 1) == [NOT_ASSIGNED]
        # The request's own reviewer can still decide it.
        assert _post_tap(live_webhook, theirs_id, "Reject", theirs_reviewers[1]).json()["recorded"] == 1
        assert backend_store.get_request(theirs_id).responded_by == theirs_reviewers[1]
        figures("not_assigned", 1, scope=f"forgery[{backend.name}]")

    def test_identical_replay_is_accepted_but_changes_nothing(
        self, live_webhook, backend, backend_store, figures
    ):
        ((request_id, (reviewer, _other)),) = register_requests(backend_store, 1)
        body = tap_body([new_tap(request_id, "Approve", reviewer)])
        headers = signed_headers(body, live_webhook.app_secret)
        assert _post(live_webhook, body, headers).json()["recorded"] == 1
        decided = backend_store.get_request(request_id)
        replays = [_post(live_webhook, body, headers) for _ in range(10)]
        assert [r.json()["recorded"] for r in replays] == [0] * 10
        assert backend_store.get_request(request_id) == decided
        # A later, different tap by the same reviewer (new mid) cannot change the decision either.
        assert _post_tap(live_webhook, request_id, "Reject", reviewer).json()["recorded"] == 0
        assert backend_store.get_request(request_id).chosen_option == "Approve"
        # One reply per decision attempt; the ten duplicates (queued before the last tap) got none.
        assert Counter(_replies_to(live_webhook, reviewer, 2)) == {
            "✅ Recorded: Approve. Thank you.": 1,
            "You already answered this request: Approve.": 1,
        }
        figures("replays_ignored", len(replays), scope=f"forgery[{backend.name}]")


def _post_tap(live, request_id: str, option: str, sender: str) -> requests.Response:
    body = tap_body([new_tap(request_id, option, sender)])
    response = _post(live, body, signed_headers(body, live.app_secret))
    assert response.status_code == 200
    return response
