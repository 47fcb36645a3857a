from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_instagram_hil.meta_limits import MAX_TEXT_BYTES
from airflow_provider_instagram_hil.prompt import (
    ELLIPSIS,
    MASK,
    ReviewField,
    deadline_line,
    options_line,
    render_prompt,
    zone,
)

OPTIONS = ["Approve", "Reject"]


def size(text: str) -> int:
    return len(text.encode("utf-8"))


class TestReviewField:
    @pytest.mark.parametrize("display", ["plain", "masked", "concealed"])
    def test_valid_display_modes(self, display):
        assert ReviewField("Label", "v", display).display == display

    @pytest.mark.parametrize("display", ["hidden", "", "MASKED", None])
    def test_invalid_display_raises(self, display):
        with pytest.raises(ValueError, match="display must be one of"):
            ReviewField("Label", "v", display)

    @pytest.mark.parametrize("label", ["", "   ", None, 3])
    def test_label_required(self, label):
        with pytest.raises(ValueError, match="label"):
            ReviewField(label, "v")

    def test_template_fields_is_the_value(self):
        assert ReviewField.template_fields == ("value",)

    @pytest.mark.parametrize(
        "display", [pytest.param("masked", id="masked"), pytest.param("concealed", id="concealed")]
    )
    def test_str_and_repr_hide_secret_values(self, display):
        field = ReviewField("IBAN", "DE89-3704-SECRET", display)
        for text in (str(field), repr(field), str([field]), f"{field}"):
            assert "DE89-3704-SECRET" not in text
            assert display in text

    def test_str_shows_plain_value(self):
        assert "1234 rows" in str(ReviewField("Rows", "1234 rows"))

    def test_shown_value(self):
        assert ReviewField("a", " 42 ").shown_value() == "42"
        assert ReviewField("a", None).shown_value() == ""
        assert ReviewField("a", "secret", "masked").shown_value() == MASK
        assert ReviewField("a", "secret", "concealed").shown_value() is None


class TestRenderPrompt:
    def test_layout(self):
        text = render_prompt(
            "Publish sales?", [ReviewField("Rows", 12), ReviewField("Size", "3 MB")], OPTIONS
        )
        assert text == "Publish sales?\n\nRows: 12\nSize: 3 MB\n\nReply: Approve / Reject"

    def test_no_fields(self):
        assert render_prompt("Go?", [], OPTIONS) == "Go?\n\nReply: Approve / Reject"

    def test_masked_shown_as_mask_and_concealed_absent(self):
        fields = [
            ReviewField("IBAN", "DE89-3704", "masked"),
            ReviewField("Signing key", "s3cr3t-key", "concealed"),
            ReviewField("Rows", "5"),
        ]
        text = render_prompt("Pay out?", fields, OPTIONS)
        assert f"IBAN: {MASK}" in text
        assert "DE89" not in text
        assert "Signing key" not in text
        assert "s3cr3t-key" not in text
        assert "Rows: 5" in text

    def test_no_markdown_is_added(self):
        text = render_prompt("Go?", [ReviewField("A", "b")], OPTIONS)
        assert "*" not in text
        assert "_" not in text

    def test_empty_subject_raises(self):
        with pytest.raises(ValueError, match="subject"):
            render_prompt("  ", [], OPTIONS)

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("x" * 5000, id="ascii"),
            pytest.param("é" * 3000, id="two-byte"),
            pytest.param("漢" * 2000, id="three-byte"),
            pytest.param("😀" * 1500, id="emoji"),
            pytest.param("a😀é漢" * 700, id="mixed"),
        ],
    )
    def test_long_value_is_cut_to_limit_as_valid_utf8(self, value):
        text = render_prompt("Subject stays whole", [ReviewField("Notes", value)], OPTIONS)
        data = text.encode("utf-8")
        assert len(data) <= MAX_TEXT_BYTES
        assert len(data) > MAX_TEXT_BYTES - 4  # nearly all of the budget is used
        data.decode("utf-8")  # strict: valid UTF-8
        line = next(line for line in text.splitlines() if line.startswith("Notes: "))
        assert line.endswith(ELLIPSIS)
        assert value.startswith(line[len("Notes: ") : -1])  # a prefix of whole code points
        assert text.startswith("Subject stays whole\n")
        assert text.endswith(options_line(OPTIONS))

    def test_cut_is_fair_short_values_stay_whole(self):
        fields = [
            ReviewField("Short", "tiny"),
            ReviewField("Long A", "a" * 2000),
            ReviewField("Long B", "b" * 2000),
        ]
        text = render_prompt("S", fields, OPTIONS)
        assert size(text) <= MAX_TEXT_BYTES
        lines = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
        assert lines["Short"] == "tiny"
        assert lines["Long A"].endswith(ELLIPSIS)
        assert lines["Long B"].endswith(ELLIPSIS)
        assert abs(size(lines["Long A"]) - size(lines["Long B"])) <= 1

    def test_fits_exactly_without_cut(self):
        skeleton = render_prompt("S", [ReviewField("L", "")], OPTIONS)
        value = "v" * (MAX_TEXT_BYTES - size(skeleton))
        text = render_prompt("S", [ReviewField("L", value)], OPTIONS)
        assert size(text) == MAX_TEXT_BYTES
        assert ELLIPSIS not in text

    def test_subject_and_options_never_cut(self):
        subject = "Ü" * 400  # 800 bytes
        options = ["Approve ✅", "Reject ❌"]
        text = render_prompt(subject, [ReviewField("Notes", "n" * 900)], options)
        assert size(text) <= MAX_TEXT_BYTES
        assert text.startswith(subject + "\n")
        assert text.endswith(options_line(options))

    def test_fields_whose_labels_do_not_fit_are_left_out_and_counted(self):
        fields = [ReviewField("L" * 600, "v1"), ReviewField("M" * 600, "v2"), ReviewField("N", "v3")]
        text = render_prompt("S", fields, OPTIONS)
        assert size(text) <= MAX_TEXT_BYTES
        assert "L" * 600 + ": v1" in text
        assert "M" * 600 not in text
        assert f"{ELLIPSIS} 2 more fields not shown" in text

    def test_one_huge_label_is_shortened_as_a_whole_line(self):
        text = render_prompt("S", [ReviewField("L" * 1500, "v")], OPTIONS)
        assert size(text) <= MAX_TEXT_BYTES
        assert f"L{ELLIPSIS}\n" in text
        assert text.endswith(options_line(OPTIONS))

    def test_too_many_fields_keep_the_first_whole(self):
        fields = [ReviewField(f"Field {i}", "value") for i in range(400)]
        text = render_prompt("S", fields, OPTIONS)
        assert size(text) <= MAX_TEXT_BYTES
        assert text.startswith("S\n\nField 0: value\nField 1: value\n")
        assert "more fields not shown" in text
        assert text.endswith(options_line(OPTIONS))
        shown = text.count(": value")
        assert f"{ELLIPSIS} {400 - shown} more fields not shown" in text

    def test_subject_and_options_too_long_raise(self):
        with pytest.raises(ValueError, match="subject and the options take 10"):
            render_prompt("s" * 990, [], OPTIONS)

    def test_subject_and_options_just_fit(self):
        bare = render_prompt("s", [], OPTIONS)
        subject = "s" * (MAX_TEXT_BYTES - size(bare) + 1)
        text = render_prompt(subject, [ReviewField("Rows", "12")], OPTIONS)
        assert size(text) == MAX_TEXT_BYTES
        assert text == render_prompt(subject, [], OPTIONS)  # no room for any field line


class TestDeadline:
    WHEN = datetime(2026, 12, 3, 13, 0, tzinfo=timezone.utc)  # a Thursday

    @pytest.mark.parametrize(
        ("zone_name", "default", "line"),
        [
            (None, None, "Answer by Thu 3 Dec 13:00 UTC (no answer: the task fails)."),
            ("Europe/Berlin", "Reject", "Answer by Thu 3 Dec 14:00 CET (no answer: Reject)."),
            ("America/New_York", "Approve", "Answer by Thu 3 Dec 08:00 EST (no answer: Approve)."),
            ("Asia/Kolkata", None, "Answer by Thu 3 Dec 18:30 IST (no answer: the task fails)."),
        ],
    )
    def test_line(self, zone_name, default, line):
        assert deadline_line(self.WHEN, zone_name, default) == line

    def test_unknown_zone_is_named(self):
        with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
            zone("Mars/Olympus")

    def test_prompt_keeps_deadline_and_code_whole_and_shortens_fields_first(self):
        deadline = deadline_line(self.WHEN, "Europe/Berlin", "Reject")
        fields = [ReviewField("notes", "n" * 2000)]

        text = render_prompt("Deploy v2?", fields, ["Approve", "Reject"], deadline=deadline, code="K7Q")

        assert size(text) <= MAX_TEXT_BYTES
        assert text.startswith("Deploy v2?")
        assert text.endswith(f"{deadline}\nReply: Approve / Reject (request K7Q)")

    def test_options_line_without_code(self):
        assert options_line(["Approve", "Reject"]) == "Reply: Approve / Reject"
