"""Messenger's channel: a button template for up to 3 options, quick replies for 4 to 13, its limits."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_instagram_hil.channels.messenger import MAX_TEXT_CHARS, MESSENGER, validate_message
from airflow_provider_instagram_hil.channels.send_api import MAX_TEMPLATE_TEXT_CHARS
from airflow_provider_instagram_hil.payloads import decode_payload
from airflow_provider_instagram_hil.prompt import ReviewField, TextLimit

RID = "1" * 32
CHARS = TextLimit(1, "characters").measure


class FakeHook:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def send_message(self, recipient_id, text, quick_replies=None):
        self.calls.append(("send_message", recipient_id, text, quick_replies))
        return {"message_id": "m_1"}

    def send_buttons(self, recipient_id, text, buttons):
        self.calls.append(("send_buttons", recipient_id, text, buttons))
        return {"message_id": "m_2"}

    def count_sent_since(self, recipient_id, text, since, *, platform):
        self.calls.append(("count", platform))
        return 0


class TestLimits:
    @pytest.mark.parametrize(
        ("count", "kind"),
        [(1, "button_template"), (3, "button_template"), (4, "quick_replies"), (13, "quick_replies")],
    )
    def test_style_by_option_count(self, count, kind):
        MESSENGER.validate_options([f"o{i}" for i in range(count)])
        assert MESSENGER.style_for(count).kind == kind

    def test_fourteen_options(self):
        with pytest.raises(
            ValueError, match=r"^Messenger: at most 13 options \(quick replies\) are allowed, got 14"
        ):
            MESSENGER.validate_options([f"o{i}" for i in range(14)])

    def test_button_title_counts_utf16_units(self):
        # 11 emoji: 11 code points (the option-title rule allows them) but 22 UTF-16 units.
        with pytest.raises(
            ValueError,
            match=r"Messenger: option .* is 22 characters; the title of a button-template button holds at "
            "most 20",
        ):
            MESSENGER.validate_options(["👍" * 11, "No"])

    def test_quick_reply_titles_may_be_long_in_utf16(self):
        MESSENGER.validate_options(["👍" * 11, "b", "c", "d"])  # Meta shortens quick-reply titles itself

    @pytest.mark.parametrize(
        ("recipient", "expected"), [("7100000000000001", "7100000000000001"), (" 42 ", "42")]
    )
    def test_psids(self, recipient, expected):
        assert MESSENGER.validate_recipient(recipient) == expected

    @pytest.mark.parametrize("recipient", ["", "@page.user", "psid-1", "12 34"])
    def test_not_psids(self, recipient):
        with pytest.raises(ValueError, match=r"Messenger: recipient_id .* is not a Page-scoped ID"):
            MESSENGER.validate_recipient(recipient)


class TestRendering:
    def test_button_template_text_holds_640_characters_without_an_options_line(self):
        text = MESSENGER.render_prompt("Go?", [ReviewField("Notes", "é" * 1000)], ["Yes", "No"])
        assert CHARS(text) == MAX_TEMPLATE_TEXT_CHARS
        assert "Reply:" not in text
        assert text.startswith("Go?\n\nNotes: éé")
        assert text.endswith("…")

    def test_quick_reply_text_holds_2000_characters_with_the_options_line(self):
        options = ["a", "b", "c", "d"]
        text = MESSENGER.render_prompt("Go?", [ReviewField("Notes", "😀" * 1500)], options)
        assert CHARS(text) <= MAX_TEXT_CHARS
        assert CHARS(text) >= MAX_TEXT_CHARS - 1  # an emoji (2 units) may not fit the last unit
        assert text.endswith("\n\nReply: a / b / c / d")

    def test_subject_too_long_for_a_template(self):
        with pytest.raises(ValueError, match="a Messenger button template's text holds at most 640"):
            MESSENGER.render_prompt("s" * 641, [], ["Yes"])


class TestSending:
    def test_up_to_three_options_are_postback_buttons(self):
        hook = FakeHook()
        assert MESSENGER.send_prompt(hook, "71", "Go?", RID, ["Yes", "No"]) == "m_2"
        [(kind, recipient, text, buttons)] = hook.calls
        assert (kind, recipient, text) == ("send_buttons", "71", "Go?")
        assert [(b["type"], b["title"]) for b in buttons] == [("postback", "Yes"), ("postback", "No")]
        assert [decode_payload(b["payload"]) for b in buttons] == [(RID, "Yes"), (RID, "No")]

    def test_four_options_are_quick_replies(self):
        hook = FakeHook()
        MESSENGER.send_prompt(hook, "71", "Go?", RID, ["a", "b", "c", "d"])
        [(kind, _, _, replies)] = hook.calls
        assert kind == "send_message"
        assert [(r["content_type"], r["title"]) for r in replies] == [("text", t) for t in "abcd"]

    def test_reply_and_check(self):
        hook = FakeHook()
        assert MESSENGER.send_reply(hook, "71", "ok") == "m_1"
        assert MESSENGER.count_sent(hook, "71", "ok", datetime.now(timezone.utc)) == 0
        assert hook.calls[-1] == ("count", "messenger")


class TestValidateMessage:
    def button(self, title="Yes", payload="p"):
        return {"type": "postback", "title": title, "payload": payload}

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            pytest.param(
                {"text": "x" * 2001}, "text is 2001 characters; a message holds at most 2000", id="text-2001"
            ),
            pytest.param(
                {"text": "x" * 641, "buttons": [{"type": "postback", "title": "a", "payload": "p"}]},
                "button template's text holds at most 640",
                id="template-641",
            ),
            pytest.param({"text": "x", "buttons": []}, "1 to 3 buttons, got 0", id="no-buttons"),
            pytest.param(
                {"text": "x", "buttons": [{"title": str(i), "payload": "p"} for i in range(4)]},
                "1 to 3 buttons, got 4",
                id="four-buttons",
            ),
            pytest.param(
                {"text": "x", "quick_replies": [{"title": str(i), "payload": "p"} for i in range(14)]},
                "at most 13 quick replies",
                id="14-quick-replies",
            ),
            pytest.param(
                {"text": "x", "buttons": [{"title": "a", "payload": "p" * 1001}]},
                "payload is 1001 characters",
                id="long-payload",
            ),
            pytest.param(
                {"text": "x", "quick_replies": [{"title": "a", "payload": ""}]},
                "needs a payload",
                id="no-payload",
            ),
            pytest.param({"text": ""}, "non-empty", id="empty-text"),
        ],
    )
    def test_refused_before_any_call(self, kwargs, match):
        with pytest.raises(ValueError, match=f"^Messenger: .*{match}"):
            validate_message(**kwargs)

    def test_at_the_limits(self):
        validate_message("x" * 2000, [{"title": "a", "payload": "p" * 1000}] * 13)
        validate_message("x" * 640, buttons=[self.button()] * 3)
