"""Every option title the operator accepts decides its request through the webhook, on both stores.

And a tap that names a request but matches none of its options is a WARNING an operator can act on,
with the request id; a stranger's tap is logged with the stranger's id.
"""

from __future__ import annotations

import json
import logging

from hypothesis import HealthCheck, assume, example, given, settings
from unicode_titles import option_title_candidates

from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM
from airflow_provider_instagram_hil.payloads import encode_payload
from airflow_provider_instagram_hil.sandbox.reviewer import quick_reply_event
from airflow_provider_instagram_hil.store import RequestStatus

from .webhook_support import IG_REVIEWER, STRANGER, post_signed

LOGGER = "airflow_provider_instagram_hil"


def tap_body(payload: str, sender: str = IG_REVIEWER) -> bytes:
    return json.dumps(quick_reply_event(payload, sender_id=sender), ensure_ascii=False).encode()


class TestEveryAcceptedTitleDecides:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(title=option_title_candidates())
    @example(title="👩🏽\u200d💻 Ship")
    @example(title="Go\u00a0ahead")
    @example(title="🇫🇷 oui")
    def test_tap_records_the_title_it_carries(self, client, pending, hil_store, title):
        try:
            INSTAGRAM.validate_options([title])
        except ValueError:
            assume(False)
        request = pending(options=[title])

        response = post_signed(client, tap_body(encode_payload(request.request_id, title)))

        assert response.status_code == 200
        assert response.get_json()["recorded"] == 1
        decided = hil_store.get_request(request.request_id)
        assert (decided.status, decided.chosen_option) == (RequestStatus.DECIDED, title)


class TestUnmatchedTapsAreWarnings:
    def test_option_that_is_not_one_of_the_requests(self, client, pending, hil_store, caplog):
        request = pending(options=["approve", "reject"])
        with caplog.at_level(logging.INFO, logger=LOGGER):
            response = post_signed(client, tap_body(encode_payload(request.request_id, "maybe")))

        assert response.status_code == 200
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING
        [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert request.request_id in warning.getMessage()
        assert "invalid_option" in warning.getMessage()

    def test_option_no_operator_could_have_sent(self, client, pending, hil_store, caplog):
        request = pending()
        with caplog.at_level(logging.INFO, logger=LOGGER):
            response = post_signed(client, tap_body(f"ighil1:{request.request_id}:ok\x00"))

        assert response.status_code == 200
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING
        [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert request.request_id in warning.getMessage()
        assert IG_REVIEWER in warning.getMessage()

    def test_recorded_taps_stay_info(self, client, pending, caplog):
        request = pending()
        with caplog.at_level(logging.INFO, logger=LOGGER):
            post_signed(client, tap_body(encode_payload(request.request_id, "approve")))
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("recorded" in r.getMessage() for r in caplog.records)


class TestStrangerIsNamed:
    def test_refused_tap_logs_the_strangers_id(self, client, pending, hil_store, caplog):
        request = pending()
        with caplog.at_level(logging.INFO, logger=LOGGER):
            response = post_signed(
                client, tap_body(encode_payload(request.request_id, "approve"), sender=STRANGER)
            )

        assert response.status_code == 200
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING
        [line] = [r.getMessage() for r in caplog.records if "not_allowed" in r.getMessage()]
        assert STRANGER in line
        assert request.request_id in line
