"""Typed answers: matching what reviewers write to option titles, request codes, reasons."""

from __future__ import annotations

import pytest

from airflow_provider_instagram_hil.typed_answers import (
    CODE_ALPHABET,
    interpret,
    match_option,
    request_code,
    split_answer,
)

APPROVE_REJECT = ["Approve", "Reject"]


@pytest.mark.parametrize(
    ("typed", "options", "expected"),
    [
        pytest.param("approve", APPROVE_REJECT, "Approve", id="lower-case"),
        pytest.param("  APPROVE  ", APPROVE_REJECT, "Approve", id="upper-case-spaces"),
        pytest.param("Approve!", APPROVE_REJECT, "Approve", id="punctuation"),
        pytest.param("✅ approve 👍", APPROVE_REJECT, "Approve", id="surrounding-emoji"),
        pytest.param("2", APPROVE_REJECT, "Reject", id="number"),
        pytest.param("#1", APPROVE_REJECT, "Approve", id="hash-number"),
        pytest.param("1.", APPROVE_REJECT, "Approve", id="number-dot"),
        pytest.param("genehmigen", ["Genehmigen", "Ablehnen"], "Genehmigen", id="german"),
        pytest.param("refuser", ["Accepter", "Refuser"], "Refuser", id="french"),
        pytest.param("resume", ["Résumé", "Stop"], "Résumé", id="accents-dropped"),
        pytest.param("RÉSUMÉ", ["Résumé", "Stop"], "Résumé", id="accents-upper"),
        pytest.param("одобрить", ["Одобрить", "Отклонить"], "Одобрить", id="cyrillic-case"),
        pytest.param("承認", ["承認", "却下"], "承認", id="cjk"),
        pytest.param("موافق", ["موافق", "رفض"], "موافق", id="arabic"),
        pytest.param("👍", ["👍", "👎"], "👍", id="emoji-only"),
        pytest.param("👍🏽", ["👍", "👎"], "👍", id="emoji-skin-tone"),
        pytest.param("full   refresh", ["Full refresh", "Incremental"], "Full refresh", id="inner-spaces"),
        pytest.param("full-refresh", ["Full refresh", "Incremental"], "Full refresh", id="hyphen-as-space"),
        pytest.param("🚀 Ship it", ["🚀 Ship it", "🛑 Hold"], "🚀 Ship it", id="emoji-title-typed-whole"),
        pytest.param("hold", ["🚀 Ship it", "🛑 Hold"], "🛑 Hold", id="emoji-title-typed-words"),
    ],
)
def test_an_answer_names_one_option(typed, options, expected):
    assert match_option(typed, options).option == expected


@pytest.mark.parametrize(
    ("typed", "options"),
    [
        pytest.param("maybe", APPROVE_REJECT, id="no-such-option"),
        pytest.param("app", APPROVE_REJECT, id="no-prefixes"),
        pytest.param("", APPROVE_REJECT, id="empty"),
        pytest.param("🤷", ["👍", "👎"], id="other-emoji"),
    ],
)
def test_an_answer_that_names_nothing(typed, options):
    match = match_option(typed, options)
    assert (match.option, match.candidates, match.number) == (None, (), None)


def test_two_titles_with_the_same_loose_form_are_ambiguous():
    match = match_option("yes", ["Yes", "YES!", "No"])
    assert (match.option, match.candidates) == (None, ("Yes", "YES!"))


@pytest.mark.parametrize("typed", ["0", "3", "99"])
def test_a_number_out_of_range_is_reported(typed):
    match = match_option(typed, APPROVE_REJECT)
    assert (match.option, match.number) == (None, int(typed))


@pytest.mark.parametrize(
    ("text", "answer", "reason"),
    [
        pytest.param("reject: numbers look wrong", "reject", "numbers look wrong", id="colon"),
        pytest.param("Reject - numbers look wrong", "Reject", "numbers look wrong", id="dash"),
        pytest.param("reject — too late", "reject", "too late", id="em-dash"),
        pytest.param("reject\nsee the ticket", "reject", "see the ticket", id="new-line"),
        pytest.param("reject:", "reject", None, id="empty-reason"),
        pytest.param("reject", "reject", None, id="no-reason"),
    ],
)
def test_a_reason_follows_the_answer(text, answer, reason):
    typed = split_answer(text)
    assert (typed.code, typed.answer, typed.reason) == (None, answer, reason)


def test_a_title_with_a_colon_is_not_split():
    options = ["Approve: EU only", "Reject"]
    match, reason = interpret(split_answer("approve: eu only"), options)
    assert (match.option, reason) == ("Approve: EU only", None)
    match, reason = interpret(split_answer("reject: not now"), options)
    assert (match.option, reason) == ("Reject", "not now")


class TestCodes:
    def test_a_code_is_short_stable_and_from_the_alphabet(self):
        code = request_code("0123456789abcdef0123456789abcdef")
        assert code == request_code("0123456789abcdef0123456789abcdef")
        assert len(code) == 3
        assert set(code) <= set(CODE_ALPHABET)
        assert request_code("0123456789abcdef0123456789abcdef", 5).startswith(code)

    def test_codes_spread_over_many_requests(self):
        codes = {request_code(f"{n:032x}") for n in range(2000)}
        assert len(codes) > 1800  # 29,791 possible codes; a few collisions among 2,000 are expected

    def test_a_leading_code_of_the_senders_requests_is_split_off(self):
        codes = [request_code("a" * 32, 8), request_code("b" * 32, 8)]
        typed = split_answer(f"{codes[1][:3].lower()} reject: wrong numbers", codes)
        assert (typed.code, typed.answer, typed.reason) == (codes[1][:3], "reject", "wrong numbers")

    def test_a_code_of_no_request_of_the_sender_is_reported(self):
        typed = split_answer("ZZ9 approve", [request_code("a" * 32, 8)])
        assert (typed.code, typed.unknown_code, typed.text) == (None, "ZZ9", "ZZ9 approve")

    def test_ordinary_words_are_no_codes(self):
        typed = split_answer("yes please", [request_code("a" * 32, 8)])
        assert (typed.code, typed.unknown_code, typed.answer) == (None, None, "yes please")
