"""The text of an approval prompt: a subject, review fields and the options, within a channel's limit.

Plain Python with no Airflow import. Meta's apps show plain text (no markdown). Each channel says how much
text one message holds (:class:`TextLimit`) and how the prompt is laid out (:class:`PromptLayout`); the
default is Instagram's: at most :data:`~airflow_provider_instagram_hil.meta_limits.MAX_TEXT_BYTES` UTF-8
bytes, the options repeated on a last line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_instagram_hil.meta_limits import MAX_TEXT_BYTES

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

BYTES = "bytes"
CHARACTERS = "characters"


@dataclass(frozen=True)
class TextLimit:
    """How much text one message holds: ``size`` UTF-8 bytes, or ``size`` characters.

    Meta documents its other limits in "characters" without saying how it counts them; they are counted
    here as UTF-16 code units, the stricter of the usual readings (an emoji counts 2, as in JavaScript).

    :param size: the most units a message may hold.
    :param unit: :data:`BYTES` or :data:`CHARACTERS`.
    """

    size: int
    unit: str = BYTES

    def __post_init__(self) -> None:
        if self.unit not in (BYTES, CHARACTERS) or self.size < 1:
            raise ValueError(f"a text limit is a positive size in bytes or characters, got {self!r}")

    def measure(self, text: str) -> int:
        """The size of ``text`` in this limit's unit."""
        if self.unit == BYTES:
            return len(text.encode("utf-8", "surrogatepass"))
        return len(text.encode("utf-16-le", "surrogatepass")) // 2

    @property
    def unit_name(self) -> str:
        """How messages name the unit: ``UTF-8 bytes`` or ``characters``."""
        return "UTF-8 bytes" if self.unit == BYTES else "characters"

    def fits(self, text: str) -> bool:
        """Whether ``text`` is within the limit."""
        return self.measure(text) <= self.size


@dataclass(frozen=True)
class PromptLayout:
    """How a channel lays a prompt out.

    :param limit: what one message holds.
    :param where: how error messages name the message, e.g. ``"an Instagram message"``.
    :param options_line: end with ``Reply: A / B``, for apps that do not always show the options.
    :param one_line: no line breaks, tabs or runs of spaces (WhatsApp template parameters): blocks are
        joined with ``" | "``, field lines with ``" · "``, and whitespace in values is collapsed.
    :param also: further limits the text must fit as well, e.g. Instagram's button template: 1000 UTF-8
        bytes (``limit``) and 640 characters.
    """

    limit: TextLimit = field(default_factory=lambda: TextLimit(MAX_TEXT_BYTES, BYTES))
    where: str = "an Instagram message"
    options_line: bool = True
    one_line: bool = False
    also: tuple[TextLimit, ...] = ()

    @property
    def limits(self) -> tuple[TextLimit, ...]:
        """Every limit the text must fit."""
        return (self.limit, *self.also)

    def fits(self, text: str) -> bool:
        """Whether ``text`` fits every limit."""
        return all(limit.fits(text) for limit in self.limits)

    @property
    def block_separator(self) -> str:
        return " | " if self.one_line else "\n\n"

    @property
    def line_separator(self) -> str:
        return " · " if self.one_line else "\n"


#: Instagram's layout: 1000 UTF-8 bytes, options repeated on the last line (desktop shows no quick replies).
INSTAGRAM_LAYOUT = PromptLayout()


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


def options_line(options: Sequence[str], code: str | None = None) -> str:
    """The last line of a prompt: what the reviewer can answer (typed, where quick replies do not show),
    and the request's code for a typed answer when they have several (``Reply: A / B (request K7Q)``)."""
    line = OPTIONS_PREFIX + OPTIONS_SEPARATOR.join(options)
    return f"{line} (request {code})" if code else line


def deadline_line(expires_at: datetime, timezone_name: str | None = None, default: str | None = None) -> str:
    """When an answer stops counting, in the DAG author's time zone, and what happens then:
    ``Answer by Thu 3 Dec 14:00 CET (no answer: Reject).``

    :raises ValueError: for a time zone the system does not know.
    """
    local = expires_at.astimezone(zone(timezone_name))
    when = f"{local:%a} {local.day} {local:%b} {local:%H:%M} {local.tzname()}"
    then = default if default is not None else "the task fails"
    return f"Answer by {when} (no answer: {then})."


def zone(name: str | None) -> tzinfo:
    """The IANA time zone ``name`` (None: UTC).

    :raises ValueError: naming the zone when the system's time zone database does not have it.
    """
    if not name or name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin'") from None


def render_prompt(
    subject: str,
    fields: Sequence[ReviewField],
    options: Sequence[str],
    layout: PromptLayout = INSTAGRAM_LAYOUT,
    *,
    deadline: str = "",
    code: str | None = None,
) -> str:
    """Render the prompt text: the subject, one ``label: value`` line per shown field, then the options.

    The result fits ``layout.limit`` (Instagram's 1000 UTF-8 bytes by default). Long values are shortened
    with ``…``, fairly (the shortest values stay whole, the longest give up the most), cut at code points
    so the text stays valid. When even the labels do not fit, trailing fields are left out and a last line
    says how many. The subject and the options are never cut.

    :param subject: the first line(s), e.g. ``"Publish dataset sales_2026?"``.
    :param fields: review fields; concealed ones are left out.
    :param options: the options the reviewer can choose from.
    :param layout: the channel's limit and layout.
    :param deadline: a line saying until when an answer counts (:func:`deadline_line`), kept whole.
    :param code: the request's short code for typed answers, shown after the options (or the deadline).
    :raises ValueError: when the subject is empty, or the subject and the options alone exceed a limit.
    """
    if not layout.also:
        return _render_within(subject, fields, options, layout, deadline, code)
    # Several limits in different units (bytes, characters): the best text under each one alone, if it
    # fits the others too; else the text under the first limit shrunk until it fits them all.
    for limit in layout.limits:
        text = _render_within(subject, fields, options, replace(layout, limit=limit, also=()), deadline, code)
        if layout.fits(text):
            return text
    first = layout.limit
    bare = _render_within(subject, [], options, replace(layout, also=()), deadline, code)
    best, low, high = bare, first.measure(bare), first.size
    while low < high:
        size = (low + high + 1) // 2
        shrunk = replace(layout, limit=TextLimit(size, first.unit), also=())
        text = _render_within(subject, fields, options, shrunk, deadline, code)
        if layout.fits(text):
            best, low = text, size
        else:
            high = size - 1
    return best


def _render_within(
    subject: str,
    fields: Sequence[ReviewField],
    options: Sequence[str],
    layout: PromptLayout,
    deadline: str,
    code: str | None,
) -> str:
    """:func:`render_prompt` within ``layout.limit`` alone."""
    limit = layout.limit
    subject = _clean(subject or "", layout)
    if not subject:
        raise ValueError("subject must not be empty")
    tail = _tail(options, layout, deadline, code)
    bare = _assemble(subject, [], tail, layout)
    if limit.measure(bare) > limit.size:
        what = "the subject and the options take" if tail else "the subject takes"
        raise ValueError(
            f"{what} {limit.measure(bare)} {limit.unit_name}; {layout.where} holds at most {limit.size}. "
            f"Shorten the subject{' or the option titles' if layout.options_line else ''}."
        )
    shown = [
        (_clean(f.label, layout), _clean(value, layout))
        for f in fields
        if (value := f.shown_value()) is not None
    ]
    labels = [label for label, _ in shown]
    values = [value for _, value in shown]

    for count in range(len(shown), 0, -1):
        more = _more_line(len(shown) - count)
        # Shorten values only: labels say what a value is and are worth keeping whole. Rather than
        # cutting many values to nothing, leave out trailing fields.
        cut = _fair_cut(
            values[:count],
            _with_fields(subject, labels, more, tail, layout),
            limit,
            min_cap=MIN_CUT_BYTES if count > 1 else _ellipsis_size(limit),
        )
        if cut is not None:
            return _assemble(subject, _lines(labels, cut) + more, tail, layout)
    # Not even one label fits whole: shorten the first line as a whole.
    more = _more_line(len(shown) - 1)
    first = _fair_cut(
        _lines(labels, values)[:1], lambda ls: _assemble(subject, ls + more, tail, layout), limit
    )
    if first is not None:
        return _assemble(subject, first + more, tail, layout)
    return bare


def _tail(options: Sequence[str], layout: PromptLayout, deadline: str, code: str | None) -> str:
    """The block after the fields: the deadline, then the options line (or the code alone)."""
    lines = [deadline] if deadline else []
    if layout.options_line:
        lines.append(options_line(options, code))
    elif code:
        lines.append(f"Request {code}.")
    return layout.line_separator.join(lines)


def _clean(text: str, layout: PromptLayout) -> str:
    """Strip ``text``; on one line, also turn every run of whitespace into one space."""
    return " ".join(text.split()) if layout.one_line else text.strip()


def _with_fields(
    subject: str, labels: list[str], more: list[str], tail: str, layout: PromptLayout
) -> Callable[[list[str]], str]:
    """Assemble a prompt from the values of the first ``len(values)`` fields."""
    return lambda values: _assemble(subject, _lines(labels, values) + more, tail, layout)


def _more_line(count: int) -> list[str]:
    if count <= 0:
        return []
    return [f"{ELLIPSIS} {count} more field{'s' if count > 1 else ''} not shown"]


def _lines(labels: Sequence[str], values: Sequence[str]) -> list[str]:
    return [f"{label}: {value}" for label, value in zip(labels[: len(values)], values, strict=True)]


def _assemble(subject: str, lines: Sequence[str], tail: str, layout: PromptLayout) -> str:
    blocks = [subject, layout.line_separator.join(lines)] if lines else [subject]
    if tail:
        blocks.append(tail)
    return layout.block_separator.join(blocks)


def _ellipsis_size(limit: TextLimit) -> int:
    return limit.measure(ELLIPSIS)


def _fair_cut(
    pieces: list[str],
    assemble: Callable[[list[str]], str],
    limit: TextLimit,
    min_cap: int | None = None,
) -> list[str] | None:
    """Shorten ``pieces`` so ``assemble(pieces)`` fits; None when that needs a cap below ``min_cap``.

    Water-filling: find the largest per-piece cap (in the limit's unit) such that capping every longer
    piece fits; a capped piece keeps as many whole code points as fit before the ellipsis.
    """
    if min_cap is None:
        min_cap = _ellipsis_size(limit)
    available = limit.size - limit.measure(assemble([""] * len(pieces)))
    sizes = [limit.measure(p) for p in pieces]
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
    return [p if s <= low else shorten_to(p, low, limit) for p, s in zip(pieces, sizes, strict=True)]


def shorten_to(text: str, max_size: int, limit: TextLimit) -> str:
    """Cut ``text`` to at most ``max_size`` units of ``limit`` including the ellipsis, at a code point."""
    if limit.unit == BYTES:
        return shorten_to_bytes(text, max_size)
    budget = max_size - _ellipsis_size(limit)
    kept: list[str] = []
    for char in text:
        budget -= limit.measure(char)
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS


def shorten_to_bytes(text: str, max_bytes: int) -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes including the ellipsis, at a code point boundary."""
    head = text.encode("utf-8")[: max_bytes - _ELLIPSIS_BYTES]
    # A byte cut can only break the last code point; "ignore" drops that partial sequence.
    return head.decode("utf-8", "ignore").rstrip() + ELLIPSIS
