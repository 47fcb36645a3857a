"""A store that fails: 503 so Meta redelivers, and the redelivery lands once the store is back."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from stalling_servers import read_only_file

from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.webhook import create_app, get_resources

from .webhook_support import (
    APP_SECRET,
    IG_OTHER_REVIEWER,
    IG_REVIEWER,
    VERIFY_TOKEN,
    load_payload,
    post_signed,
    store_outage,
)


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
            get_resources(app).close()

        assert response.status_code == 503


class TestReadOnlySqlite:
    def test_read_only_file_gets_503_naming_the_cause_then_recovers(
        self, sqlite_url, tmp_path, sender, caplog
    ):
        app = create_app(
            {
                "TESTING": True,
                "INSTAGRAM_HIL_APP_SECRETS": [APP_SECRET],
                "INSTAGRAM_HIL_VERIFY_TOKEN": VERIFY_TOKEN,
                "INSTAGRAM_HIL_STORE_URL": sqlite_url,
                # No outbox sender: its thread would open a connection before the file turns read-only.
                "INSTAGRAM_HIL_SEND_REPLIES": False,
            }
        )
        state = get_resources(app)
        try:
            request, _ = state.store.register_request(
                dag_id="deploy",
                run_id="manual__ro",
                task_id="approve_release",
                recipients=[IG_REVIEWER],
                options=["approve", "reject"],
                expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
            )
            state.store.dispose()  # the next connection opens the file while it is read-only
            body = load_payload("instagram_quick_reply", request.request_id)
            client = app.test_client()
            with (
                caplog.at_level(logging.ERROR, logger="airflow_provider_instagram_hil"),
                read_only_file(str(tmp_path / "instagram_hil.db")),
            ):
                refused = [post_signed(client, body).status_code for _ in range(2)]
            recovered = post_signed(client, body)  # Meta's redelivery, same app, no restart

            assert refused == [503, 503]
            assert "is unavailable: read-only" in caplog.text
            assert recovered.status_code == 200
            assert recovered.get_json()["recorded"] == 1
            assert state.store.get_request(request.request_id).status is RequestStatus.DECIDED
        finally:
            state.close()
