"""What an id is: request ids made and recognised by one rule, event ids kept by one key."""

from __future__ import annotations

import pytest

from airflow_provider_instagram_hil.ids import MAX_MID_CHARS, is_request_id, mid_key, new_request_id


class TestRequestIds:
    def test_a_new_id_is_a_request_id(self):
        assert is_request_id(new_request_id())

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(None, id="none"),
            pytest.param("", id="empty"),
            pytest.param("0f" * 15, id="too-short"),
            pytest.param("0f" * 17, id="too-long"),
            pytest.param("0F" * 16, id="upper-case"),
            pytest.param("../" + "0" * 29, id="path"),
            pytest.param("0" * 31 + "\x00", id="nul"),
            pytest.param(b"0" * 32, id="bytes"),
        ],
    )
    def test_anything_else_is_not(self, value):
        assert not is_request_id(value)


class TestMidKey:
    def test_kept_as_given(self):
        assert mid_key("m_1") == "m_1"

    @pytest.mark.parametrize("mid", [None, "", 7])
    def test_no_key_without_an_id(self, mid):
        assert mid_key(mid) is None

    @pytest.mark.parametrize("mid", ["m" * (MAX_MID_CHARS + 1), "m\x00", "\ud800"])
    def test_long_or_unprintable_ids_are_hashed_once(self, mid):
        key = mid_key(mid)
        assert key is not None
        assert key.startswith("sha256:")
        assert mid_key(key) == key
