"""Provider metadata: valid against Airflow's schemas and discovered by the installed Airflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_instagram_hil import (
    CONN_FIELDS,
    PACKAGE_NAME,
    UI_FIELD_BEHAVIOUR,
    __version__,
    get_provider_info,
)
from airflow_provider_instagram_hil.hooks.instagram import InstagramHook
from airflow_provider_instagram_hil.hooks.messenger import MessengerHook
from airflow_provider_instagram_hil.hooks.whatsapp import WhatsAppHook
from airflow_provider_instagram_hil.version_compat import AIRFLOW_V_3_2_PLUS

AIRFLOW_DIR = Path(airflow.__file__).parent
HOOK_CLASS = "airflow_provider_instagram_hil.hooks.instagram.InstagramHook"


def load_schema(name: str) -> dict:
    return json.loads((AIRFLOW_DIR / name).read_text())


#: Run in a fresh interpreter, as in the API server: on Airflow 3.1 the service loads hooks under its own
#: stand-ins for wtforms, which only works if nothing loaded them before in the same process.
HOOK_META_SCRIPT = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
[meta] = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "instagram"]
print("HOOK_META=" + json.dumps(meta.model_dump(mode="json")))
"""


@pytest.fixture(scope="module")
def connection_form(tmp_path_factory) -> dict:
    """What ``GET /ui/connections/hook_meta`` gives the connection form for the Instagram type."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp_path_factory.mktemp("hook-meta-home"))
    result = subprocess.run(
        [sys.executable, "-c", HOOK_META_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("HOOK_META=")]
    return json.loads(line.removeprefix("HOOK_META="))


@pytest.fixture(scope="module")
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


class TestProviderInfo:
    def test_valid_against_provider_info_schema(self):
        jsonschema.validate(get_provider_info(), load_schema("provider_info.schema.json"))

    def test_connection_type_valid_against_provider_yaml_schema(self):
        """``provider_info.schema.json`` only accepts conn-fields; the yaml schema says what they may hold."""
        schema = load_schema("provider.yaml.schema.json")["properties"]["connection-types"]
        jsonschema.validate(get_provider_info()["connection-types"], schema)

    def test_connection_type_matches_the_hook(self):
        [conn_type] = [
            c for c in get_provider_info()["connection-types"] if c["connection-type"] == "instagram"
        ]
        assert conn_type["connection-type"] == InstagramHook.conn_type
        assert conn_type["hook-name"] == InstagramHook.hook_name
        assert conn_type["hook-class-name"] == HOOK_CLASS
        assert conn_type["conn-fields"] == CONN_FIELDS
        assert conn_type["ui-field-behaviour"] == UI_FIELD_BEHAVIOUR

    @pytest.mark.parametrize(
        ("conn_type", "hook"),
        [
            pytest.param("messenger", MessengerHook, id="messenger"),
            pytest.param("whatsapp", WhatsAppHook, id="whatsapp"),
        ],
    )
    def test_channel_connection_types_match_their_hooks(self, conn_type, hook):
        [entry] = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type]
        assert hook.conn_type == conn_type
        assert entry["hook-name"] == hook.hook_name
        assert entry["hook-class-name"] == f"{hook.__module__}.{hook.__name__}"
        assert entry["conn-fields"] is hook.conn_fields
        assert entry["ui-field-behaviour"] is hook.ui_field_behaviour
        secrets = {
            name for name, spec in hook.conn_fields.items() if spec["schema"].get("format") == "password"
        }
        assert secrets == {"app_secret", "verify_token"}
        assert hook.account_field in hook.conn_fields

    def test_every_extra_the_hook_reads_has_a_form_field(self):
        assert set(CONN_FIELDS) == {"api_version", "account_id", "app_secret", "verify_token", "timeout"}
        assert {"app_secret", "verify_token"} == {
            name for name, spec in CONN_FIELDS.items() if spec["schema"].get("format") == "password"
        }

    def test_identity(self):
        info = get_provider_info()
        assert info["package-name"] == PACKAGE_NAME == "airflow-provider-instagram-hil"
        assert info["versions"][0] == __version__


class TestProviderDiscovery:
    def test_provider_is_listed(self, providers_manager):
        assert PACKAGE_NAME in providers_manager.providers
        assert providers_manager.providers[PACKAGE_NAME].version == __version__

    @pytest.mark.parametrize(
        ("conn_type", "hook"),
        [
            pytest.param("messenger", MessengerHook, id="messenger"),
            pytest.param("whatsapp", WhatsAppHook, id="whatsapp"),
        ],
    )
    def test_channel_connection_types_map_to_their_hooks(self, providers_manager, conn_type, hook):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hook_info = providers_manager.hooks[conn_type]
        assert hook_info is not None
        assert hook_info.hook_class_name == f"{hook.__module__}.{hook.__name__}"
        assert hook_info.connection_id_attribute_name == hook.conn_name_attr
        assert hook_info.connection_testable is True

    def test_instagram_connection_type_maps_to_the_hook(self, providers_manager):
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # ProvidersManager.hooks is deprecated in favour of the task SDK's
            hook_info = providers_manager.hooks["instagram"]
        assert hook_info is not None
        assert hook_info.hook_class_name == HOOK_CLASS
        assert hook_info.connection_id_attribute_name == "instagram_conn_id"
        assert hook_info.package_name == PACKAGE_NAME
        assert hook_info.connection_testable is True

    def test_field_behaviour_reaches_the_connection_form(self, connection_form):
        fields = connection_form["standard_fields"]
        assert fields["host"]["title"] == UI_FIELD_BEHAVIOUR["relabeling"]["host"]
        assert fields["password"]["title"] == UI_FIELD_BEHAVIOUR["relabeling"]["password"]
        for hidden in ("login", "port"):
            assert fields[hidden]["hidden"] is True
        assert fields["host"]["placeholder"] == UI_FIELD_BEHAVIOUR["placeholders"]["host"]

    @pytest.mark.parametrize("field", sorted(CONN_FIELDS))
    def test_conn_fields_reach_the_connection_form(self, connection_form, field):
        schema = connection_form["extra_fields"][field]["schema"]
        assert schema["title"] == CONN_FIELDS[field]["label"]
        assert schema.get("format") == CONN_FIELDS[field]["schema"].get("format")

    def test_declarative_conn_fields_are_read_from_airflow_3_2(self, connection_form):
        """From 3.2 the form is built from ``conn-fields`` (whole JSON schema, ``pattern`` included);
        Airflow 3.1 ignores them and shows what InstagramHook.get_connection_form_widgets() declares."""
        api_version = connection_form["extra_fields"]["api_version"]["schema"]
        declared = CONN_FIELDS["api_version"]["schema"]["pattern"]
        assert (api_version.get("pattern") == declared) is AIRFLOW_V_3_2_PLUS

    @pytest.mark.parametrize(
        ("field", "sensitive"), [(name, "secret" in name or "token" in name) for name in CONN_FIELDS]
    )
    def test_conn_fields_are_registered(self, providers_manager, field, sensitive):
        widgets = providers_manager.connection_form_widgets
        if not AIRFLOW_V_3_2_PLUS:
            # Airflow 3.1 registers extras only from wtforms widgets, and wtforms is not installed: the
            # API server stubs it for the form (test_conn_fields_reach_the_connection_form).
            assert f"extra__instagram__{field}" not in widgets
            return
        widget = widgets[f"extra__instagram__{field}"]
        assert widget.hook_class_name == HOOK_CLASS
        assert widget.field["schema"]["title"] == CONN_FIELDS[field]["label"]
        assert widget.is_sensitive is sensitive

    def test_airflow_providers_list_shows_the_package(self, tmp_path):
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        env["AIRFLOW_HOME"] = str(tmp_path)
        env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        airflow_bin = Path(sys.executable).with_name("airflow")
        result = subprocess.run(
            [str(airflow_bin), "providers", "list", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        start = result.stdout.index("[")
        listed = {p["package_name"]: p["version"] for p in json.loads(result.stdout[start:])}
        assert listed.get(PACKAGE_NAME) == __version__
