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
_MESSAGE_CHARS = 300
_TRACE_CHARS = 64
#: Graph error fields copied into our errors and logs, after :func:`echoed` cleaned them.
ECHOED_FIELDS = ("message", "error_user_title", "error_user_msg", "fbtrace_id")


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
    message = graph_error_text(error, redact=redact)
    trace = (
        echoed(error["fbtrace_id"], redact=redact, limit=_TRACE_CHARS) if error.get("fbtrace_id") else None
    )
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


def graph_error_text(error: dict[str, Any], *, redact: Callable[[str], str]) -> str:
    """Meta's ``message``, with ``error_user_title`` and ``error_user_msg`` when given, each cleaned."""
    message = echoed(error.get("message") or "no message", redact=redact, limit=_MESSAGE_CHARS)
    title = echoed(error.get("error_user_title") or "", redact=redact, limit=_MESSAGE_CHARS)
    detail = echoed(error.get("error_user_msg") or "", redact=redact, limit=_MESSAGE_CHARS)
    shown = ": ".join(part for part in (title, detail) if part)
    return f"{message} ({shown})" if shown else message


def echoed(value: object, *, redact: Callable[[str], str], limit: int) -> str:
    """A field the Graph API (or whoever answers in its place) echoed, made safe for a log line.

    Secrets of the connection are replaced before anything else (so shortening can never leave part of
    one), control characters and line breaks become single spaces (no forged log lines), and the text
    is cut at ``limit`` characters.
    """
    text = redact(str(value))
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    text = redact(text)
    return text if len(text) <= limit else f"{text[:limit]}..."


def retry_after_seconds(response: requests.Response) -> float | None:
    """The ``Retry-After`` header in seconds, or ``None`` when absent, a date, negative or infinite."""
    try:
        value = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


def body_excerpt(body: str, *, redact: Callable[[str], str]) -> str:
    """A short, tag-free, secret-free excerpt of an unexpected answer body."""
    untagged = re.sub(r"<[^>]*>", " ", redact(body or ""))
    return echoed(untagged, redact=redact, limit=_EXCERPT_CHARS) or "(empty body)"


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
