"""Instagram's channel: today's prompt, quick replies and limits, unchanged."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_instagram_hil.channels import CHANNELS, INSTAGRAM, get_channel
from airflow_provider_instagram_hil.meta_limits import MAX_TEXT_BYTES, quick_replies_for
from airflow_provider_instagram_hil.payloads import decode_payload
from airflow_provider_instagram_hil.prompt import ReviewField, render_prompt

RID = "0" * 32
OPTIONS = ["Approve", "Reject"]


class FakeHook:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def send_message(self, recipient_id, text, quick_replies=None):
        self.calls.append(("send_message", recipient_id, text, quick_replies))
        return {"recipient_id": recipient_id, "message_id": f"m_{len(self.calls)}"}

    def count_sent_since(self, recipient_id, text, since, *, platform):
        self.calls.append(("count", recipient_id, text, since, platform))
        return 2


class TestRegistry:
    def test_every_channel_by_name(self):
        assert set(CHANNELS) == {"instagram", "messenger", "whatsapp"}
        assert get_channel("instagram") is INSTAGRAM

    def test_unknown_channel(self):
        with pytest.raises(ValueError, match="unknown channel 'telegram'"):
            get_channel("telegram")


class TestLimits:
    def test_thirteen_quick_replies(self):
        INSTAGRAM.validate_options([f"o{i}" for i in range(13)])
        assert INSTAGRAM.style_for(13).kind == "quick_replies"

    def test_fourteen_options_name_the_channel_and_the_limit(self):
        with pytest.raises(
            ValueError, match=r"^Instagram: at most 13 options \(quick replies\) are allowed, got 14"
        ):
            INSTAGRAM.validate_options([f"o{i}" for i in range(14)])

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            pytest.param(["x" * 21], "Instagram: option 'x{21}' is 21 characters", id="title-21"),
            pytest.param(["A", "A"], "Instagram: options must be unique", id="duplicate"),
            pytest.param("Approve", "Instagram: options must be a list", id="string"),
            pytest.param([], "Instagram: options must name at least one", id="empty"),
            pytest.param(["Yes\n"], "Instagram: option .* control character", id="control"),
        ],
    )
    def test_bad_options(self, options, match):
        with pytest.raises(ValueError, match=match):
            INSTAGRAM.validate_options(options)

    def test_emoji_titles_count_code_points_as_before(self):
        INSTAGRAM.validate_options(["👍" * 20])  # 20 code points, 40 UTF-16 units: Instagram shortens

    @pytest.mark.parametrize(
        ("recipient", "expected"),
        [
            pytest.param(" 6200000000000001 ", "6200000000000001", id="trimmed"),
            pytest.param("ab_1", "ab_1", id="any-id"),
        ],
    )
    def test_recipients(self, recipient, expected):
        assert INSTAGRAM.validate_recipient(recipient) == expected

    @pytest.mark.parametrize("recipient", ["", "  ", "@reviewer"])
    def test_bad_recipients(self, recipient):
        with pytest.raises(ValueError, match="Instagram: recipient_id"):
            INSTAGRAM.validate_recipient(recipient)


class TestRendering:
    def test_same_text_as_render_prompt(self):
        fields = [ReviewField("Rows", "12"), ReviewField("Notes", "n" * 2000)]
        text = INSTAGRAM.render_prompt("Go?", fields, OPTIONS)
        assert text == render_prompt("Go?", fields, OPTIONS)
        assert text.endswith("\n\nReply: Approve / Reject")
        assert len(text.encode()) == MAX_TEXT_BYTES

    def test_subject_and_options_too_long(self):
        with pytest.raises(ValueError, match="an Instagram message holds at most 1000"):
            INSTAGRAM.render_prompt("s" * 995, [], OPTIONS)


class TestSending:
    def test_prompt_is_one_dm_with_quick_replies(self):
        hook = FakeHook()
        assert INSTAGRAM.send_prompt(hook, "62", "Go?", RID, OPTIONS) == "m_1"
        [(_, recipient, text, replies)] = hook.calls
        assert (recipient, text) == ("62", "Go?")
        assert replies == quick_replies_for(RID, OPTIONS)
        assert [decode_payload(r["payload"]) for r in replies] == [(RID, "Approve"), (RID, "Reject")]

    def test_reply_is_a_plain_dm(self):
        hook = FakeHook()
        assert INSTAGRAM.send_reply(hook, "62", "✅ Recorded") == "m_1"
        assert hook.calls == [("send_message", "62", "✅ Recorded", None)]

    def test_was_it_sent_reads_the_instagram_conversation(self):
        hook = FakeHook()
        since = datetime(2026, 12, 1, tzinfo=timezone.utc)
        assert INSTAGRAM.count_sent(hook, "62", "hi", since) == 2
        assert hook.calls == [("count", "62", "hi", since, "instagram")]

    def test_hook_is_built_lazily_with_its_connection(self):
        hook = INSTAGRAM.make_hook("ig_reviews", max_attempts=2)
        assert type(hook).__name__ == "InstagramHook"
        assert (hook.instagram_conn_id, hook.max_attempts) == ("ig_reviews", 2)
        assert INSTAGRAM.make_hook().instagram_conn_id == "instagram_default"


class TestInstagramValidateOptions:
    def test_valid_options_pass(self):
        INSTAGRAM.validate_options(["Approve", "Reject", "x" * 20])

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            pytest.param("Approve", "not one string", id="a-string"),
            pytest.param([], "at least one", id="empty"),
            pytest.param([f"o{i}" for i in range(14)], "at most 13", id="fourteen"),
            pytest.param(["x" * 21], "limited to 20", id="title-21-chars"),
            pytest.param(["ok", " "], "empty or only whitespace", id="blank"),
            pytest.param(["ok", 3], "must be a string", id="not-a-string"),
            pytest.param(["Yes", "Yes"], "unique", id="duplicates"),
        ],
    )
    def test_bad_options_are_rejected(self, options, match):
        with pytest.raises(ValueError, match=match):
            INSTAGRAM.validate_options(options)

    def test_thirteen_options_pass(self):
        INSTAGRAM.validate_options([f"option {i}" for i in range(13)])
