"""The HITL prompt: Markdown bodies as plain text, within the message limit."""

from __future__ import annotations

import pytest

from airflow_provider_instagram_hil.hitl.text import hitl_prompt, markdown_to_text
from airflow_provider_instagram_hil.meta_limits import MAX_TEXT_BYTES
from airflow_provider_instagram_hil.prompt import options_line


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        pytest.param("**Rows:** 1,204", "Rows: 1,204", id="bold"),
        pytest.param("***very*** _sure_ ~~no~~", "very sure no", id="nested-emphasis"),
        pytest.param("See [the report](https://x.test/r)", "See the report (https://x.test/r)", id="link"),
        pytest.param("![](https://x.test/p.png)", "https://x.test/p.png", id="bare-image"),
        pytest.param("## Heading\n- one\n* two", "Heading\n• one\n• two", id="heading-bullets"),
        pytest.param("> quoted `code`", "quoted code", id="quote-code"),
        pytest.param("a\n\n\n\n\nb", "a\n\nb", id="blank-lines"),
        pytest.param("**Rows:** 3\n\n- one\n\n> two", "Rows: 3\n\n• one\n\ntwo", id="paragraphs-kept"),
        pytest.param("snake_case_name and 2 * 3 * 4", "snake_case_name and 2 * 3 * 4", id="not-emphasis"),
        pytest.param(None, "", id="none"),
    ],
)
def test_markdown_to_text(markdown, text):
    assert markdown_to_text(markdown) == text


def test_prompt_is_subject_body_options():
    text = hitl_prompt("Ship  it?", "**Now**", ["Approve", "Reject"])
    assert text == f"Ship it?\n\nNow\n\n{options_line(['Approve', 'Reject'])}"


def test_a_long_body_is_shortened_but_subject_and_options_stay_whole():
    text = hitl_prompt("Deploy", "é" * 2000, ["Approve", "Reject"])
    assert len(text.encode()) <= MAX_TEXT_BYTES
    assert text.startswith("Deploy\n\n")
    assert text.endswith(options_line(["Approve", "Reject"]))
    assert "…" in text


def test_a_footer_replaces_the_options_line():
    assert hitl_prompt("Deploy", None, ["A"], footer="Answer in Airflow") == "Deploy\n\nAnswer in Airflow"


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        pytest.param(" ", "no subject", id="blank"),
        pytest.param("x" * 1200, "Shorten the task's subject", id="too-long"),
    ],
)
def test_unusable_subjects(subject, message):
    with pytest.raises(ValueError, match=message):
        hitl_prompt(subject, None, ["Approve"])
