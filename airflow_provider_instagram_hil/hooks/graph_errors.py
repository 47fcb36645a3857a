"""Graph API error triage: which answers are typed errors, which may pass on a retry, and what to say."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import requests

from airflow_provider_instagram_hil.exceptions import (
    InstagramApiError,
    InvalidTokenError,
    MessagingWindowClosedError,
    RateLimitedError,
    RecipientUnavailableError,
)

THROTTLING_CODES = frozenset({4, 17, 32, 613})
TRANSIENT_CODES = frozenset({1, 2})
#: Code 1 with this subcode: the message may have been sent, so a blind retry could double-send.
MAYBE_SENT_SUBCODE = 1357046
WINDOW_CLOSED_SUBCODES = frozenset({2534022, 2018278})
NO_MATCHING_USER_SUBCODES = frozenset({2018001, 2534014})

_EXCERPT_CHARS = 200


class RetryableFailure(Exception):
    """One failed attempt worth retrying; ``error`` is what the caller sees once retries run out.

    :param error: the typed error to raise when no retry is left.
    :param retry_after: seconds Meta asked to wait (``Retry-After``), if it did.
    :param maybe_sent: whether the request may have reached Meta, so a retry could send twice.
    """

    def __init__(
        self, error: InstagramApiError, *, retry_after: float | None = None, maybe_sent: bool = False
    ):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


def error_from_response(
    response: requests.Response, payload: Any, *, redact: Callable[[str], str]
) -> Exception:
    """Turn an error answer into a typed error, or a ``RetryableFailure`` wrapping one.

    :param response: the HTTP answer, status 400 or more.
    :param payload: its decoded JSON body, or ``None`` when it had none.
    :param redact: removes the connection's secrets from text Meta echoed back.
    """
    status = response.status_code
    retry_after = retry_after_seconds(response)
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        excerpt = body_excerpt(response.text, redact=redact)
        plain = InstagramApiError(
            f"The Graph API answered HTTP {status} without a Graph error: {excerpt}", status=status
        )
        if status >= 500 or status == 429:
            return RetryableFailure(plain, retry_after=retry_after)
        return plain
    code, subcode = _as_int(error.get("code")), _as_int(error.get("error_subcode"))
    message = redact(str(error.get("message") or "no message"))
    trace = str(error["fbtrace_id"]) if error.get("fbtrace_id") else None
    details: dict[str, Any] = {"code": code, "subcode": subcode, "fbtrace_id": trace, "status": status}
    if code == 190:
        return InvalidTokenError(message, **details)
    if code == 10 and subcode in WINDOW_CLOSED_SUBCODES:
        return MessagingWindowClosedError(message, **details)
    if code == 551 or (code == 100 and subcode in NO_MATCHING_USER_SUBCODES):
        hint = (
            "This person can't be messaged: recipient_id must be the reviewer's Instagram-scoped ID "
            "(IGSID, the sender.id of their message to the account), and they must not have blocked "
            "the account or deactivated theirs."
        )
        return RecipientUnavailableError(f"{hint} Graph said: {message}", **details)
    if code == 200 and subcode == 2534041:
        hint = "The Instagram account has turned off 'Allow access to messages' (Settings > Messages)."
        return InstagramApiError(f"{hint} Graph said: {message}", **details)
    if code == 1 and subcode == MAYBE_SENT_SUBCODE:
        hint = "The message may have been sent: not retried; check the conversation before sending again."
        return InstagramApiError(f"{hint} Graph said: {message}", **details)
    if code in THROTTLING_CODES or (status == 429 and code not in (10, 100, 190, 200, 551)):
        return RetryableFailure(RateLimitedError(message, **details), retry_after=retry_after)
    if code in TRANSIENT_CODES or (status >= 500 and code not in (10, 100, 190, 200, 551)):
        return RetryableFailure(InstagramApiError(message, **details), retry_after=retry_after)
    return InstagramApiError(message, **details)


def retry_after_seconds(response: requests.Response) -> float | None:
    """The ``Retry-After`` header in seconds, or ``None`` when absent, a date, negative or infinite."""
    try:
        value = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


def body_excerpt(body: str, *, redact: Callable[[str], str]) -> str:
    """A short, tag-free, secret-free excerpt of an unexpected answer body."""
    flat = " ".join(re.sub(r"<[^>]*>", " ", body or "").split()) or "(empty body)"
    flat = redact(flat)
    return flat if len(flat) <= _EXCERPT_CHARS else f"{flat[:_EXCERPT_CHARS]}..."


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
