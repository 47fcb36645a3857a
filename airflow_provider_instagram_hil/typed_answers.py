"""Typed answers: what a reviewer may write instead of tapping, and the short code of a request.

Instagram's desktop and web apps show no quick replies, so a reviewer may type an option's title (case,
accents, surrounding emoji, punctuation and spaces ignored) or its number, optionally after the request's
short code (``K7Q approve``, needed only when they have several pending requests) and before a reason
(``reject: numbers look wrong``). Plain Python: the operator prints the code, the webhook reads answers.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

#: Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 3
MAX_CODE_LENGTH = 8
#: Between an answer and its reason: ``reject: why``, ``reject - why``, or a new line.
_REASON_SEPARATOR = re.compile(r"\s*(?::|\n|\s[-\u2013\u2014]\s)\s*")  # hyphen, en and em dash
_NUMBER = re.compile(r"^#?(\d{1,3})[.)]?$")
_CODE_TOKEN = re.compile(rf"^[{CODE_ALPHABET}{CODE_ALPHABET.lower()}]{{{CODE_LENGTH},{MAX_CODE_LENGTH}}}$")
#: Emoji presentation selectors and skin tones: "👍🏽" answers "👍".
_EMOJI_MODIFIERS = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")


def request_code(request_id: str, length: int = CODE_LENGTH) -> str:
    """The request's short code, e.g. ``K7Q``: derived from its id, so nothing more is stored."""
    digest = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(length):
        digest, index = divmod(digest, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[index])
    return "".join(chars)


@dataclass(frozen=True)
class TypedAnswer:
    """A typed message split into its parts.

    :param code: the code of one of the sender's requests it starts with, if any (upper case).
    :param answer: the option's title or number, as typed.
    :param reason: what follows the answer, if anything.
    :param text: the whole message after the code (tried as an option title before splitting).
    :param unknown_code: a first word that looks like a code but names none of the sender's requests.
    """

    code: str | None
    answer: str
    reason: str | None
    text: str
    unknown_code: str | None = None


def split_answer(text: str, codes: Sequence[str] = ()) -> TypedAnswer:
    """Split ``text`` into code, answer and reason.

    The first word is a code when more words follow and it starts one of ``codes`` (the codes of the
    sender's pending requests, at :data:`MAX_CODE_LENGTH`); a first word that only looks like a code
    (upper case or with a digit, from the code alphabet) is reported as ``unknown_code``.
    """
    text = text.strip()
    code = unknown = None
    first, _, rest = text.partition(" ")
    if rest.strip() and _CODE_TOKEN.match(first):
        token = first.upper()
        if any(full.startswith(token) for full in codes):
            code, text = token, rest.strip()
        elif first.isupper() or any(char.isdigit() for char in first):
            unknown = token
    parts = _REASON_SEPARATOR.split(text, maxsplit=1)
    answer = parts[0].strip()
    reason = parts[1].strip() if len(parts) > 1 and parts[1].strip() else None
    return TypedAnswer(code=code, answer=answer, reason=reason, text=text, unknown_code=unknown)


@dataclass(frozen=True)
class OptionMatch:
    """What an answer matched among the options.

    :param option: the one option it names, or None.
    :param candidates: the options it could mean (two or more: ambiguous).
    :param number: the number typed, when it was out of range.
    """

    option: str | None = None
    candidates: tuple[str, ...] = ()
    number: int | None = None


def match_option(answer: str, options: Sequence[str]) -> OptionMatch:
    """The option ``answer`` names: by title (loosely) or by its number (1 for the first)."""
    number = _NUMBER.match(answer.strip())
    if number is not None:
        index = int(number.group(1))
        if 1 <= index <= len(options):
            return OptionMatch(option=options[index - 1])
        return OptionMatch(number=index)
    loose = loose_form(answer)
    if loose:
        found = tuple(option for option in options if loose_form(option) == loose)
    else:  # an emoji-only answer: compare emoji-only titles
        symbols = symbol_form(answer)
        found = tuple(o for o in options if not loose_form(o) and symbols and symbol_form(o) == symbols)
    if len(found) == 1:
        return OptionMatch(option=found[0])
    return OptionMatch(candidates=found)


def interpret(typed: TypedAnswer, options: Sequence[str]) -> tuple[OptionMatch, str | None]:
    """The option a typed answer names, and its reason: the whole text is tried as a title first (an
    option may itself hold a colon), then the part before the separator."""
    whole = match_option(typed.text, options)
    if whole.option is not None:
        return whole, None
    return match_option(typed.answer, options), typed.reason


def loose_form(text: str) -> str:
    """``text`` as answers are compared: no accents, no case, letters and digits with single spaces,
    surrounding emoji and punctuation dropped (``"✅ Approve!"`` → ``"approve"``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = []
    for char in decomposed:
        category = unicodedata.category(char)
        if category == "Mn":  # accents
            continue
        kept.append(char if category[0] in "LN" else " ")
    return " ".join("".join(kept).casefold().split())


def symbol_form(text: str) -> str:
    """``text`` without spaces, emoji presentation selectors and skin tones (for emoji-only titles)."""
    return _EMOJI_MODIFIERS.sub("", "".join(unicodedata.normalize("NFC", text).split()))
