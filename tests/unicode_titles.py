"""Hypothesis strategies for option titles in the Unicode a reviewer really meets (imported by name).

Emoji sequences with zero-width joiners, skin tones, flags (regional indicators and tag sequences),
combining marks, right-to-left text with direction marks, spaces that are not ASCII, and code points
this Python's Unicode database may not know yet. Everything here is a candidate: tests ask the
operator's own validation which ones it accepts.
"""

from __future__ import annotations

from hypothesis import strategies as st

EMOJI_ZWJ = (
    "👨\u200d👩\u200d👧\u200d👦",  # family
    "🏳\ufe0f\u200d🌈",  # rainbow flag
    "👩🏽\u200d💻",  # technologist, medium skin tone
    "🧑🏿\u200d🤝\u200d🧑🏻",  # people holding hands, two tones
    "❤\ufe0f\u200d🔥",  # heart on fire
    "🐻\u200d❄\ufe0f",  # polar bear
)
SKIN_TONES = tuple("👍" + chr(code) for code in range(0x1F3FB, 0x1F400))
FLAGS = (
    "🇫🇷",
    "🇯🇵",
    "🇺🇳",
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland: a tag sequence
)
COMBINING = ("e\u0301", "n\u0303", "a\u0308\u0301", "क्षि", "q\u0323\u0307", "\u05e9\u05c1\u05b8")
# Right-to-left letters that ruff finds "ambiguous" are the point here.
RTL = (
    "موافق",
    "رفض",
    "לאשר",
    "\u200fنعم",
    "לא\u200f",
    "\u202bאישור\u202c",  # noqa: RUF001
    "\u2067موافق\u2069",  # noqa: RUF001
)
SPACES = ("\u00a0", "\u2009", "\u202f", "\u3000", "\u205f", "\u1680", "\u2007", "\u200b", "\ufeff")
#: Assigned after Python 3.11's Unicode 14: "unassigned" to some Pythons, emoji to others.
NEWER_EMOJI = ("\U0001fae8", "\U0001fae9", "\U0001f6dc", "\U0001fabf", "\U0001facf")
PIECES = EMOJI_ZWJ + SKIN_TONES + FLAGS + COMBINING + RTL + SPACES + NEWER_EMOJI + ("OK", "Approve", ":")


def option_title_candidates() -> st.SearchStrategy[str]:
    """Strings of up to 20 code points mixing the pieces above with any other code point but controls."""
    # Surrogates and controls are left to refused_title_candidates: here nearly every draw is accepted.
    letters = st.text(
        alphabet=st.characters(exclude_categories=("Cc", "Cs")),
        min_size=1,
        max_size=4,
    )
    piece = st.sampled_from(PIECES) | letters
    return st.lists(piece, min_size=1, max_size=6).map(lambda parts: "".join(parts)[:20])


def any_title_candidates() -> st.SearchStrategy[str]:
    """Anything at all, surrogates and controls included: for "accepted here iff accepted there"."""
    anything = st.text(alphabet=st.characters(codec=None, exclude_categories=()), min_size=0, max_size=24)
    edges = st.sampled_from(("\x00", " ", "\u2028", "ok\ud800", "\ue000"))
    return option_title_candidates() | anything | edges
