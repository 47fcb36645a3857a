"""A typed message from a reviewer with pending requests: the answer it gives, or what to tell them.

Where Instagram shows no buttons (desktop and web), a reviewer types the option's title or number,
optionally after the request's code and before a reason
(:mod:`~airflow_provider_instagram_hil.typed_answers`).
A message that answers nothing unambiguously gets a reply saying what to write, and records nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airflow_provider_instagram_hil.notices import quoted_subject
from airflow_provider_instagram_hil.store import ApprovalRequest
from airflow_provider_instagram_hil.store.schema import MAX_REASON_CHARS
from airflow_provider_instagram_hil.typed_answers import (
    CODE_LENGTH,
    MAX_CODE_LENGTH,
    interpret,
    request_code,
    split_answer,
)

#: How many pending requests a "Which one?" reply lists.
MAX_LISTED = 5


@dataclass(frozen=True)
class TypedChoice:
    """A typed message that answers one request: record ``option`` (with ``reason``) on it."""

    request_id: str
    option: str
    reason: str | None


def read_typed(text: str, pending: Sequence[ApprovalRequest]) -> TypedChoice | str:
    """What ``text`` answers among the sender's ``pending`` requests (oldest first, at least one), or the
    reply that says why it answers nothing."""
    codes = {request_code(request.request_id, MAX_CODE_LENGTH): request for request in pending}
    typed = split_answer(text, list(codes))
    if typed.unknown_code is not None:
        return f"None of your open requests has the code {typed.unknown_code}. " + which_one(pending)
    if typed.code is not None:
        candidates = [request for full, request in codes.items() if full.startswith(typed.code)]
    else:
        candidates = list(pending)
    if len(candidates) > 1:
        return which_one(candidates, typed.text)
    (request,) = candidates
    match, reason = interpret(typed, request.options)
    if match.option is None:
        if match.candidates:
            return f'"{typed.answer}" could be {" or ".join(match.candidates)}. ' + _numbered(request)
        if match.number is not None:
            return f"There is no option {match.number}. " + _numbered(request)
        return _numbered(request)
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        return (
            f"Your reason has {len(reason)} characters; at most {MAX_REASON_CHARS} are kept. Nothing was "
            "recorded: please send it shorter."
        )
    return TypedChoice(request.request_id, match.option, reason)


def which_one(requests: Sequence[ApprovalRequest], answer: str = "") -> str:
    """Ask which request an answer is for, with the code to put in front of it."""
    length = _distinct_code_length(requests)
    lines = []
    for request in requests[:MAX_LISTED]:
        match, _ = interpret(split_answer(answer), request.options) if answer else (None, None)
        option = match.option if match is not None and match.option is not None else request.options[0]
        lines.append(f'"{request_code(request.request_id, length)} {option}" for {quoted_subject(request)}')
    more = len(requests) - MAX_LISTED
    tail = f" (and {more} more)" if more > 0 else ""
    return "Which one? Reply " + ", or ".join(lines) + tail + "."


def _numbered(request: ApprovalRequest) -> str:
    """The short hint: the request and its options with their numbers."""
    options = " / ".join(f"{number} {option}" for number, option in enumerate(request.options, 1))
    return f"To answer {quoted_subject(request)}, reply with one of: {options}."


def _distinct_code_length(requests: Sequence[ApprovalRequest]) -> int:
    """The shortest code length that tells ``requests`` apart (codes of one id are prefixes of each other)."""
    for length in range(CODE_LENGTH, MAX_CODE_LENGTH + 1):
        if len({request_code(request.request_id, length) for request in requests}) == len(requests):
            return length
    return MAX_CODE_LENGTH
