"""The payload a tap sends back: ``ighil1:<request_id>:<option>``, which ties it to a request.

Plain Python: every channel encodes it into its quick replies or buttons, the webhook decodes it.
"""

from __future__ import annotations

from typing import NamedTuple

from airflow_provider_instagram_hil.option_titles import check_option_title

PAYLOAD_PREFIX = "ighil1"
#: Meta's limit on a quick reply's payload; nothing longer is one of ours.
MAX_PAYLOAD_CHARS = 1000


class TapPayload(NamedTuple):
    """What a tap's payload says: which request, which option."""

    request_id: str
    option: str


def encode_payload(request_id: str, option: str) -> str:
    """Build the payload for ``option`` of request ``request_id``.

    :raises ValueError: ``request_id`` holds ``:``, or ``option`` is no valid option title
        (:mod:`~airflow_provider_instagram_hil.option_titles`): the webhook would not decode it back.
    """
    if ":" in request_id:
        raise ValueError("request_id must not contain ':'")
    check_option_title(option)
    return f"{PAYLOAD_PREFIX}:{request_id}:{option}"


def decode_payload(payload: object) -> TapPayload | None:
    """Parse a payload written by :func:`encode_payload`; anything else gives ``None``."""
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_CHARS:
        return None
    prefix, sep, rest = payload.partition(":")
    if prefix != PAYLOAD_PREFIX or not sep:
        return None
    request_id, sep, option = rest.partition(":")
    if not request_id or not sep or not option:
        return None
    return TapPayload(request_id, option)
