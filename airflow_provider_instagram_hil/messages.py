"""Meta's message limits and the quick-reply payload that ties a tap to a request.

Plain Python: the hook validates with it, the operator encodes payloads, the webhook decodes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, TypedDict

from airflow_provider_instagram_hil.option_titles import (
    check_distinct_titles,
    check_option_title,
    option_title_problem,
)

MAX_QUICK_REPLIES = 13
MAX_PAYLOAD_CHARS = 1000
MAX_TEXT_BYTES = 1000

PAYLOAD_PREFIX = "ighil1"


class QuickReply(TypedDict):
    """One quick reply as the Send API takes it."""

    content_type: str
    title: str
    payload: str


class DecisionPayload(NamedTuple):
    """What a quick-reply payload says: which request, which option."""

    request_id: str
    option: str


def encode_payload(request_id: str, option: str) -> str:
    """Build the quick-reply payload for ``option`` of request ``request_id``.

    :raises ValueError: ``request_id`` holds ``:``, or ``option`` is no valid option title
        (:mod:`~airflow_provider_instagram_hil.option_titles`): the webhook would not decode it back.
    """
    if ":" in request_id:
        raise ValueError("request_id must not contain ':'")
    check_option_title(option)
    return f"{PAYLOAD_PREFIX}:{request_id}:{option}"


def decode_payload(payload: object) -> DecisionPayload | None:
    """Parse a payload written by :func:`encode_payload`; anything else gives ``None``."""
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_CHARS:
        return None
    prefix, sep, rest = payload.partition(":")
    if prefix != PAYLOAD_PREFIX or not sep:
        return None
    request_id, sep, option = rest.partition(":")
    if not request_id or not sep or not option:
        return None
    return DecisionPayload(request_id, option)


def quick_replies_for(request_id: str, options: Sequence[str]) -> list[QuickReply]:
    """One text quick reply per option, in order."""
    return [
        {"content_type": "text", "title": option, "payload": encode_payload(request_id, option)}
        for option in options
    ]


def validate_options(options: Sequence[str]) -> None:
    """Check option titles against the option-title rule and Meta's quick-reply limits.

    :raises ValueError: naming the limit that was broken.
    """
    if isinstance(options, str):
        raise ValueError("options must be a list of strings, not one string")
    if not options:
        raise ValueError("options must name at least one option")
    if len(options) > MAX_QUICK_REPLIES:
        raise ValueError(
            f"at most {MAX_QUICK_REPLIES} options (quick replies) are allowed, got {len(options)}"
        )
    for option in options:
        check_option_title(option)
    check_distinct_titles(options)


def validate_message(text: str, quick_replies: Sequence[QuickReply] | None = None) -> None:
    """Check a message against the Send API's limits before any network call.

    :raises ValueError: naming the limit that was broken.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string")
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"text is {size} UTF-8 bytes; Instagram allows at most {MAX_TEXT_BYTES}")
    if not quick_replies:
        return
    if len(quick_replies) > MAX_QUICK_REPLIES:
        raise ValueError(f"at most {MAX_QUICK_REPLIES} quick replies are allowed, got {len(quick_replies)}")
    for reply in quick_replies:
        title = reply.get("title", "")
        payload = reply.get("payload", "")
        if not title:
            raise ValueError("every quick reply needs a title")
        problem = option_title_problem(title)
        if problem is not None:
            raise ValueError(f"quick-reply title {title!r} {problem}")
        if not payload:
            raise ValueError("every quick reply needs a payload")
        if len(payload) > MAX_PAYLOAD_CHARS:
            raise ValueError(
                f"quick-reply payload is {len(payload)} characters; at most {MAX_PAYLOAD_CHARS} are allowed"
            )
