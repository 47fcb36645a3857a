"""POST /webhooks/instagram: signed deliveries from Meta's documented shapes become decisions."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.exceptions import InstagramApiError
from airflow_provider_instagram_hil.ids import new_request_id
from airflow_provider_instagram_hil.store import RecipientSpec, RequestStatus
from airflow_provider_instagram_hil.webhook import create_app, get_resources

from .webhook_support import (
    IG_OTHER_REVIEWER,
    IG_REVIEWER,
    PAGE_REVIEWER,
    QUICK_REPLY_MID,
    STRANGER,
    WA_REVIEWER,
    load_payload,
    post_signed,
)

RECORDED_APPROVE = "✅ Recorded: approve. Thank you."
RECORDED_REJECT = "✅ Recorded: reject. Thank you."


class TestTaps:
    @pytest.mark.parametrize(
        ("fixture", "option", "responder", "channel", "reply"),
        [
            pytest.param(
                "instagram_quick_reply",
                "approve",
                IG_REVIEWER,
                "instagram",
                RECORDED_APPROVE,
                id="ig-quick-reply",
            ),
            pytest.param(
                "instagram_postback", "reject", IG_REVIEWER, "instagram", RECORDED_REJECT, id="ig-postback"
            ),
            pytest.param(
                "instagram_standby", "approve", IG_REVIEWER, "instagram", RECORDED_APPROVE, id="ig-standby"
            ),
            pytest.param(
                "instagram_changes_postback",
                "reject",
                IG_REVIEWER,
                "instagram",
                RECORDED_REJECT,
                id="ig-changes-postback",
            ),
            pytest.param(
                "messenger_page_quick_reply",
                "approve",
                PAGE_REVIEWER,
                "messenger",
                RECORDED_APPROVE,
                id="messenger-page",
            ),
            pytest.param(
                "whatsapp_button_reply", "approve", WA_REVIEWER, "whatsapp", None, id="whatsapp-button-reply"
            ),
        ],
    )
    def test_tap_is_recorded_and_answered(
        self, client, hil_store, pending, sender, drain, fixture, option, responder, channel, reply
    ):
        request = pending()

        response = post_signed(client, load_payload(fixture, request.request_id))

        assert response.status_code == 200
        assert response.get_json() == {"status": "ok", "events": 1, "recorded": 1}
        decided = hil_store.get_request(request.request_id)
        assert decided.status is RequestStatus.DECIDED
        assert (decided.chosen_option, decided.responded_by) == (option, responder)
        (answer,) = decided.responses
        assert answer.mid
        assert answer.channel == answer.source == channel
        drain()
        # WhatsApp reviewers cannot be reached through the Instagram Send API: no reply there.
        assert sender.sent == ([(responder, reply)] if reply else [])
        assert sender.channels == ([channel] if reply else [])

    def test_a_button_template_tap_after_a_typed_message_is_recorded(
        self, client, hil_store, pending, sender, drain
    ):
        # Instagram's persistent buttons: the reviewer writes first (quick replies would vanish), then taps
        # the template's postback button, which is still there.
        request = pending(subject="Deploy v2")

        chat = post_signed(client, load_payload("instagram_text_chat", request.request_id))
        assert chat.get_json() == {"status": "ok", "events": 1, "recorded": 0}
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING

        tap = post_signed(client, load_payload("instagram_postback", request.request_id))

        assert tap.get_json() == {"status": "ok", "events": 1, "recorded": 1}
        decided = hil_store.get_request(request.request_id)
        assert (decided.status, decided.chosen_option, decided.responded_by) == (
            RequestStatus.DECIDED,
            "reject",
            IG_REVIEWER,
        )
        assert [(r.channel, r.source) for r in decided.responses] == [("instagram", "instagram")]
        drain()
        assert sender.sent == [
            (IG_REVIEWER, "To answer 'Deploy v2', reply with one of: 1 approve / 2 reject."),
            (IG_REVIEWER, RECORDED_REJECT),
        ]

    def test_quick_reply_keeps_metas_mid(self, client, hil_store, pending):
        request = pending()

        post_signed(client, load_payload("instagram_quick_reply", request.request_id))

        assert [r.mid for r in hil_store.get_request(request.request_id).responses] == [QUICK_REPLY_MID]

    def test_a_recipient_on_another_channel_is_refused(self, client, hil_store, pending, sender, drain):
        # The Instagram reviewer's id arriving from a Messenger Page: not the channel they were asked on.
        request = pending(recipients=[RecipientSpec(PAGE_REVIEWER, "instagram")])

        response = post_signed(client, load_payload("messenger_page_quick_reply", request.request_id))

        assert response.get_json()["recorded"] == 0
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING
        drain()
        assert sender.sent == [(PAGE_REVIEWER, "This request is not assigned to you.")]

    @pytest.mark.parametrize(
        "fixture",
        [
            "instagram_echo",
            "instagram_read",
            "instagram_reaction",
            "instagram_deleted",
            "instagram_attachment",
            "instagram_foreign_payload",
            "dashboard_test_sample",
        ],
    )
    def test_other_events_are_acknowledged_and_ignored(
        self, client, hil_store, pending, sender, drain, fixture
    ):
        request = pending()

        response = post_signed(client, load_payload(fixture, request.request_id))

        assert response.status_code == 200
        assert response.get_json()["recorded"] == 0
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING
        drain()
        assert sender.sent == []

    def test_batched_entries_are_all_recorded(self, client, hil_store, pending, sender, drain):
        first, second = pending(), pending()

        response = post_signed(client, load_payload("instagram_batched", first.request_id, second.request_id))

        assert response.status_code == 200
        assert response.get_json() == {"status": "ok", "events": 3, "recorded": 2}
        one, two = hil_store.get_request(first.request_id), hil_store.get_request(second.request_id)
        assert (one.chosen_option, one.responded_by) == ("approve", IG_REVIEWER)
        assert (two.chosen_option, two.responded_by) == ("reject", IG_OTHER_REVIEWER)
        drain()
        assert sorted(sender.sent) == sorted(
            [(IG_REVIEWER, RECORDED_APPROVE), (IG_OTHER_REVIEWER, RECORDED_REJECT)]
        )

    def test_content_type_is_not_trusted(self, client, hil_store, pending):
        request = pending()

        response = post_signed(
            client,
            load_payload("instagram_quick_reply", request.request_id),
            headers={"Content-Type": "text/plain; charset=latin-1"},
        )

        assert response.status_code == 200
        assert hil_store.get_request(request.request_id).status is RequestStatus.DECIDED


class TestOutcomes:
    def test_duplicate_delivery_is_idempotent(self, client, hil_store, pending, sender, drain):
        request = pending()
        body = load_payload("instagram_quick_reply", request.request_id)

        responses = [post_signed(client, body) for _ in range(3)]

        assert [r.status_code for r in responses] == [200, 200, 200]
        assert [r.get_json()["recorded"] for r in responses] == [1, 0, 0]
        assert [r.mid for r in hil_store.get_request(request.request_id).responses] == [QUICK_REPLY_MID]
        drain()
        assert sender.sent == [(IG_REVIEWER, RECORDED_APPROVE)]

    def test_redelivered_postback_without_mid_is_a_duplicate(self, client, hil_store, pending, sender, drain):
        request = pending()
        body = load_payload("instagram_changes_postback", request.request_id)

        responses = [post_signed(client, body) for _ in range(2)]

        assert [r.get_json()["recorded"] for r in responses] == [1, 0]
        drain()
        assert sender.sent == [(IG_REVIEWER, RECORDED_REJECT)]

    def test_wrong_sender_is_ignored_and_told(self, client, hil_store, pending, sender, drain):
        request = pending()
        body = load_payload("instagram_quick_reply", request.request_id).replace(
            IG_REVIEWER.encode(), STRANGER.encode()
        )

        response = post_signed(client, body)

        assert response.status_code == 200
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING
        drain()
        assert sender.sent == [(STRANGER, "This request is not assigned to you.")]

    def test_expired_request(self, client, hil_store, pending, sender, drain):
        request = pending(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1))

        response = post_signed(client, load_payload("instagram_quick_reply", request.request_id))

        assert response.status_code == 200
        assert hil_store.get_request(request.request_id).chosen_option is None
        drain()
        when = f"{request.expires_at:%Y-%m-%d %H:%M} UTC"
        assert sender.sent == [
            (IG_REVIEWER, f"This request expired at {when}; your answer was not recorded.")
        ]

    def test_closed_with_its_default_option(self, client, hil_store, pending, sender, drain):
        request = pending(default_option="reject")
        hil_store.expire_request(request.request_id)

        post_signed(client, load_payload("instagram_quick_reply", request.request_id))

        assert hil_store.get_request(request.request_id).chosen_option == "reject"
        drain()
        when = f"{request.expires_at:%Y-%m-%d %H:%M} UTC"
        assert sender.sent == [
            (
                IG_REVIEWER,
                f"This request expired at {when} and its default, reject, applied. "
                "Your answer was not recorded.",
            )
        ]

    def test_already_answered_by_another_reviewer(self, client, hil_store, pending, sender, drain):
        request = pending()
        hil_store.record_decision(
            request.request_id, option="reject", responder_id=IG_OTHER_REVIEWER, mid="m0"
        )

        response = post_signed(client, load_payload("instagram_quick_reply", request.request_id))

        assert response.status_code == 200
        assert hil_store.get_request(request.request_id).responded_by == IG_OTHER_REVIEWER
        drain()
        assert sender.sent == [
            (IG_REVIEWER, "This request was already answered by another reviewer: reject.")
        ]

    def test_already_answered_names_the_reviewer(self, client, hil_store, pending, sender, drain):
        request = pending(
            recipients=[
                RecipientSpec(IG_REVIEWER, name="alice"),
                RecipientSpec(IG_OTHER_REVIEWER, name="bob"),
            ]
        )
        hil_store.record_decision(request.request_id, option="reject", responder_id=IG_OTHER_REVIEWER)

        post_signed(client, load_payload("instagram_quick_reply", request.request_id))

        drain()
        assert sender.sent == [(IG_REVIEWER, "This request was already answered by bob: reject.")]

    def test_superseded_request(self, client, hil_store, pending, sender, drain):
        request = pending()
        hil_store.register_request(
            dag_id=request.dag_id,
            run_id=request.run_id,
            task_id=request.task_id,
            try_number=2,
            recipients=[IG_REVIEWER],
            options=["approve", "reject"],
            expires_at=request.expires_at,
        )

        response = post_signed(client, load_payload("instagram_quick_reply", request.request_id))

        assert response.get_json()["recorded"] == 0
        drain()
        assert sender.sent == [
            (IG_REVIEWER, "This request was replaced by a newer one: please answer the latest message.")
        ]

    def test_cancelled_request(self, client, hil_store, pending, sender, drain):
        request = pending()
        hil_store.cancel_request(request.request_id, "the task was cleared")

        assert (
            post_signed(client, load_payload("instagram_quick_reply", request.request_id)).status_code == 200
        )

        drain()
        assert sender.sent == [
            (IG_REVIEWER, "This request was cancelled (the task was cleared); your answer was not recorded.")
        ]

    @pytest.mark.parametrize(
        "payload",
        [
            pytest.param(f"ighil1:{new_request_id()}:approve", id="unknown-request"),
            pytest.param("ighil1:__REQUEST_ID__:maybe", id="invalid-option"),
        ],
    )
    def test_silently_refused(self, client, hil_store, pending, sender, drain, payload):
        request = pending()
        body = load_payload("instagram_quick_reply", request.request_id).replace(
            f"ighil1:{request.request_id}:approve".encode(),
            payload.replace("__REQUEST_ID__", request.request_id).encode(),
        )

        response = post_signed(client, body)

        assert response.status_code == 200
        assert response.get_json()["recorded"] == 0
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING
        drain()
        assert sender.sent == []


class TestReplies:
    def test_reply_is_sent_after_the_decision_committed(self, client, app_config, pending, sender, drain):
        request = pending()
        seen = []
        # A second engine on the same database: it only sees committed data.
        observer_app = create_app({**app_config, "INSTAGRAM_HIL_SEND_REPLIES": False})
        observer = get_resources(observer_app).store
        sender.observer = lambda _recipient, _text: seen.append(
            observer.get_request(request.request_id).status
        )
        try:
            post_signed(client, load_payload("instagram_quick_reply", request.request_id))
            drain()
        finally:
            get_resources(observer_app).close()

        assert seen == [RequestStatus.DECIDED]

    @pytest.mark.parametrize(
        "error",
        [
            pytest.param(InstagramApiError("outside the window", code=10, subcode=2534022), id="graph-error"),
            pytest.param(ConnectionError("graph.facebook.com unreachable"), id="network-error"),
        ],
    )
    def test_failing_reply_changes_nothing(self, client, hil_store, pending, sender, drain, caplog, error):
        request = pending()
        sender.fail_with = error

        with caplog.at_level(logging.WARNING, logger="airflow_provider_instagram_hil"):
            response = post_signed(client, load_payload("instagram_quick_reply", request.request_id))
            drain()

        assert response.status_code == 200
        assert hil_store.get_request(request.request_id).status is RequestStatus.DECIDED
        assert f"(request {request.request_id})" in caplog.text
        assert "Could not send reply" in caplog.text or "Gave up on reply" in caplog.text

    def test_replies_can_be_switched_off(self, app_config, pending, sender):
        app = create_app({**app_config, "INSTAGRAM_HIL_SEND_REPLIES": False})
        try:
            state = get_resources(app)
            request, _ = state.store.register_request(
                dag_id="d",
                run_id="r",
                task_id="t",
                recipients=[IG_REVIEWER],
                options=["approve", "reject"],
                expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
            )
            response = post_signed(
                app.test_client(), load_payload("instagram_quick_reply", request.request_id)
            )

            assert response.status_code == 200
            assert state.sender is None
            assert state.store.get_request(request.request_id).status is RequestStatus.DECIDED
        finally:
            get_resources(app).close()
        assert sender.sent == []
