"""What Airflow's UI reads from get_provider_info(): form labels and fields, and the plugin's options."""

from __future__ import annotations

import json
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_instagram_hil import CONN_FIELDS, UI_FIELD_BEHAVIOUR, get_provider_info

AIRFLOW_DIR = Path(airflow.__file__).parent
STANDARD_FIELDS = {"description", "host", "port", "login", "password", "schema", "extra"}
#: Labels the connection form must show (tests/ui/test_connection_form_browser.py looks for them too).
EXPECTED_LABELS = {
    "host": "Graph API base URL",
    "password": "Access token",
    "api_version": "Graph API version",
    "app_secret": "App secret",
    "verify_token": "Webhook verify token",
}


def _schema(name: str) -> dict:
    return json.loads((AIRFLOW_DIR / name).read_text())


@pytest.fixture(scope="module")
def info() -> dict:
    return get_provider_info()


@pytest.fixture(scope="module")
def connection_type(info) -> dict:
    (conn_type,) = [c for c in info["connection-types"] if c["connection-type"] == "instagram"]
    return conn_type


class TestAgainstAirflowSchemas:
    """Whole-document validation is in tests/test_provider_info.py; these are the parts it does not cover."""

    @pytest.mark.parametrize("name", sorted(CONN_FIELDS))
    def test_conn_field_schema_is_a_valid_json_schema(self, name):
        jsonschema.Draft7Validator.check_schema(CONN_FIELDS[name]["schema"])

    def test_config_options_against_provider_yaml_schema(self, info):
        option_schema = _schema("provider.yaml.schema.json")["definitions"]["option"]
        for option in info["config"]["instagram_hil"]["options"].values():
            jsonschema.validate(option, option_schema)


class TestConnectionForm:
    def test_connection_type_uses_our_declarations(self, connection_type):
        assert connection_type["connection-type"] == "instagram"
        assert connection_type["hook-name"] == "Instagram"
        assert connection_type["conn-fields"] is CONN_FIELDS
        assert connection_type["ui-field-behaviour"] is UI_FIELD_BEHAVIOUR

    def test_expected_labels(self):
        labels = {**UI_FIELD_BEHAVIOUR["relabeling"], **{k: v["label"] for k, v in CONN_FIELDS.items()}}
        for field, label in EXPECTED_LABELS.items():
            assert labels.get(field) == label

    def test_relabelled_fields_are_shown(self):
        hidden = set(UI_FIELD_BEHAVIOUR["hidden-fields"])
        assert hidden <= STANDARD_FIELDS
        assert not hidden & set(UI_FIELD_BEHAVIOUR["relabeling"])

    def test_placeholders_name_real_fields(self):
        known = (STANDARD_FIELDS - set(UI_FIELD_BEHAVIOUR["hidden-fields"])) | set(CONN_FIELDS)
        assert set(UI_FIELD_BEHAVIOUR["placeholders"]) <= known

    @pytest.mark.parametrize("name", ["app_secret", "verify_token"])
    def test_secrets_render_as_passwords_and_have_masked_names(self, name):
        # format "password" hides the value in the form; the REST API masks by key name ("secret", "token").
        assert CONN_FIELDS[name]["schema"]["format"] == "password"
        assert "secret" in name or "token" in name

    def test_api_version_pattern(self):
        validator = jsonschema.Draft7Validator(CONN_FIELDS["api_version"]["schema"])
        assert validator.is_valid("v25.0")
        assert validator.is_valid(None)
        assert not validator.is_valid("25.0")


class TestPluginAndLinkOptions:
    @pytest.mark.parametrize(
        ("option", "default"),
        [
            pytest.param("serve_in_api_server", "False", id="serve_in_api_server"),
            pytest.param("url_prefix", "/instagram-hil", id="url_prefix"),
            pytest.param("public_url", "", id="public_url"),
        ],
    )
    def test_options_and_defaults(self, info, option, default):
        assert info["config"]["instagram_hil"]["options"][option]["default"] == default

    def test_extra_links_are_importable(self, info):
        from airflow_provider_instagram_hil.links.instagram import InstagramRequestLink
        from airflow_provider_instagram_hil.links.messenger import MessengerRequestLink
        from airflow_provider_instagram_hil.links.whatsapp import WhatsAppRequestLink

        found = []
        for class_path in info["extra-links"]:
            module, _, name = class_path.rpartition(".")
            found.append(getattr(__import__(module, fromlist=[name]), name))
        assert found == [InstagramRequestLink, MessengerRequestLink, WhatsAppRequestLink]
        assert [link.name for link in found] == ["Instagram request", "Messenger request", "WhatsApp request"]
