"""Meta's Send API limits: message text and quick replies."""

from __future__ import annotations

import pytest

from airflow_provider_instagram_hil.meta_limits import (
    MAX_QUICK_REPLIES,
    MAX_TEXT_BYTES,
    QuickReply,
    quick_replies_for,
    validate_message,
)
from airflow_provider_instagram_hil.option_titles import MAX_TITLE_CHARS
from airflow_provider_instagram_hil.payloads import MAX_PAYLOAD_CHARS


def reply(title: str = "Approve", payload: str = "ighil1:r1:Approve") -> QuickReply:
    return {"content_type": "text", "title": title, "payload": payload}


class TestLimits:
    def test_limits_are_metas(self):
        assert (MAX_QUICK_REPLIES, MAX_TITLE_CHARS, MAX_PAYLOAD_CHARS, MAX_TEXT_BYTES) == (
            13,
            20,
            1000,
            1000,
        )


class TestValidateMessage:
    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("a" * 1000, id="1000-ascii-bytes"),
            pytest.param("é" * 500, id="500-two-byte-chars"),
            pytest.param("a" * 996 + "😀", id="emoji-ends-exactly-at-1000-bytes"),
            pytest.param("€" * 333 + "a", id="three-byte-chars-1000-bytes"),
            pytest.param("x", id="one-char"),
        ],
    )
    def test_text_within_1000_utf8_bytes_is_accepted(self, text):
        assert len(text.encode()) <= 1000
        validate_message(text)

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("a" * 1001, id="1001-ascii-bytes"),
            pytest.param("é" * 501, id="1002-bytes-in-501-chars"),
            pytest.param("a" * 997 + "😀", id="emoji-crosses-the-boundary"),
            pytest.param("😀" * 251, id="251-emoji-is-1004-bytes"),
        ],
    )
    def test_text_over_1000_utf8_bytes_is_rejected(self, text):
        assert len(text) <= 1001  # short in characters: the limit is in bytes
        with pytest.raises(ValueError, match=r"UTF-8 bytes"):
            validate_message(text)

    @pytest.mark.parametrize("text", [pytest.param("", id="empty"), pytest.param(None, id="none")])
    def test_text_is_required(self, text):
        with pytest.raises(ValueError, match="non-empty"):
            validate_message(text)

    def test_thirteen_quick_replies_pass_and_fourteen_fail(self):
        validate_message("hi", [reply(f"o{i}") for i in range(13)])
        with pytest.raises(ValueError, match="at most 13 quick replies"):
            validate_message("hi", [reply(f"o{i}") for i in range(14)])

    def test_title_of_20_characters_passes_and_21_fails(self):
        validate_message("hi", [reply("t" * 20)])
        with pytest.raises(ValueError, match="21 characters"):
            validate_message("hi", [reply("t" * 21)])

    def test_payload_of_1000_characters_passes_and_1001_fails(self):
        validate_message("hi", [reply(payload="p" * 1000)])
        with pytest.raises(ValueError, match="1001 characters"):
            validate_message("hi", [reply(payload="p" * 1001)])

    @pytest.mark.parametrize(
        ("quick_reply", "match"),
        [
            pytest.param(reply(title=""), "needs a title", id="empty-title"),
            pytest.param(reply(payload=""), "needs a payload", id="empty-payload"),
        ],
    )
    def test_quick_replies_need_title_and_payload(self, quick_reply, match):
        with pytest.raises(ValueError, match=match):
            validate_message("hi", [quick_reply])

    def test_no_quick_replies_is_fine(self):
        validate_message("hi", None)
        validate_message("hi", [])


class TestQuickRepliesFor:
    def test_quick_replies_for_builds_one_text_reply_per_option_in_order(self):
        replies = quick_replies_for("r9", ["Approve", "Reject"])
        assert replies == [
            {"content_type": "text", "title": "Approve", "payload": "ighil1:r9:Approve"},
            {"content_type": "text", "title": "Reject", "payload": "ighil1:r9:Reject"},
        ]
        validate_message("Deploy?", replies)
