"""The webhook that records reviewers' taps: a Flask app factory and its blueprint.

Flask only: ``settings.py`` is the one module that reads Airflow, and only when ``create_app()`` was not
given every setting.
"""

from __future__ import annotations

from airflow_provider_instagram_hil.webhook.app import create_app
from airflow_provider_instagram_hil.webhook.blueprint import WEBHOOK_PATH, webhook_blueprint
from airflow_provider_instagram_hil.webhook.replies import reply_text
from airflow_provider_instagram_hil.webhook.resources import WebhookResources, get_resources
from airflow_provider_instagram_hil.webhook.sender import OutboxSender
from airflow_provider_instagram_hil.webhook.settings import WebhookConfigError

__all__ = [
    "WEBHOOK_PATH",
    "OutboxSender",
    "WebhookConfigError",
    "WebhookResources",
    "create_app",
    "get_resources",
    "reply_text",
    "webhook_blueprint",
]
