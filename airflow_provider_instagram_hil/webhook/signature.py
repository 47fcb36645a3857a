"""Checks of what Meta proves about a request: the body's HMAC and the subscription's verify token.

Both compare in constant time; neither logs nor returns what it was given.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="


def sign_body(body: bytes, secret: str) -> str:
    """Return the ``X-Hub-Signature-256`` value Meta sends for ``body`` signed with ``secret``.

    :param body: the raw request body, exactly as received.
    :param secret: a Meta app secret.
    """
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """Whether ``header`` is a valid SHA-256 signature of the raw ``body`` by any of ``secrets``.

    Several secrets are accepted so that an app secret can be rotated (and because Instagram-Login
    webhooks may be signed with the Instagram app secret rather than the Meta one). The legacy SHA-1
    ``X-Hub-Signature`` is never accepted.

    :param body: the raw request body; never re-serialised JSON.
    :param header: the ``X-Hub-Signature-256`` header, or None when absent.
    :param secrets: the configured app secrets.
    """
    if not header or not secrets or not header.startswith(SIGNATURE_PREFIX):
        return False
    provided = _bytes(header[len(SIGNATURE_PREFIX) :].strip().lower())
    matched = False
    for secret in secrets:
        expected = _bytes(sign_body(body, secret)[len(SIGNATURE_PREFIX) :])
        # No early exit: every secret costs the same whether or not an earlier one matched.
        matched |= hmac.compare_digest(expected, provided)
    return matched


def verify_token_matches(provided: str | None, expected: str | None) -> bool:
    """Whether the ``hub.verify_token`` of a subscription handshake is the configured one.

    :param provided: the token in the query string, or None.
    :param expected: the configured verify token; None or empty refuses every handshake.
    """
    if not expected or provided is None:
        return False
    return hmac.compare_digest(_bytes(provided), _bytes(expected))


def any_verify_token_matches(provided: str | None, expected: Sequence[str]) -> bool:
    """Whether ``provided`` is one of the configured verify tokens (each channel's subscription may have
    its own); every token is compared, in constant time, whether or not an earlier one matched."""
    matched = False
    for token in expected:
        matched |= verify_token_matches(provided, token)
    return matched


def _bytes(text: str) -> bytes:
    # compare_digest refuses non-ASCII str; surrogatepass keeps the encoding one-to-one for any input.
    return text.encode("utf-8", "surrogatepass")
