"""The connection forms of the ``messenger`` and ``whatsapp`` types, and how a hook shows its form.

Plain data in the shapes of Airflow's ``provider.yaml`` (``conn-fields``, ``ui-field-behaviour``); the
``instagram`` type's are ``CONN_FIELDS`` and ``UI_FIELD_BEHAVIOUR`` in the package root.
:class:`ConnectionFormMixin` turns a hook's ``conn_fields`` into the form Airflow before 3.2 asks for.
"""

from __future__ import annotations

from typing import Any, ClassVar

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


class ConnectionFormMixin:
    """A hook's connection form for the Airflow UI (Airflow < 3.2; newer versions read the provider info)."""

    #: The connection form of this hook's type: extras (``conn-fields``) and standard-field behaviour.
    conn_fields: ClassVar[dict[str, dict[str, Any]]] = {}
    ui_field_behaviour: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Airflow 3.1's ProvidersManager looks for the form methods in the hook class's own __dict__
        # only: each channel's hook carries them, or its connection form shows no fields.
        for name in ("get_ui_field_behaviour", "get_connection_form_widgets"):
            if name not in cls.__dict__:
                setattr(cls, name, classmethod(getattr(ConnectionFormMixin, name).__func__))

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel, hide and describe the standard connection form fields."""
        return {
            "hidden_fields": list(cls.ui_field_behaviour["hidden-fields"]),
            "relabeling": dict(cls.ui_field_behaviour["relabeling"]),
            "placeholders": dict(cls.ui_field_behaviour["placeholders"]),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Form widgets for the connection extras; empty when the FAB UI packages are absent."""
        try:
            from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
            from wtforms import PasswordField, StringField
        except ImportError:
            return {}
        widgets: dict[str, Any] = {}
        for name, spec in cls.conn_fields.items():
            if spec.get("schema", {}).get("format") == "password":
                widgets[name] = PasswordField(
                    spec["label"], widget=BS3PasswordFieldWidget(), description=spec.get("description")
                )
            else:
                widgets[name] = StringField(
                    spec["label"], widget=BS3TextFieldWidget(), description=spec.get("description")
                )
        return widgets
