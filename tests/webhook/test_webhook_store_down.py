"""A store that fails: 503 so Meta redelivers, and the redelivery lands once the store is back."""

from __future__ import annotations

import logging

from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.webhook import create_app, get_state

from .webhook_support import IG_OTHER_REVIEWER, IG_REVIEWER, load_payload, post_signed, store_outage


class TestStoreDown:
    def test_503_then_the_redelivery_lands(self, client, hil_store, pending, sender, drain, caplog):
        request = pending()
        body = load_payload("instagram_quick_reply", request.request_id)

        with caplog.at_level(logging.INFO, logger="airflow_provider_instagram_hil"):
            with store_outage(hil_store.engine):
                down = post_signed(client, body)
            back = post_signed(client, body)

        assert down.status_code == 503
        assert down.get_json() == {"error": "decision store unavailable"}
        assert back.status_code == 200
        decided = hil_store.get_request(request.request_id)
        assert (decided.status, decided.chosen_option) == (RequestStatus.DECIDED, "approve")
        drain()
        assert sender.sent == [(IG_REVIEWER, "✅ Recorded: approve. Thank you.")]
        assert "answering 503 so Meta delivers again" in caplog.text
        assert request.request_id in caplog.text

    def test_batch_interrupted_by_the_outage_is_completed_by_the_redelivery(
        self, client, hil_store, pending, sender, drain
    ):
        first, second = pending(), pending()
        body = load_payload("instagram_batched", first.request_id, second.request_id)
        # The first tap commits, then the database goes away before the second.
        hil_store.record_decision(
            first.request_id,
            option="approve",
            responder_id=IG_REVIEWER,
            mid="aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OmJhdGNoLW9uZQZDZD",
        )

        with store_outage(hil_store.engine):
            assert post_signed(client, body).status_code == 503
        redelivered = post_signed(client, body)

        assert redelivered.status_code == 200
        assert redelivered.get_json()["recorded"] == 1  # the first tap is a recognised duplicate
        assert hil_store.get_request(second.request_id).responded_by == IG_OTHER_REVIEWER
        drain()
        assert sender.sent == [(IG_OTHER_REVIEWER, "✅ Recorded: reject. Thank you.")]

    def test_store_unreachable_from_the_start(self, app_config, tmp_path):
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        app = create_app({**app_config, "INSTAGRAM_HIL_STORE_URL": f"sqlite:///{blocker}/sub/hil.db"})
        try:
            body = load_payload("instagram_quick_reply", "0" * 32)
            response = post_signed(app.test_client(), body)
        finally:
            get_state(app).close()

        assert response.status_code == 503
