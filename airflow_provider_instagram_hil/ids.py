"""What an id is: a request id, a reviewer's id on a channel, and the key an event id (``mid``) is kept by.

One definition each, for the store (which makes request ids and keys events), the webhook (which reads
them from payloads and URLs) and the operator's link (which puts a request id into a URL). Plain Python.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import TypeGuard

#: A request id is this many bytes from the OS's CSPRNG (128 bits), written as lowercase hex.
REQUEST_ID_BYTES = 16
#: The length of a request id: 32 lowercase hex digits.
REQUEST_ID_CHARS = 2 * REQUEST_ID_BYTES
_REQUEST_ID_RE = re.compile(rf"[0-9a-f]{{{REQUEST_ID_CHARS}}}")

#: Reviewer (recipient, responder, sender) ids: IGSIDs, PSIDs, WhatsApp ids, Airflow user names.
MAX_PARTY_ID_CHARS = 64
#: Meta's message ids (``mid``, ``wamid``) are kept as given up to this length, longer ones hashed.
MAX_MID_CHARS = 255


def new_request_id() -> str:
    """Return a random, unguessable request id (128 bits, 32 lowercase hex digits)."""
    return secrets.token_hex(REQUEST_ID_BYTES)


def is_request_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is shaped like a request id :func:`new_request_id` makes.

    Anything else (another length, upper case, a path, a NUL byte) names no request: the store does not
    look it up, the webhook ignores a tap carrying it, and the link and status page refuse it.
    """
    return isinstance(value, str) and _REQUEST_ID_RE.fullmatch(value) is not None


def mid_key(mid: object) -> str | None:
    """The event id as the store keeps it: as given, or hashed when too long or unprintable.

    A redelivered event carries the same ``mid``, so its key finds the response it already recorded.
    """
    if not isinstance(mid, str) or not mid:
        return None
    if len(mid) <= MAX_MID_CHARS and mid.isprintable():
        return mid
    return "sha256:" + hashlib.sha256(mid.encode("utf-8", "surrogatepass")).hexdigest()
