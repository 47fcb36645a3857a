"""The connection forms of the ``messenger`` and ``whatsapp`` types: extras and standard-field behaviour.

Plain data in the shapes of Airflow's ``provider.yaml`` (``conn-fields``, ``ui-field-behaviour``); the
``instagram`` type's are ``CONN_FIELDS`` and ``UI_FIELD_BEHAVIOUR`` in the package root.
"""

from __future__ import annotations

from typing import Any

_API_VERSION: dict[str, Any] = {
    "label": "Graph API version",
    "description": "Graph API version used in request paths. Default: v25.0.",
    "schema": {"type": ["string", "null"], "pattern": r"^v\d+\.\d+$"},
}
_APP_SECRET: dict[str, Any] = {
    "label": "App secret",
    "description": "Meta app secret: signs appsecret_proof and verifies webhook signatures. "
    "Several secrets separated by commas are accepted during rotation.",
    "schema": {"type": ["string", "null"], "format": "password"},
}
_VERIFY_TOKEN: dict[str, Any] = {
    "label": "Webhook verify token",
    "description": "Any string you choose; type the same one into the Meta app dashboard "
    "when subscribing the webhook.",
    "schema": {"type": ["string", "null"], "format": "password"},
}
_TIMEOUT: dict[str, Any] = {
    "label": "Request timeout (seconds)",
    "description": "Read timeout of one Graph API call. Default: 30.",
    "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
}
_HIDDEN = ["schema", "port", "login", "extra"]

MESSENGER_CONN_FIELDS: dict[str, dict[str, Any]] = {
    "api_version": _API_VERSION,
    "account_id": {
        "label": "Page ID",
        "description": "ID of the Facebook Page that sends the messages. Default: me (the token's Page).",
        "schema": {"type": ["string", "null"]},
    },
    "app_secret": _APP_SECRET,
    "verify_token": _VERIFY_TOKEN,
    "timeout": _TIMEOUT,
}

MESSENGER_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": _HIDDEN,
    "relabeling": {"host": "Graph API base URL", "password": "Page access token"},
    "placeholders": {
        "host": "https://graph.facebook.com",
        "password": "Page access token with pages_messaging",
        "api_version": "v25.0",
        "account_id": "me",
        "app_secret": "Meta app secret (for appsecret_proof and webhook signatures)",
        "verify_token": "Any string; the same one goes into the Meta dashboard",
        "timeout": "30",
    },
}

WHATSAPP_CONN_FIELDS: dict[str, dict[str, Any]] = {
    "api_version": _API_VERSION,
    "phone_number_id": {
        "label": "Phone number ID",
        "description": "ID of the WhatsApp Business phone number that sends (WhatsApp Manager > API "
        "Setup); not the phone number itself. Required.",
        "schema": {"type": ["string", "null"], "pattern": r"^\d*$"},
    },
    "app_secret": _APP_SECRET,
    "verify_token": _VERIFY_TOKEN,
    "timeout": _TIMEOUT,
}

WHATSAPP_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": _HIDDEN,
    "relabeling": {"host": "Graph API base URL", "password": "Access token"},
    "placeholders": {
        "host": "https://graph.facebook.com",
        "password": "System-user or business access token with whatsapp_business_messaging",
        "api_version": "v25.0",
        "phone_number_id": "106540352242922",
        "app_secret": "Meta app secret (for appsecret_proof and webhook signatures)",
        "verify_token": "Any string; the same one goes into the Meta dashboard",
        "timeout": "30",
    },
}
