"""The one option-title rule: what the operator accepts, the webhook decodes back to the same option."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from unicode_titles import (
    COMBINING,
    EMOJI_ZWJ,
    FLAGS,
    NEWER_EMOJI,
    RTL,
    SKIN_TONES,
    SPACES,
    any_title_candidates,
    option_title_candidates,
)

from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM
from airflow_provider_instagram_hil.meta_limits import quick_replies_for
from airflow_provider_instagram_hil.option_titles import (
    check_distinct_titles,
    is_option_title,
    option_title_problem,
)
from airflow_provider_instagram_hil.payloads import encode_payload
from airflow_provider_instagram_hil.sandbox.reviewer import quick_reply_event
from airflow_provider_instagram_hil.webhook.events import Ignored, Tap, parse_body
from airflow_provider_instagram_hil.webhook.signature import sign_body, signature_matches

RID = "0123456789abcdef0123456789abcdef"
SECRET = "option-title-test-secret"
REVIEWER = "17841400000000001"
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def signed_delivery(payload: str, *, ascii_only: bool) -> bytes:
    """A signed Instagram quick-reply delivery carrying ``payload``, checked as the webhook checks it."""
    event = quick_reply_event(payload, sender_id=REVIEWER, title="tap")
    body = json.dumps(event, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert signature_matches(body, sign_body(body, SECRET), [SECRET])
    return body


def parsed_option(body: bytes) -> str | None:
    [event] = parse_body(body)
    return event.option if isinstance(event, Tap) else None


class TestRule:
    @pytest.mark.parametrize(
        "title",
        [
            pytest.param("Approve", id="ascii"),
            pytest.param("x" * 20, id="20-code-points"),
            pytest.param(" Approve ", id="spaces-around-kept"),
            pytest.param("Yes:ship it", id="colon"),
            *(pytest.param(t, id=f"zwj-{i}") for i, t in enumerate(EMOJI_ZWJ)),
            pytest.param(SKIN_TONES[2], id="skin-tone"),
            *(pytest.param(t, id=f"flag-{i}") for i, t in enumerate(FLAGS)),
            *(pytest.param(t, id=f"combining-{i}") for i, t in enumerate(COMBINING)),
            *(pytest.param(t, id=f"rtl-{i}") for i, t in enumerate(RTL)),
            *(pytest.param(f"Yes{s}please", id=f"space-U+{ord(s):04X}") for s in SPACES),
            *(pytest.param(t, id=f"newer-emoji-U+{ord(t):X}") for t in NEWER_EMOJI),
            pytest.param("\u0378ok", id="unassigned-everywhere"),
        ],
    )
    def test_accepted(self, title):
        assert option_title_problem(title) is None
        INSTAGRAM.validate_options([title])

    @pytest.mark.parametrize(
        ("title", "match"),
        [
            pytest.param("", "empty", id="empty"),
            pytest.param(" \u00a0\u3000", "only whitespace", id="whitespace-only"),
            pytest.param("x" * 21, "21 characters", id="21-code-points"),
            pytest.param("ok\x00", "control character", id="nul"),
            pytest.param("ok\n", "control character", id="newline"),
            pytest.param("ok\x85", "control character", id="c1-control"),
            pytest.param("ok\ud83d", "surrogate", id="lone-surrogate"),
            pytest.param("ok\ufffe", "noncharacter", id="noncharacter-fffe"),
            pytest.param("ok\ufdd0", "noncharacter", id="noncharacter-fdd0"),
            pytest.param("ok\U0010ffff", "noncharacter", id="noncharacter-plane-16"),
            pytest.param("ok\ue000", "private-use", id="private-use-bmp"),
            pytest.param("ok\U000f0000", "private-use", id="private-use-plane-15"),
            pytest.param("ok\u2028", "separator", id="line-separator"),
            pytest.param(7, "string", id="not-a-string"),
        ],
    )
    def test_refused(self, title, match):
        problem = option_title_problem(title)
        assert problem is not None
        assert match in problem
        with pytest.raises(ValueError, match=match):
            INSTAGRAM.validate_options([title])
        if isinstance(title, str) and title:
            with pytest.raises(ValueError, match=match):
                encode_payload(RID, title)

    @pytest.mark.parametrize(
        "titles",
        [
            pytest.param(["Yes", "Yes"], id="equal"),
            pytest.param(["é", "e\u0301"], id="nfc-equal"),
            pytest.param(["Yes", "Yes "], id="equal-but-a-space"),
        ],
    )
    def test_titles_that_look_the_same_are_refused(self, titles):
        with pytest.raises(ValueError, match=r"unique|look the same"):
            check_distinct_titles(titles)
        with pytest.raises(ValueError, match=r"unique|look the same"):
            INSTAGRAM.validate_options(titles)


class TestRoundTrip:
    @SETTINGS
    @given(title=option_title_candidates(), ascii_only=st.booleans())
    @example(title="👨\u200d👩\u200d👧\u200d👦", ascii_only=False)
    @example(title="Yes\u00a0please", ascii_only=False)
    @example(title="نعم\u200f", ascii_only=True)
    def test_every_title_the_operator_accepts_decodes_to_the_same_option(self, title, ascii_only):
        try:
            INSTAGRAM.validate_options([title])
        except ValueError:
            assume(False)
        [reply] = quick_replies_for(RID, [title])
        assert reply["payload"] == encode_payload(RID, title)
        body = signed_delivery(reply["payload"], ascii_only=ascii_only)
        [event] = parse_body(body)
        assert isinstance(event, Tap), event
        assert (event.request_id, event.option) == (RID, title)

    @SETTINGS
    @given(title=any_title_candidates(), ascii_only=st.booleans())
    def test_the_webhook_accepts_exactly_what_the_rule_accepts(self, title, ascii_only):
        # Built by hand, bypassing encode_payload's check: whatever Meta sends back is judged by one rule.
        body = signed_delivery(f"ighil1:{RID}:{title}", ascii_only=ascii_only)
        option = parsed_option(body)
        if title and is_option_title(title):
            assert option == title
        else:
            assert option is None

    def test_a_refused_option_keeps_its_request_id(self):
        body = signed_delivery(f"ighil1:{RID}:ok\x00", ascii_only=True)
        [event] = parse_body(body)
        assert isinstance(event, Ignored)
        assert (event.reason, event.request_id, event.sender_id) == ("invalid_option", RID, REVIEWER)
