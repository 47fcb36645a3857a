"""The "Messenger request" button on a Messenger approval task: the status page, or messenger.com."""

from __future__ import annotations

from airflow_provider_instagram_hil.links.instagram import InstagramConversationLink

MESSENGER_INBOX_URL = "https://www.messenger.com/"


class MessengerConversationLink(InstagramConversationLink):
    """Operator extra link "Messenger request": the request's status page with
    ``[instagram_hil] public_url`` set, else Messenger."""

    name = "Messenger request"
    inbox_url = MESSENGER_INBOX_URL
