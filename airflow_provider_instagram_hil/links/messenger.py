"""The "Messenger request" button on a Messenger approval task: the status page, or messenger.com."""

from __future__ import annotations

from airflow_provider_instagram_hil.channels.messenger import MESSENGER
from airflow_provider_instagram_hil.links.instagram import InstagramRequestLink


class MessengerRequestLink(InstagramRequestLink):
    """Operator extra link "Messenger request": the request's status page with
    ``[instagram_hil] public_url`` set, else Messenger."""

    name = "Messenger request"
    inbox_url = MESSENGER.inbox_url
