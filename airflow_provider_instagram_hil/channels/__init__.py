"""Meta's messaging channels: for each, its limits, its prompt, and how prompts and replies are sent.

``channels/<name>`` knows one channel; the operators and the webhook use them, the store and the trigger
never do. No module here imports Airflow: hooks are built on demand (:meth:`Channel.make_hook`).
"""

from __future__ import annotations

from airflow_provider_instagram_hil.channels.base import Channel, PromptStyle
from airflow_provider_instagram_hil.channels.instagram import INSTAGRAM, INSTAGRAM_BUTTONS, InstagramChannel
from airflow_provider_instagram_hil.channels.messenger import MESSENGER, MessengerChannel
from airflow_provider_instagram_hil.channels.whatsapp import WHATSAPP, WhatsAppChannel

#: Every channel by the name the store and the webhook use.
CHANNELS: dict[str, Channel] = {channel.name: channel for channel in (INSTAGRAM, MESSENGER, WHATSAPP)}
#: The variants with persistent buttons, where a channel has one (Messenger's and WhatsApp's buttons stay).
PERSISTENT_BUTTONS: dict[str, Channel] = {INSTAGRAM_BUTTONS.name: INSTAGRAM_BUTTONS}


def get_channel(name: str, *, persistent_buttons: bool = False) -> Channel:
    """The channel called ``name`` (``instagram``, ``messenger`` or ``whatsapp``); with
    ``persistent_buttons``, its variant whose buttons stay tappable, where it has one.

    :raises ValueError: for any other name.
    """
    try:
        return (persistent_buttons and PERSISTENT_BUTTONS.get(name)) or CHANNELS[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; choose from {sorted(CHANNELS)}") from None


__all__ = [
    "CHANNELS",
    "INSTAGRAM",
    "MESSENGER",
    "PERSISTENT_BUTTONS",
    "WHATSAPP",
    "Channel",
    "InstagramChannel",
    "MessengerChannel",
    "PromptStyle",
    "WhatsAppChannel",
    "get_channel",
]
