"""The "WhatsApp request" button on a WhatsApp approval task: the status page, or WhatsApp Web."""

from __future__ import annotations

from airflow_provider_instagram_hil.channels.whatsapp import WHATSAPP
from airflow_provider_instagram_hil.links.instagram import InstagramRequestLink


class WhatsAppRequestLink(InstagramRequestLink):
    """Operator extra link "WhatsApp request": the request's status page with
    ``[instagram_hil] public_url`` set, else WhatsApp Web."""

    name = "WhatsApp request"
    inbox_url = WHATSAPP.inbox_url
