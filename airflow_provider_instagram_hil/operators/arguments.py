"""The approval operator's arguments: templates recognised, and the rest checked and normalised.

Each check raises ``ValueError`` naming the parameter, at parse time, or once a template is rendered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow_provider_instagram_hil.channels.base import Channel
from airflow_provider_instagram_hil.prompt import ReviewField
from airflow_provider_instagram_hil.store import RecipientSpec


def templated(value: object) -> bool:
    """Whether ``value`` (or any string in it) holds a Jinja template, rendered only when the task runs."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(templated(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(templated(item) for item in value)
    return False


def response_timeout_of(value: object, *, rendered: bool = False) -> timedelta:
    """``response_timeout`` as a positive timedelta: a timedelta, or once rendered from a template, a
    number of seconds; else ``ValueError`` naming it."""
    timeout = value
    if rendered and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            timeout = timedelta(seconds=float(value))
        except (ValueError, OverflowError):
            timeout = None
    if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
        if rendered:
            raise ValueError(
                f"response_timeout rendered to {value!r}; it must be a positive number of seconds or a "
                "timedelta"
            )
        raise ValueError(f"response_timeout must be a positive timedelta or a template, got {value!r}")
    return timeout


def count_recipients(value: Mapping[str, Any] | Sequence[Any] | str) -> int:
    return 1 if isinstance(value, str) else len(value)


def recipient_specs(
    value: object, channel: Channel, *, rendered: bool = False, field: str = "recipient_id"
) -> list[RecipientSpec]:
    """Normalise ``recipient_id`` (an id, a list, or names to ids) into recipients on ``channel``, or
    raise ``ValueError`` naming it (``field``: the parameter's name)."""
    if isinstance(value, Mapping):
        pairs = [(name, item) for name, item in value.items()]
    elif isinstance(value, str):
        pairs = [(None, value)]
    elif isinstance(value, Sequence):
        pairs = [(None, item) for item in value]
    else:
        pairs = []
    ok = bool(pairs) and all(
        isinstance(item, str) and item.strip() and (name is None or (isinstance(name, str) and name.strip()))
        for name, item in pairs
    )
    if not ok:
        state = "rendered to" if rendered else "is"
        what = channel.recipient_kind
        raise ValueError(
            f"{field} {state} {value!r}; it must be {what}, a non-empty list of them, or a mapping of "
            "names to them"
        )
    ids = [channel.validate_recipient(str(item)) for _, item in pairs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{field} lists the same {channel.title} recipient twice: {value!r}")
    return [
        RecipientSpec(rid, channel.name, name.strip() if name else None)
        for (name, _), rid in zip(pairs, ids, strict=True)
    ]


def as_review_fields(fields: Sequence[ReviewField] | Mapping[str, Any] | None) -> list[ReviewField]:
    """Accept review fields or a label-to-value mapping (plain fields); else ``ValueError``."""
    if fields is None:
        return []
    if isinstance(fields, Mapping):
        return [ReviewField(str(label), value) for label, value in fields.items()]
    if isinstance(fields, str) or not all(isinstance(item, ReviewField) for item in fields):
        raise ValueError("fields must be a list of ReviewField or a mapping of label to value")
    return list(fields)
