"""What an option title may be: the one rule the operator, the payload encoder and the webhook share.

An option title is shown on a quick-reply button *and* travels back, unchanged, inside the button's
payload (``ighil1:<request_id>:<title>``); the store then compares it with the request's options. So
every title the operator accepts must be accepted by the webhook's parser too, on any host: the operator
(a worker) and the webhook (another process, maybe another Python) must not disagree. The rule is
therefore written without the local Unicode database, whose version differs between Pythons (a new emoji
is "unassigned" to an older one). A title is a ``str`` that

- is 1 to :data:`MAX_TITLE_CHARS` (20) code points long. Meta documents "20 characters" and may count
  differently (UTF-16 units, graphemes); it then shortens the *shown* title, never the payload;
- is not whitespace only. Spaces around the text are kept as written, never stripped: the title is also
  the value a DAG compares (``reject_options``, ``default_option``, ``chosen_option``);
- holds no control character (U+0000-U+001F, U+007F-U+009F), surrogate, noncharacter, private-use code
  point, line or paragraph separator (U+2028, U+2029). Unicode's stability policy fixes these sets for
  good, so the answer never depends on the Python that asks.

Everything else is allowed: any script, right-to-left text, spaces inside (non-ASCII ones too),
combining marks, variation selectors, emoji with skin tones or zero-width joiners, flags and tag
sequences, and code points the local Unicode database does not know yet.

Across a list of options (the operator only) titles must still differ once NFC-normalised and stripped of
surrounding whitespace: "é" precomposed and decomposed, or "Yes" and "Yes ", look the same to the
reviewer, so they cannot be two options.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

#: Meta's limit for a quick-reply title, counted here in code points.
MAX_TITLE_CHARS = 20

_SEPARATORS = frozenset({"\u2028", "\u2029"})
#: Unicode's White_Space code points, spelt out rather than asked of the local database (see above).
_WHITESPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _refused(char: str) -> str | None:
    """Why the code point ``char`` cannot be in a title, or None."""
    point = ord(char)
    if point < 0x20 or 0x7F <= point < 0xA0:
        return "a control character"
    if 0xD800 <= point < 0xE000:
        return "a surrogate"
    if 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE:
        return "a noncharacter"
    if 0xE000 <= point < 0xF900 or point >= 0xF0000:
        return "a private-use code point"
    if char in _SEPARATORS:
        return "a line or paragraph separator"
    return None


def option_title_problem(title: object) -> str | None:
    """Say why ``title`` cannot be an option title, or return None when it can.

    :param title: the candidate title, of any type.
    :return: a short reason that names the rule broken, or None.
    """
    if not isinstance(title, str):
        return f"must be a string, got {type(title).__name__}"
    if not title or all(char in _WHITESPACE for char in title):
        return "must not be empty or only whitespace"
    if len(title) > MAX_TITLE_CHARS:
        return f"is {len(title)} characters; quick-reply titles are limited to {MAX_TITLE_CHARS}"
    for index, char in enumerate(title):
        reason = _refused(char)
        if reason is not None:
            return f"holds {reason} (U+{ord(char):04X}) at position {index}"
    return None


def is_option_title(title: object) -> bool:
    """Whether ``title`` may be an option title (see the module docstring)."""
    return option_title_problem(title) is None


def check_option_title(title: object) -> str:
    """Return ``title`` if it may be an option title.

    :raises ValueError: naming the title and the rule it breaks.
    """
    problem = option_title_problem(title)
    if problem is not None:
        raise ValueError(f"option {title!r} {problem}")
    assert isinstance(title, str)
    return title


def check_distinct_titles(titles: Sequence[str]) -> None:
    """Refuse two titles that are equal, or look equal (NFC-normalised, surrounding whitespace removed).

    :raises ValueError: naming the titles that clash.
    """
    seen: dict[str, str] = {}
    for title in titles:
        key = unicodedata.normalize("NFC", title).strip("".join(_WHITESPACE))
        if key in seen:
            first = seen[key]
            if first == title:
                raise ValueError(f"options must be unique: {title!r} appears twice")
            raise ValueError(
                f"options {first!r} and {title!r} differ only in Unicode normalisation or surrounding "
                "whitespace and look the same to the reviewer: keep one"
            )
        seen[key] = title
