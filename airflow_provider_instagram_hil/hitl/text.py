"""The prompt of an Airflow human-in-the-loop task as a chat shows it: plain text within the channel's limit.

Airflow's ``body`` is Markdown; the chat apps show text as typed (``*bold*`` stays starred on Instagram,
turns bold on WhatsApp), so the common marks are turned into plain text. The subject and the options
are never cut; the body is shortened to fit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from airflow_provider_instagram_hil.prompt import INSTAGRAM_LAYOUT, PromptLayout, options_line, shorten_to

_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.M)
# Underscores mark emphasis only at word edges (CommonMark): snake_case_names stay whole.
_EMPHASIS = re.compile(r"(\*\*|\*|~~|(?<!\w)__|(?<!\w)_)(?=\S)(.+?)(?<=\S)\1(?!\w)")
_CODE = re.compile(r"`+([^`]*)`+")
_BULLET = re.compile(r"^[ \t]*[-*+][ \t]+", re.M)
_QUOTE = re.compile(r"^[ \t]*>[ \t]?", re.M)
_BLANK_LINES = re.compile(r"\n{3,}")


def markdown_to_text(markdown: str | None) -> str:
    """Plain text of a Markdown body: links as ``text (url)``, no emphasis marks, bullets as ``•``."""
    if not markdown:
        return ""
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(1) else m.group(2), markdown)
    text = _CODE.sub(r"\1", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub("• ", text)
    for _ in range(2):  # nested emphasis, e.g. ***bold italic***
        text = _EMPHASIS.sub(r"\2", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def hitl_prompt(
    subject: str,
    body: str | None,
    options: Sequence[str],
    *,
    footer: str = "",
    layout: PromptLayout = INSTAGRAM_LAYOUT,
) -> str:
    """Subject, plain body, then the options line (or ``footer`` when given), within the layout's limit.

    :raises ValueError: when the subject and the last line alone do not fit.
    """
    limit = layout.limit
    subject = " ".join(subject.split()) if subject else ""
    if not subject:
        raise ValueError("the human-in-the-loop task has no subject")
    tail = footer or (options_line(options) if layout.options_line else "")
    head = f"{subject}\n\n{tail}" if tail else subject
    size = limit.measure(head)
    if size > limit.size:
        raise ValueError(
            f"the subject and the options take {size} {limit.unit_name}; {layout.where} holds at most "
            f"{limit.size}. Shorten the task's subject or option titles."
        )
    plain = markdown_to_text(body)
    room = limit.size - size - limit.measure("\n\n")
    if not plain or room < 8:
        return head
    if limit.measure(plain) > room:
        plain = shorten_to(plain, room, limit)
    return f"{subject}\n\n{plain}\n\n{tail}" if tail else f"{subject}\n\n{plain}"
