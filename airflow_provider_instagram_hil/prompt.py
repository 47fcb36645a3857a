"""The text of an approval prompt: a subject, review fields and the options, within Meta's byte limit.

Plain Python with no Airflow import. Instagram shows plain text (no markdown), and one message holds at
most :data:`~airflow_provider_instagram_hil.messages.MAX_TEXT_BYTES` UTF-8 bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_instagram_hil.messages import MAX_TEXT_BYTES

PLAIN = "plain"
MASKED = "masked"
CONCEALED = "concealed"
DISPLAY_MODES = (PLAIN, MASKED, CONCEALED)

MASK = "••••••••"
ELLIPSIS = "…"
_ELLIPSIS_BYTES = len(ELLIPSIS.encode("utf-8"))
#: Values are not cut below this many bytes (ellipsis included) while trailing fields can be left out.
MIN_CUT_BYTES = 16
OPTIONS_PREFIX = "Reply: "
OPTIONS_SEPARATOR = " / "


@dataclass(repr=False)
class ReviewField:
    """One labelled value the reviewer sees in the prompt.

    Inside the operator's templated ``fields`` the value is rendered by Airflow like any template field.
    ``str()`` and ``repr()`` show the value only when it is plain: Airflow stores rendered template
    fields through ``str()``, so masked and concealed values never reach that table or the logs.

    :param label: what the value is, shown before it (e.g. ``"Rows"``).
    :param value: the value; any object, shown with ``str()``. (templated)
    :param display: ``"plain"`` (shown as is), ``"masked"`` (shown as ``••••••••``) or ``"concealed"``
        (left out of the message entirely).
    """

    label: str
    value: Any
    display: str = PLAIN

    template_fields: ClassVar[tuple[str, ...]] = ("value",)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise ValueError(f"ReviewField label must be a non-empty string, got {self.label!r}")
        if self.display not in DISPLAY_MODES:
            raise ValueError(
                f"ReviewField {self.label!r}: display must be one of {list(DISPLAY_MODES)}, "
                f"got {self.display!r}"
            )

    @property
    def is_secret(self) -> bool:
        """Whether the raw value must stay out of messages, logs and rendered fields."""
        return self.display != PLAIN

    def shown_value(self) -> str | None:
        """The value as the reviewer sees it, or None when the field is concealed."""
        if self.display == CONCEALED:
            return None
        if self.display == MASKED:
            return MASK
        return "" if self.value is None else str(self.value).strip()

    def __repr__(self) -> str:
        value = repr(self.value) if self.display == PLAIN else f"'<{self.display}>'"
        return f"ReviewField(label={self.label!r}, value={value}, display={self.display!r})"

    __str__ = __repr__


def options_line(options: Sequence[str]) -> str:
    """The last line of a prompt: what the reviewer can answer (typed, where quick replies do not show)."""
    return OPTIONS_PREFIX + OPTIONS_SEPARATOR.join(options)


def render_prompt(subject: str, fields: Sequence[ReviewField], options: Sequence[str]) -> str:
    """Render the prompt text: the subject, one ``label: value`` line per shown field, then the options.

    The result is at most ``MAX_TEXT_BYTES`` UTF-8 bytes. Long values are shortened with ``…``, fairly
    (the shortest values stay whole, the longest give up the most), cut at code points so the text stays
    valid UTF-8. When even the labels do not fit, trailing fields are left out and a last line says how
    many. The subject and the options are never cut.

    :param subject: the first line(s), e.g. ``"Publish dataset sales_2026?"``.
    :param fields: review fields; concealed ones are left out.
    :param options: the options the reviewer can choose from.
    :raises ValueError: when the subject is empty, or the subject and the options alone exceed the limit.
    """
    subject = (subject or "").strip()
    if not subject:
        raise ValueError("subject must not be empty")
    tail = options_line(options)
    bare = _assemble(subject, [], tail)
    if _size(bare) > MAX_TEXT_BYTES:
        raise ValueError(
            f"the subject and the options take {_size(bare)} UTF-8 bytes; an Instagram message holds at "
            f"most {MAX_TEXT_BYTES}. Shorten the subject or the option titles."
        )
    shown = [(f.label.strip(), value) for f in fields if (value := f.shown_value()) is not None]
    labels = [label for label, _ in shown]
    values = [value for _, value in shown]

    for count in range(len(shown), 0, -1):
        more = _more_line(len(shown) - count)
        # Shorten values only: labels say what a value is and are worth keeping whole. Rather than
        # cutting many values to nothing, leave out trailing fields.
        cut = _fair_cut(
            values[:count],
            _with_fields(subject, labels, more, tail),
            min_cap=MIN_CUT_BYTES if count > 1 else _ELLIPSIS_BYTES,
        )
        if cut is not None:
            return _assemble(subject, _lines(labels, cut) + more, tail)
    # Not even one label fits whole: shorten the first line as a whole.
    more = _more_line(len(shown) - 1)
    first = _fair_cut(_lines(labels, values)[:1], lambda ls: _assemble(subject, ls + more, tail))
    if first is not None:
        return _assemble(subject, first + more, tail)
    return bare


def _with_fields(subject: str, labels: list[str], more: list[str], tail: str) -> Callable[[list[str]], str]:
    """Assemble a prompt from the values of the first ``len(values)`` fields."""
    return lambda values: _assemble(subject, _lines(labels, values) + more, tail)


def _more_line(count: int) -> list[str]:
    if count <= 0:
        return []
    return [f"{ELLIPSIS} {count} more field{'s' if count > 1 else ''} not shown"]


def _lines(labels: Sequence[str], values: Sequence[str]) -> list[str]:
    return [f"{label}: {value}" for label, value in zip(labels[: len(values)], values, strict=True)]


def _assemble(subject: str, lines: Sequence[str], tail: str) -> str:
    blocks = [subject, "\n".join(lines), tail] if lines else [subject, tail]
    return "\n\n".join(blocks)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _fair_cut(
    pieces: list[str], assemble: Callable[[list[str]], str], min_cap: int = _ELLIPSIS_BYTES
) -> list[str] | None:
    """Shorten ``pieces`` so ``assemble(pieces)`` fits; None when that needs a cap below ``min_cap``.

    Water-filling: find the largest per-piece byte cap such that capping every longer piece fits;
    a capped piece keeps as many whole code points as fit before the ellipsis.
    """
    available = MAX_TEXT_BYTES - _size(assemble([""] * len(pieces)))
    sizes = [_size(p) for p in pieces]
    if sum(sizes) <= available:
        return pieces

    def total(cap: int) -> int:
        return sum(min(s, cap) for s in sizes)

    if total(min_cap) > available:
        return None
    low, high = min_cap, max(sizes)
    while low < high:
        mid = (low + high + 1) // 2
        if total(mid) <= available:
            low = mid
        else:
            high = mid - 1
    return [p if s <= low else shorten_to_bytes(p, low) for p, s in zip(pieces, sizes, strict=True)]


def shorten_to_bytes(text: str, max_bytes: int) -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes including the ellipsis, at a code point boundary."""
    head = text.encode("utf-8")[: max_bytes - _ELLIPSIS_BYTES]
    # A byte cut can only break the last code point; "ignore" drops that partial sequence.
    return head.decode("utf-8", "ignore").rstrip() + ELLIPSIS
