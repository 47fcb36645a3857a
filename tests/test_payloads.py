"""The payload a tap sends back: encoded and decoded by one codec."""

from __future__ import annotations

import pytest

from airflow_provider_instagram_hil.payloads import (
    TapPayload,
    decode_payload,
    encode_payload,
)


class TestPayload:
    @pytest.mark.parametrize(
        ("request_id", "option"),
        [
            pytest.param("r1", "Approve", id="simple"),
            pytest.param("3f2b9c", "Yes: ship it", id="colon-in-option"),
            pytest.param("abc", "Ünïcödé 😀", id="unicode-option"),
        ],
    )
    def test_round_trip(self, request_id, option):
        payload = encode_payload(request_id, option)
        assert payload.startswith("ighil1:")
        assert decode_payload(payload) == TapPayload(request_id, option)

    def test_request_id_with_colon_is_refused(self):
        with pytest.raises(ValueError, match="':'"):
            encode_payload("a:b", "Approve")

    @pytest.mark.parametrize(
        "payload",
        [
            pytest.param(None, id="none"),
            pytest.param(42, id="int"),
            pytest.param("", id="empty"),
            pytest.param("ighil1", id="prefix-only"),
            pytest.param("ighil1:", id="prefix-and-colon"),
            pytest.param("ighil1:r1", id="no-option"),
            pytest.param("ighil1:r1:", id="empty-option"),
            pytest.param("ighil1::Approve", id="empty-request-id"),
            pytest.param("ighil2:r1:Approve", id="other-version"),
            pytest.param("other:r1:Approve", id="foreign-prefix"),
            pytest.param("ighil1:r1:" + "x" * 1000, id="over-1000-chars"),
        ],
    )
    def test_foreign_or_broken_payloads_decode_to_none(self, payload):
        assert decode_payload(payload) is None
