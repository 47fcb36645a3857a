"""X-Hub-Signature-256: checked on the raw bytes, before parsing, against every configured secret."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.webhook.signature import sign_body, signature_matches

from .webhook_support import (
    APP_SECRET,
    IG_REVIEWER,
    ROTATED_SECRET,
    WEBHOOK_PATH,
    load_payload,
    post_signed,
    sign,
)

BODY = b'{"object": "instagram", "entry": []}'


@pytest.fixture
def store_url(sqlite_url):
    """Signatures are checked before the store is used: SQLite is enough."""
    return sqlite_url


class TestSignatureMatches:
    def test_sign_body_is_metas_format(self):
        assert sign_body(BODY, APP_SECRET) == sign(BODY)

    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            pytest.param(sign(BODY), True, id="valid"),
            pytest.param(sign(BODY).upper().replace("SHA256=", "sha256="), True, id="uppercase-hex"),
            pytest.param(sign(BODY, ROTATED_SECRET), True, id="second-secret"),
            pytest.param(None, False, id="missing"),
            pytest.param("", False, id="empty"),
            pytest.param("sha256=", False, id="no-digest"),
            pytest.param(sign(BODY, "another-secret"), False, id="wrong-secret"),
            pytest.param(sign(BODY + b" "), False, id="other-body"),
            pytest.param(sign(BODY)[len("sha256=") :], False, id="no-prefix"),
            pytest.param(
                "sha1=" + hmac.new(APP_SECRET.encode(), BODY, hashlib.sha1).hexdigest(), False, id="sha1"
            ),
            pytest.param("sha256=\u00e9\U0001f511", False, id="non-ascii"),
            pytest.param("sha256=" + "0" * 64, False, id="zeros"),
        ],
    )
    def test_cases(self, header, expected):
        assert signature_matches(BODY, header, [APP_SECRET, ROTATED_SECRET]) is expected

    def test_no_secrets_accept_nothing(self):
        assert not signature_matches(BODY, sign(BODY), [])


class TestSignedEndpoint:
    @pytest.fixture
    def tap(self, pending):
        request = pending()
        return request, load_payload("instagram_quick_reply", request.request_id)

    def test_missing_signature(self, client, hil_store, tap):
        request, body = tap

        response = client.post(WEBHOOK_PATH, data=body, content_type="application/json")

        assert response.status_code == 403
        assert response.get_json() == {"error": "invalid signature"}
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING

    def test_wrong_secret(self, client, hil_store, tap):
        request, body = tap

        response = post_signed(client, body, secret="not-the-app-secret")

        assert response.status_code == 403
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING

    def test_sha1_signature_is_not_enough(self, client, hil_store, tap):
        request, body = tap
        sha1 = "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()

        only_legacy = client.post(WEBHOOK_PATH, data=body, headers={"X-Hub-Signature": sha1})
        sha1_in_new_header = client.post(WEBHOOK_PATH, data=body, headers={"X-Hub-Signature-256": sha1})

        assert only_legacy.status_code == sha1_in_new_header.status_code == 403
        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING

    def test_body_altered_after_signing(self, client, hil_store, pending, tap):
        request, body = tap
        other = pending()
        altered = body.replace(request.request_id.encode(), other.request_id.encode())

        response = client.post(WEBHOOK_PATH, data=altered, headers={"X-Hub-Signature-256": sign(body)})

        assert response.status_code == 403
        assert hil_store.get_request(other.request_id).status is RequestStatus.PENDING

    def test_second_secret_of_the_rotation_list(self, client, hil_store, tap):
        request, body = tap

        response = post_signed(client, body, secret=ROTATED_SECRET)

        assert response.status_code == 200
        decided = hil_store.get_request(request.request_id)
        assert (decided.status, decided.responded_by) == (RequestStatus.DECIDED, IG_REVIEWER)

    def test_checked_before_parsing(self, client):
        response = client.post(WEBHOOK_PATH, data=b"{not json", headers={"X-Hub-Signature-256": sign(b"x")})

        assert response.status_code == 403

    def test_signed_over_raw_bytes_not_reserialised_json(self, client, pending):
        # Escaped slashes, non-ASCII and odd spacing change if the JSON is re-serialised before hashing.
        request = pending()
        body = load_payload("instagram_quick_reply", request.request_id).replace(
            b'"text": "approve"', b'"text":  "appr\\u00f6ve \\/ \xc3\xa9 @"'
        )

        assert post_signed(client, body).status_code == 200
