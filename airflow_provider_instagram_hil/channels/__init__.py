"""Meta's messaging channels: for each, its limits, its prompt, and how prompts and replies are sent.

``channels/<name>`` knows one channel; the operators and the webhook use them, the store and the trigger
never do. No module here imports Airflow: hooks are built on demand (:meth:`Channel.make_hook`).
"""

from __future__ import annotations

from airflow_provider_instagram_hil.channels.base import Channel, PromptStyle
from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM, InstagramChannel
from airflow_provider_instagram_hil.channels.messenger import MESSENGER, MessengerChannel
from airflow_provider_instagram_hil.channels.whatsapp import WHATSAPP, WhatsAppChannel

#: Every channel by the name the store and the webhook use.
CHANNELS: dict[str, Channel] = {channel.name: channel for channel in (INSTAGRAM, MESSENGER, WHATSAPP)}


def get_channel(name: str) -> Channel:
    """The channel called ``name`` (``instagram``, ``messenger`` or ``whatsapp``).

    :raises ValueError: for any other name.
    """
    try:
        return CHANNELS[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; choose from {sorted(CHANNELS)}") from None


__all__ = [
    "CHANNELS",
    "INSTAGRAM",
    "MESSENGER",
    "WHATSAPP",
    "Channel",
    "InstagramChannel",
    "MessengerChannel",
    "PromptStyle",
    "WhatsAppChannel",
    "get_channel",
]
