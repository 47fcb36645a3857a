"""Graph API error triage: which answers (and calls that got none) are typed errors, which may pass on a
retry, and what to say."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

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


@dataclass(frozen=True)
class ErrorHints:
    """What to tell the user for the errors a channel shares with the others, in that channel's words.

    :param window: outside the messaging window (:class:`MessagingWindowClosedError`).
    :param recipient: the person cannot be messaged, or the id is not of the right kind.
    :param token: the token is invalid or expired (:class:`InvalidTokenError`).
    :param messages_off: the account turned off access to its messages (code 200 / 2534041).
    """

    window: str
    recipient: str
    token: str
    messages_off: str


INSTAGRAM_HINTS = ErrorHints(
    window=MessagingWindowClosedError.HINT,
    recipient=(
        "This person can't be messaged: recipient_id must be the reviewer's Instagram-scoped ID "
        "(IGSID, the sender.id of their message to the account), and they must not have blocked "
        "the account or deactivated theirs."
    ),
    token=InvalidTokenError.HINT,
    messages_off="The Instagram account has turned off 'Allow access to messages' (Settings > Messages).",
)

#: Triage of codes only one channel has: a typed error, a ``RetryableFailure``, or None (the general rules).
ChannelRule = Callable[[int | None, int | None, str, dict[str, Any]], Exception | None]


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
    response: requests.Response,
    payload: Any,
    *,
    redact: Callable[[str], str],
    hints: ErrorHints = INSTAGRAM_HINTS,
    channel_rule: ChannelRule | None = None,
) -> Exception:
    """Turn an error answer into a typed error, or a ``RetryableFailure`` wrapping one.

    :param response: the HTTP answer, status 400 or more.
    :param payload: its decoded JSON body, or ``None`` when it had none.
    :param redact: removes the connection's secrets from text Meta echoed back.
    :param hints: what to tell the user, in the words of the channel that called.
    :param channel_rule: the calling channel's own codes, tried before the general rules; it gets the
        code, the subcode, Meta's cleaned message and the details (``code``, ``subcode``,
        ``fbtrace_id``, ``status``) for the typed error, plus ``retry_after`` under that key.
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
    if channel_rule is not None:
        special = channel_rule(code, subcode, message, {**details, "retry_after": retry_after})
        if special is not None:
            return special
    if code == 190:
        return InvalidTokenError(message, hint=hints.token, **details)
    if code == 10 and subcode in WINDOW_CLOSED_SUBCODES:
        return MessagingWindowClosedError(message, hint=hints.window, **details)
    if code == 551 or (code == 100 and subcode in NO_MATCHING_USER_SUBCODES):
        return RecipientUnavailableError(f"{hints.recipient} Graph said: {message}", **details)
    if code == 200 and subcode == 2534041:
        return InstagramApiError(f"{hints.messages_off} Graph said: {message}", **details)
    if code == 1 and subcode == MAYBE_SENT_SUBCODE:
        hint = "The message may have been sent: not retried; check the conversation before sending again."
        return InstagramApiError(f"{hint} Graph said: {message}", **details)
    if code in THROTTLING_CODES or (status == 429 and code not in (10, 100, 190, 200, 551)):
        return RetryableFailure(RateLimitedError(message, **details), retry_after=retry_after)
    if code in TRANSIENT_CODES or (status >= 500 and code not in (10, 100, 190, 200, 551)):
        return RetryableFailure(InstagramApiError(message, **details), retry_after=retry_after)
    return InstagramApiError(message, **details)


def graph_error_text(error: dict[str, Any], *, redact: Callable[[str], str]) -> str:
    """Meta's ``message``, with ``error_user_title``, ``error_user_msg`` and WhatsApp's
    ``error_data.details`` when given, each cleaned."""
    message = echoed(error.get("message") or "no message", redact=redact, limit=_MESSAGE_CHARS)
    title = echoed(error.get("error_user_title") or "", redact=redact, limit=_MESSAGE_CHARS)
    detail = echoed(error.get("error_user_msg") or "", redact=redact, limit=_MESSAGE_CHARS)
    data = error.get("error_data")
    raw_details = data.get("details") if isinstance(data, dict) else None
    details = echoed(raw_details or "", redact=redact, limit=_MESSAGE_CHARS)
    shown = ": ".join(part for part in (title, detail, details) if part)
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


def transport_failure(
    exc: requests.RequestException, method: str, url: str, label: str, timeouts: tuple[float, float]
) -> Exception:
    """The error for a call that got no answer: a ``RetryableFailure`` for what may pass, else a typed error.

    :param timeouts: the connect and read timeouts the call had, for the message.
    """
    host = urlsplit(url).netloc
    connect_timeout, read_timeout = timeouts
    if isinstance(exc, requests.ConnectTimeout):
        return RetryableFailure(
            InstagramApiError(f"Could not connect to the Graph API at {host} within {connect_timeout:g} s.")
        )
    if isinstance(exc, requests.Timeout):
        return RetryableFailure(
            InstagramApiError(f"The Graph API at {host} did not answer {label} within {read_timeout:g} s."),
            maybe_sent=method == "POST",
        )
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return RetryableFailure(
            InstagramApiError(f"Could not reach the Graph API at {host} ({type(exc).__name__})."),
            maybe_sent=method == "POST" and _connection_was_open(exc),
        )
    return InstagramApiError(f"Could not call the Graph API at {host} ({type(exc).__name__}).")


def _connection_was_open(exc: requests.RequestException) -> bool:
    """Whether the request may have reached Meta before the connection failed.

    A refused or unresolvable connection never carried it; a connection dropped mid-exchange
    (``RemoteDisconnected``, a broken chunked answer) may have.
    """
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return True
    reason: BaseException | None = (
        exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    )
    reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the underlying error
    return not isinstance(reason, (NewConnectionError, NameResolutionError))
