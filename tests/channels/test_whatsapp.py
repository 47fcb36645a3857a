"""WhatsApp's channel: reply buttons, lists, templates, international numbers and status errors."""

from __future__ import annotations

import pytest

from airflow_provider_instagram_hil.channels.whatsapp import (
    LIST_BUTTON,
    MAX_BODY_CHARS,
    TEMPLATE_PARAMETER_CHARS,
    WHATSAPP,
    is_window_closed,
    status_error,
    status_error_code,
)
from airflow_provider_instagram_hil.payloads import decode_payload
from airflow_provider_instagram_hil.prompt import MASK, ReviewField, TextLimit

RID = "2" * 32
CHARS = TextLimit(1, "characters").measure


class FakeHook:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def send_interactive(self, to, interactive):
        self.calls.append(("interactive", to, interactive))
        return {"message_id": "wamid.1", "wa_id": to}

    def send_template(self, to, name, language, components):
        self.calls.append(("template", to, name, language, components))
        return {"message_id": "wamid.2"}

    def send_text(self, to, body):
        self.calls.append(("text", to, body))
        return {"message_id": "wamid.3"}


class TestLimits:
    @pytest.mark.parametrize(
        ("count", "kind"),
        [(1, "reply_buttons"), (3, "reply_buttons"), (4, "interactive_list"), (10, "interactive_list")],
    )
    def test_four_options_become_a_list(self, count, kind):
        WHATSAPP.validate_options([f"o{i}" for i in range(count)])
        assert WHATSAPP.style_for(count).kind == kind

    def test_eleven_options_are_refused_naming_the_limit(self):
        with pytest.raises(
            ValueError, match=r"^WhatsApp: at most 10 options \(interactive list\) are allowed, got 11"
        ):
            WHATSAPP.validate_options([f"o{i}" for i in range(11)])

    def test_reply_button_title_of_21_utf16_units(self):
        with pytest.raises(
            ValueError,
            match=r"WhatsApp: option .* is 21 characters; the title of a reply button holds at most 20",
        ):
            WHATSAPP.validate_options(["🙂" + "x" * 19, "No"])

    def test_list_rows_hold_24_units(self):
        WHATSAPP.validate_options(["🙂" * 12, "b", "c", "d"])  # 24 units in a row title is fine
        with pytest.raises(ValueError, match="the title of a list row holds at most 24"):
            WHATSAPP.validate_options(["🙂" * 12 + "x", "b", "c", "d"])

    @pytest.mark.parametrize(
        ("number", "wa_id"),
        [
            pytest.param("+4915123456789", "4915123456789", id="e164"),
            pytest.param("4915123456789", "4915123456789", id="digits"),
            pytest.param("+1 (631) 555-1234", "16315551234", id="separators"),
            pytest.param("+44.20.7946.0958", "442079460958", id="dots"),
        ],
    )
    def test_international_numbers_become_wa_ids(self, number, wa_id):
        assert WHATSAPP.validate_recipient(number) == wa_id

    @pytest.mark.parametrize(
        "number",
        [
            pytest.param("015123456789", id="national"),
            pytest.param("0049151234567", id="00-prefix"),
            pytest.param("+1234567", id="too-short"),
            pytest.param("+1234567890123456", id="too-long"),
            pytest.param("+49 151 ABC", id="letters"),
            pytest.param("", id="empty"),
            pytest.param("+", id="plus-only"),
        ],
    )
    def test_not_international_numbers(self, number):
        with pytest.raises(ValueError, match=r"WhatsApp: recipient_id .* international format"):
            WHATSAPP.validate_recipient(number)


class TestRendering:
    def test_body_holds_1024_characters_without_an_options_line(self):
        text = WHATSAPP.render_prompt("Go?", [ReviewField("Notes", "n" * 3000)], ["Yes", "No"])
        assert CHARS(text) == MAX_BODY_CHARS
        assert "Reply:" not in text

    def test_list_body_has_the_same_limit(self):
        text = WHATSAPP.render_prompt("Go?", [ReviewField("Notes", "n" * 3000)], list("abcde"))
        assert CHARS(text) == MAX_BODY_CHARS

    def test_template_text_is_one_line(self):
        fields = [
            ReviewField("Rows", "1,284,551"),
            ReviewField("Notes", "line one\n\tline     two"),
            ReviewField("IBAN", "DE89", display="masked"),
            ReviewField("Key", "s3cr3t", display="concealed"),
        ]
        text = WHATSAPP.render_template_text("Publish\ndataset?", fields)
        assert text == f"Publish dataset? | Rows: 1,284,551 · Notes: line one line two · IBAN: {MASK}"
        assert "\n" not in text
        assert "\t" not in text
        assert "     " not in text

    def test_template_text_is_cut_to_its_limit(self):
        text = WHATSAPP.render_template_text("Go?", [ReviewField("Notes", "n" * 5000)])
        assert CHARS(text) == TEMPLATE_PARAMETER_CHARS
        assert text.endswith("…")


class TestSending:
    def test_up_to_three_options_are_reply_buttons(self):
        hook = FakeHook()
        assert WHATSAPP.send_prompt(hook, "4915123456789", "Go?", RID, ["Yes", "No"]) == "wamid.1"
        [(_, to, interactive)] = hook.calls
        assert to == "4915123456789"
        assert interactive["type"] == "button"
        assert interactive["body"] == {"text": "Go?"}
        buttons = interactive["action"]["buttons"]
        assert [(b["type"], b["reply"]["title"]) for b in buttons] == [("reply", "Yes"), ("reply", "No")]
        assert [decode_payload(b["reply"]["id"]) for b in buttons] == [(RID, "Yes"), (RID, "No")]

    def test_four_to_ten_options_are_a_list(self):
        hook = FakeHook()
        WHATSAPP.send_prompt(hook, "4915123456789", "Go?", RID, list("abcd"))
        [(_, _, interactive)] = hook.calls
        assert interactive["type"] == "list"
        assert interactive["action"]["button"] == LIST_BUTTON
        [section] = interactive["action"]["sections"]
        assert [r["title"] for r in section["rows"]] == list("abcd")
        assert [decode_payload(r["id"]).option for r in section["rows"]] == list("abcd")

    def test_template_maps_options_to_quick_reply_buttons_in_order(self):
        hook = FakeHook()
        sent = WHATSAPP.send_template(
            hook,
            "4915123456789",
            "Go? | Rows: 1",
            RID,
            ["Approve", "Reject"],
            name="approval_request",
            language="en_US",
        )
        assert sent == "wamid.2"
        [(_, to, name, language, components)] = hook.calls
        assert (to, name, language) == ("4915123456789", "approval_request", "en_US")
        assert components[0] == {"type": "body", "parameters": [{"type": "text", "text": "Go? | Rows: 1"}]}
        assert [(c["sub_type"], c["index"]) for c in components[1:]] == [
            ("quick_reply", "0"),
            ("quick_reply", "1"),
        ]
        payloads = [c["parameters"][0]["payload"] for c in components[1:]]
        assert [decode_payload(p) for p in payloads] == [(RID, "Approve"), (RID, "Reject")]

    def test_reply_is_text_and_there_is_no_was_it_sent_check(self):
        hook = FakeHook()
        assert WHATSAPP.send_reply(hook, "4915123456789", "✅ Recorded") == "wamid.3"
        assert WHATSAPP.count_sent(hook, "4915123456789", "✅ Recorded", None) is None  # type: ignore[arg-type]


class TestStatusErrors:
    def test_first_error_with_code_title_and_details(self):
        errors = [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed."},
            },
            {"code": 1, "title": "ignored"},
        ]
        text = status_error(errors)
        assert (
            text
            == "131047 Re-engagement message: Message failed to send because more than 24 hours have passed."
        )
        assert status_error_code(text) == 131047
        assert is_window_closed(text)

    @pytest.mark.parametrize(
        ("errors", "expected"),
        [
            pytest.param(None, "unknown error", id="none"),
            pytest.param([], "unknown error", id="empty"),
            pytest.param(["x"], "unknown error", id="not-an-object"),
            pytest.param([{"code": 470, "title": "Re-engagement"}], "470 Re-engagement", id="legacy-470"),
            pytest.param([{"title": "a\nforged line"}], "a forged line", id="no-line-breaks"),
        ],
    )
    def test_odd_errors(self, errors, expected):
        assert status_error(errors) == expected

    @pytest.mark.parametrize(
        ("error", "closed"),
        [
            ("470 Re-engagement", True),
            ("131026 Message undeliverable", False),
            (None, False),
            ("oops", False),
        ],
    )
    def test_window_codes(self, error, closed):
        assert is_window_closed(error) is closed
