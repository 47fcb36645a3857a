"""Human-in-the-loop approvals for Apache Airflow, answered from Instagram, Messenger or WhatsApp."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-instagram-hil"

#: Form fields stored in ``Connection.extra``; Airflow >= 3.2 reads them declaratively.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "api_version": {
        "label": "Graph API version",
        "description": "Graph API version used in request paths. Default: v25.0.",
        "schema": {"type": ["string", "null"], "pattern": r"^v\d+\.\d+$"},
    },
    "account_id": {
        "label": "Account ID",
        "description": "Page ID or Instagram professional account ID that sends the DMs. "
        "Default: me (the account the token belongs to).",
        "schema": {"type": ["string", "null"]},
    },
    "app_secret": {
        "label": "App secret",
        "description": "Meta app secret: signs appsecret_proof and verifies webhook signatures. "
        "Several secrets separated by commas are accepted during rotation.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "verify_token": {
        "label": "Webhook verify token",
        "description": "Any string you choose; type the same one into the Meta app dashboard "
        "when subscribing the webhook.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "description": "Read timeout of one Graph API call. Default: 30.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "login", "extra"],
    "relabeling": {"host": "Graph API base URL", "password": "Access token"},
    "placeholders": {
        "host": "https://graph.facebook.com, or https://graph.instagram.com for Instagram Login",
        "password": "Page access token, or Instagram user access token for Instagram Login",
        "api_version": "v25.0",
        "account_id": "me",
        "app_secret": "Meta app secret (for appsecret_proof and webhook signatures)",
        "verify_token": "Any string; the same one goes into the Meta dashboard",
        "timeout": "30",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow's ProvidersManager."""
    from airflow_provider_instagram_hil.connection_forms import (
        MESSENGER_CONN_FIELDS,
        MESSENGER_UI_FIELD_BEHAVIOUR,
        WHATSAPP_CONN_FIELDS,
        WHATSAPP_UI_FIELD_BEHAVIOUR,
    )

    return {
        "package-name": PACKAGE_NAME,
        "name": "Instagram Human-in-the-Loop",
        "description": "Approval steps for Airflow DAGs, answered from an Instagram DM.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Instagram",
                "external-doc-url": "https://developers.facebook.com/docs/instagram-platform",
                "tags": ["service"],
            },
            {
                "integration-name": "Messenger",
                "external-doc-url": "https://developers.facebook.com/docs/messenger-platform",
                "tags": ["service"],
            },
            {
                "integration-name": "WhatsApp",
                "external-doc-url": "https://developers.facebook.com/docs/whatsapp/cloud-api",
                "tags": ["service"],
            },
        ],
        "connection-types": [
            {
                "connection-type": "instagram",
                "hook-class-name": "airflow_provider_instagram_hil.hooks.instagram.InstagramHook",
                "hook-name": "Instagram",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            },
            {
                "connection-type": "messenger",
                "hook-class-name": "airflow_provider_instagram_hil.hooks.messenger.MessengerHook",
                "hook-name": "Messenger",
                "ui-field-behaviour": MESSENGER_UI_FIELD_BEHAVIOUR,
                "conn-fields": MESSENGER_CONN_FIELDS,
            },
            {
                "connection-type": "whatsapp",
                "hook-class-name": "airflow_provider_instagram_hil.hooks.whatsapp.WhatsAppHook",
                "hook-name": "WhatsApp",
                "ui-field-behaviour": WHATSAPP_UI_FIELD_BEHAVIOUR,
                "conn-fields": WHATSAPP_CONN_FIELDS,
            },
        ],
        "hooks": [
            {
                "integration-name": "Instagram",
                "python-modules": ["airflow_provider_instagram_hil.hooks.instagram"],
            },
            {
                "integration-name": "Messenger",
                "python-modules": ["airflow_provider_instagram_hil.hooks.messenger"],
            },
            {
                "integration-name": "WhatsApp",
                "python-modules": ["airflow_provider_instagram_hil.hooks.whatsapp"],
            },
        ],
        "operators": [
            {
                "integration-name": "Instagram",
                "python-modules": ["airflow_provider_instagram_hil.operators.instagram"],
            },
            {
                "integration-name": "Messenger",
                "python-modules": ["airflow_provider_instagram_hil.operators.messenger"],
            },
            {
                "integration-name": "WhatsApp",
                "python-modules": ["airflow_provider_instagram_hil.operators.whatsapp"],
            },
        ],
        "triggers": [
            {
                "integration-name": "Instagram",
                "python-modules": ["airflow_provider_instagram_hil.triggers.instagram"],
            }
        ],
        "notifications": [
            "airflow_provider_instagram_hil.notifications.instagram.InstagramNotifier",
            "airflow_provider_instagram_hil.notifications.hitl.InstagramHITLNotifier",
            "airflow_provider_instagram_hil.notifications.hitl.MessengerHITLNotifier",
            "airflow_provider_instagram_hil.notifications.hitl.WhatsAppHITLNotifier",
        ],
        "extra-links": [
            "airflow_provider_instagram_hil.links.instagram.InstagramRequestLink",
            "airflow_provider_instagram_hil.links.messenger.MessengerRequestLink",
            "airflow_provider_instagram_hil.links.whatsapp.WhatsAppRequestLink",
        ],
        "config": {
            "instagram_hil": {
                "description": "Instagram human-in-the-loop provider.",
                "options": {
                    "store_url": {
                        "description": "SQLAlchemy URL of the decision store. Empty means a SQLite file "
                        "instagram_hil.db under AIRFLOW_HOME. Use PostgreSQL when the webhook and the "
                        "triggerer run on different hosts.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "postgresql://airflow@db/airflow",
                        "default": "",
                    },
                    "conn_id": {
                        "description": "Connection the webhook reads app_secret and verify_token from.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": None,
                        "default": "instagram_default",
                    },
                    "messenger_conn_id": {
                        "description": "Messenger connection (type messenger) of the webhook: its app "
                        "secret(s) also verify signatures, its verify token also answers the handshake, and "
                        "replies to Messenger taps go through it. Empty: Messenger replies go through "
                        "conn_id (one Page token serves both).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "messenger_default",
                        "default": "",
                    },
                    "whatsapp_conn_id": {
                        "description": "WhatsApp connection (type whatsapp) of the webhook: its app "
                        "secret(s) also verify signatures, its verify token also answers the handshake, and "
                        "replies to WhatsApp taps go through it. Empty: WhatsApp taps are recorded but get "
                        "no reply.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "whatsapp_default",
                        "default": "",
                    },
                    "poll_interval": {
                        "description": "Seconds between two reads of the decision store by the trigger.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "2.0",
                    },
                    "store_connect_timeout": {
                        "description": "Seconds to open a connection to the decision store, and to check "
                        "a pooled one before use. PostgreSQL counts whole seconds, at least 2.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "2.0",
                    },
                    "store_statement_timeout": {
                        "description": "Seconds one statement, commit or rollback on the decision store may "
                        "take, enforced by the client even when the server stalls. With the other limits it "
                        "keeps the webhook's answer to Meta (5 s) in time: a sick store gets a 503. The "
                        "server cancels at this limit; the client gives up 0.5 s later.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "2.5",
                    },
                    "store_lock_timeout": {
                        "description": "Seconds a statement waits for a lock another transaction holds "
                        "(PostgreSQL lock_timeout, SQLite busy timeout).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "2.0",
                    },
                    "store_pool_timeout": {
                        "description": "Seconds to wait for a free connection of the process's pool.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "1.0",
                    },
                    "serve_in_api_server": {
                        "description": "Serve the webhook from Airflow's API server at "
                        "<url_prefix>/webhooks/instagram, as an unauthenticated plugin app guarded only by "
                        "Meta's signature. Off by default: no endpoint appears unless you ask for it. Read "
                        "when the API server starts.",
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "True",
                        "default": "False",
                    },
                    "url_prefix": {
                        "description": "Path under which the API server mounts the webhook app when "
                        "serve_in_api_server is on. Must not be inside /api, /ui, /execution, /auth, "
                        "/pluginsv2, /static, /docs or /redoc.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/hooks/instagram-hil",
                        "default": "/instagram-hil",
                    },
                    "body_read_timeout": {
                        "description": "Seconds a client has to send a whole request body to the webhook "
                        "mounted in the API server (serve_in_api_server); slower ones get 408. Bodies are "
                        "read before a request takes one of the webhook's threads, so slow clients cannot "
                        "hold them. Read when the API server starts.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "10.0",
                    },
                    "public_url": {
                        "description": "Public base URL of the webhook app (API server URL plus url_prefix, "
                        "or the standalone webhook's URL). When set, the task's 'Instagram request' link "
                        "opens <public_url>/requests/<request_id>, a status page; when empty, it opens the "
                        "Instagram inbox. Read where tasks run.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "https://airflow.example.com/instagram-hil",
                        "default": "",
                    },
                    "airflow_api_url": {
                        "description": "Base URL of Airflow's API server, where the webhook answers "
                        "Airflow's own human-in-the-loop tasks (InstagramHITLNotifier). Empty means "
                        "[api] base_url. Read where the webhook runs.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "http://airflow-api.internal:8080",
                        "default": "",
                    },
                    "airflow_api_conn_id": {
                        "description": "Optional connection (login and password of an Airflow account) "
                        "the webhook logs in with to answer human-in-the-loop tasks when it cannot sign a "
                        "token for the reviewer's own Airflow user (it does not share Airflow's JWT "
                        "secret). Airflow then records that account as the responder. Empty: sign tokens "
                        "for the reviewer's user.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "airflow_hitl_bridge",
                        "default": "",
                    },
                },
            }
        },
    }
