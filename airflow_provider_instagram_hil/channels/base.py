"""What every messaging channel provides: its limits, its prompt, and how prompts and replies are sent.

Plain Python with no Airflow import at module level: the webhook (which must not import Airflow) uses the
channels too. A channel builds its hook only when asked (:meth:`Channel.make_hook`), and sends through a
hook it is given, so the operator and the webhook's reply threads choose how long a hook lives.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from airflow_provider_instagram_hil.option_titles import check_distinct_titles, check_option_title
from airflow_provider_instagram_hil.payloads import encode_payload
from airflow_provider_instagram_hil.prompt import PromptLayout, ReviewField, TextLimit, render_prompt


@dataclass(frozen=True)
class PromptStyle:
    """One way a channel shows the options, for up to ``max_options`` of them.

    :param kind: what the app shows, e.g. ``quick_replies``, ``button_template``, ``reply_buttons``.
    :param noun: how error messages name one option, e.g. ``"a reply button"``.
    :param max_options: the most options this style holds.
    :param layout: the text's limit and layout with this style.
    :param title_limit: a limit on each option title beyond the option-title rule (20 code points), or
        None when the channel shortens long titles itself.
    """

    kind: str
    noun: str
    max_options: int
    layout: PromptLayout
    title_limit: TextLimit | None = None


class Channel(ABC):
    """A Meta messaging channel: Instagram, Messenger or WhatsApp.

    Subclasses set the class attributes and implement how a prompt and a reply are sent.
    """

    #: The channel as the decision store and the webhook name it.
    name: ClassVar[str]
    #: The channel as people name it, e.g. ``"WhatsApp"``; error messages start with it.
    title: ClassVar[str]
    #: What a recipient id is on this channel, for error messages.
    recipient_kind: ClassVar[str]
    #: Ways to show the options, fewest options first.
    styles: ClassVar[tuple[PromptStyle, ...]]
    #: ``module:Class`` of the hook that sends on this channel, and its connection-id argument.
    hook_path: ClassVar[str]
    hook_conn_arg: ClassVar[str]
    #: Where a reviewer reads the channel's conversations (no channel has a public link to one thread).
    inbox_url: ClassVar[str]
    #: A variant that prompts with buttons which stay tappable (Instagram's ``persistent_buttons``).
    persistent_buttons: ClassVar[bool] = False

    @property
    def max_options(self) -> int:
        """The most options any style of this channel holds."""
        return max(style.max_options for style in self.styles)

    def style_for(self, count: int) -> PromptStyle:
        """The style that shows ``count`` options.

        :raises ValueError: naming the channel and its limit when no style holds that many.
        """
        for style in self.styles:
            if count <= style.max_options:
                return style
        widest = self.styles[-1]
        raise ValueError(
            f"{self.title}: at most {widest.max_options} options ({widest.kind.replace('_', ' ')}) are "
            f"allowed, got {count}"
        )

    # -- parse time -----------------------------------------------------------------------------------

    def validate_options(self, options: Sequence[str]) -> None:
        """Check the options against the option-title rule and this channel's limits.

        :raises ValueError: starting with the channel's name and naming the limit that was broken.
        """
        try:
            if isinstance(options, str):
                raise ValueError("options must be a list of strings, not one string")
            if not options:
                raise ValueError("options must name at least one option")
            style = self.style_for(len(options))
            for option in options:
                check_option_title(option)
                if style.title_limit is not None and not style.title_limit.fits(option):
                    raise ValueError(
                        f"option {option!r} is {style.title_limit.measure(option)} characters; the title of "
                        f"{style.noun} holds at most {style.title_limit.size} (counted in UTF-16 code units)"
                    )
            check_distinct_titles(options)
        except ValueError as exc:
            message = str(exc)
            prefixed = message if message.startswith(f"{self.title}:") else f"{self.title}: {message}"
            raise ValueError(prefixed) from None

    @abstractmethod
    def validate_recipient(self, recipient_id: str) -> str:
        """Return ``recipient_id`` as this channel addresses it.

        :raises ValueError: when it cannot be a recipient on this channel.
        """

    def render_prompt(
        self,
        subject: str,
        fields: Sequence[ReviewField],
        options: Sequence[str],
        *,
        deadline: str = "",
        code: str | None = None,
    ) -> str:
        """The prompt's text for ``options``, within the limit of the style that shows them (see
        :func:`~airflow_provider_instagram_hil.prompt.render_prompt` for ``deadline`` and ``code``)."""
        layout = self.style_for(len(options)).layout
        return render_prompt(subject, fields, options, layout, deadline=deadline, code=code)

    # -- sending --------------------------------------------------------------------------------------

    def make_hook(self, conn_id: str | None = None, **kwargs: Any) -> Any:
        """Build this channel's hook on ``conn_id`` (its default connection when None).

        :param kwargs: passed on to the hook (``timeout``, ``retry_deadline``, ``max_attempts``).
        """
        module_name, _, class_name = self.hook_path.partition(":")
        hook_class = getattr(importlib.import_module(module_name), class_name)
        return hook_class(**{self.hook_conn_arg: conn_id or hook_class.default_conn_name}, **kwargs)

    def payload(self, request_id: str, option: str) -> str:
        """What a tap on ``option`` sends back: the request and the option (see ``payloads``)."""
        return encode_payload(request_id, option)

    @abstractmethod
    def send_prompt(
        self, hook: Any, recipient_id: str, text: str, request_id: str, options: Sequence[str]
    ) -> str | None:
        """Send the prompt with one tappable choice per option; return Meta's message id."""

    @abstractmethod
    def send_reply(self, hook: Any, recipient_id: str, text: str) -> str | None:
        """Send a plain message (a reply to a tap); return Meta's message id."""

    def count_sent(self, hook: Any, recipient_id: str, text: str, since: datetime) -> int | None:
        """How many messages with ``text`` went to ``recipient_id`` since ``since``, per Meta; None when
        the channel offers no way to look (a reply left in doubt is then sent again)."""
        return None


def message_id_of(sent: object) -> str | None:
    """The message id in a hook's answer (``{"message_id": ...}``), or None."""
    value = sent.get("message_id") if isinstance(sent, dict) else None
    return str(value) if value else None


class ChannelConnId:
    """The ``conn_id`` of an operator or notifier that has a ``channel``: kept in the channel's own
    parameter (``instagram_conn_id``, ``messenger_conn_id``, ``whatsapp_conn_id``), which users set and
    Airflow renders as a template field."""

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj, obj.channel.hook_conn_arg)

    def __set__(self, obj: Any, value: str | None) -> None:
        setattr(obj, obj.channel.hook_conn_arg, value)
