"""Meta's Send API limits (message text, quick replies) and the quick replies that carry a request's options.

Plain Python: the hooks validate messages with it, the channels build their quick replies with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from airflow_provider_instagram_hil.option_titles import (
    option_title_problem,
)
from airflow_provider_instagram_hil.payloads import MAX_PAYLOAD_CHARS, encode_payload

MAX_QUICK_REPLIES = 13
MAX_TEXT_BYTES = 1000


class QuickReply(TypedDict):
    """One quick reply as the Send API takes it."""

    content_type: str
    title: str
    payload: str


def quick_replies_for(request_id: str, options: Sequence[str]) -> list[QuickReply]:
    """One text quick reply per option, in order."""
    return [
        {"content_type": "text", "title": option, "payload": encode_payload(request_id, option)}
        for option in options
    ]


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
