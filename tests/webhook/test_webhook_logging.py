"""Logs name event ids, request ids and outcomes: never bodies, headers, signatures, tokens or secrets."""

from __future__ import annotations

import logging

import pytest

from .webhook_support import (
    APP_SECRET,
    IG_REVIEWER,
    ROTATED_SECRET,
    VERIFY_TOKEN,
    WEBHOOK_PATH,
    load_payload,
    post_signed,
    sign,
    store_outage,
)

ADMIN_TOKEN = "Bearer eyJhbGciOiJIUzUxMiJ9.admin-injected-by-airflow"


@pytest.fixture
def store_url(sqlite_url):
    return sqlite_url


def test_a_busy_session_logs_nothing_it_was_sent(client, hil_store, pending, sender, drain, caplog):
    request, other = pending(), pending()
    bodies = {name: load_payload(name, request.request_id) for name in ("instagram_text", "instagram_echo")}
    tap = load_payload("instagram_quick_reply", request.request_id)
    extra = {"Authorization": ADMIN_TOKEN, "Cookie": "session=s3ss10n-c00kie"}

    with caplog.at_level(logging.DEBUG):
        client.get(
            WEBHOOK_PATH,
            query_string={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "8675309",
            },
            headers=extra,
        )
        client.get(WEBHOOK_PATH, query_string={"hub.mode": "subscribe", "hub.verify_token": "guessed-token"})
        for body in bodies.values():
            post_signed(client, body, headers=extra)
        post_signed(client, tap, secret="forged-secret", headers=extra)
        post_signed(client, b'{"object": "instagram", "entry": "not-a-list", "note": "typed-secret-note"}')
        post_signed(client, b"{broken json with typed-secret-note")
        with store_outage(hil_store.engine):
            post_signed(client, load_payload("instagram_quick_reply", other.request_id), headers=extra)
        sender.fail_with = RuntimeError(f"could not send to {IG_REVIEWER} with token {APP_SECRET}")
        post_signed(client, tap, secret=ROTATED_SECRET, headers=extra)
        drain()

    logged = caplog.text
    # What happened is there...
    assert "Answered Meta's webhook verification" in logged
    assert "Refused a webhook verification" in logged
    assert "invalid signature" in logged
    assert "entry must be a list" in logged
    assert f"on request {request.request_id}: recorded" in logged
    assert "answering 503" in logged
    assert "Could not send reply" in logged
    # A reviewer's typed message that answers nothing: the sender is logged, never the text.
    assert "from sender 17841400000000001 answers nothing clearly" in logged
    # ...and nothing that was sent.
    forbidden = [
        APP_SECRET,
        ROTATED_SECRET,
        VERIFY_TOKEN,
        "guessed-token",
        "8675309",
        ADMIN_TOKEN,
        "admin-injected",
        "s3ss10n-c00kie",
        "typed-secret-note",
        "typed by hand",
        "Deploy v1.4",
        sign(tap)[7:],
        sign(tap, ROTATED_SECRET)[7:],
        sign(tap, "forged-secret")[7:],
        "approve",
    ]
    leaked = [value for value in forbidden if value in logged]
    assert leaked == []
