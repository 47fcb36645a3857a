"""The plugin mounts the webhook only when asked, where asked, and never breaks Airflow."""

from __future__ import annotations

import asyncio
import logging
import threading
from importlib.metadata import entry_points

import httpx
import pytest
from a2wsgi import WSGIMiddleware
from credentials import TEST_VERIFY_TOKEN
from fastapi import FastAPI
from flask import Flask
from sqlalchemy import event
from starlette.routing import Mount

import airflow_provider_instagram_hil.webhook as webhook_package
from airflow_provider_instagram_hil.config import (
    DEFAULT_URL_PREFIX,
    PluginConfigError,
    get_url_prefix,
    serve_in_api_server,
)
from airflow_provider_instagram_hil.plugins import instagram as plugin_module
from airflow_provider_instagram_hil.plugins.access_log import RedactQueryForAccessLog
from airflow_provider_instagram_hil.plugins.asgi import BufferedBody
from airflow_provider_instagram_hil.plugins.instagram import InstagramHilPlugin, build_fastapi_apps
from airflow_provider_instagram_hil.version_compat import AIRFLOW_V_3_2_PLUS, api_server_reserved_url_prefixes

FLAG_ENV = "AIRFLOW__INSTAGRAM_HIL__SERVE_IN_API_SERVER"
PREFIX_ENV = "AIRFLOW__INSTAGRAM_HIL__URL_PREFIX"


@pytest.fixture
def fake_create_app(monkeypatch):
    """Replace the webhook's app factory; return the list of apps it built."""
    built: list[Flask] = []

    def _create_app(test_config=None):
        app = Flask("fake_webhook")
        built.append(app)
        return app

    monkeypatch.setattr(webhook_package, "create_app", _create_app, raising=False)
    return built


class TestServeInApiServer:
    def test_off_by_default(self, monkeypatch):
        monkeypatch.delenv(FLAG_ENV, raising=False)
        assert serve_in_api_server() is False

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            pytest.param("True", True, id="True"),
            pytest.param("true", True, id="lower-true"),
            pytest.param("1", True, id="one"),
            pytest.param("False", False, id="False"),
            pytest.param("0", False, id="zero"),
            pytest.param("", False, id="empty"),
        ],
    )
    def test_reads_boolean(self, monkeypatch, raw, expected):
        monkeypatch.setenv(FLAG_ENV, raw)
        assert serve_in_api_server() is expected

    def test_rejects_non_boolean(self, monkeypatch):
        monkeypatch.setenv(FLAG_ENV, "sometimes")
        with pytest.raises(PluginConfigError, match="serve_in_api_server must be True or False"):
            serve_in_api_server()


class TestGetUrlPrefix:
    def test_default(self, monkeypatch):
        monkeypatch.delenv(PREFIX_ENV, raising=False)
        assert get_url_prefix() == DEFAULT_URL_PREFIX == "/instagram-hil"

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            pytest.param("/hooks/ig", "/hooks/ig", id="nested"),
            pytest.param("/ig/", "/ig", id="trailing-slash"),
            pytest.param(" /ig ", "/ig", id="whitespace"),
        ],
    )
    def test_accepts_paths(self, monkeypatch, raw, expected):
        monkeypatch.setenv(PREFIX_ENV, raw)
        assert get_url_prefix() == expected

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param("/", id="root-would-shadow-the-ui"),
            pytest.param("instagram-hil", id="relative"),
            pytest.param("/a b", id="space"),
            pytest.param("/ig/../api", id="dot-dot"),
            pytest.param("https://example.com/ig", id="url"),
        ],
    )
    def test_rejects_non_paths(self, monkeypatch, raw):
        monkeypatch.setenv(PREFIX_ENV, raw)
        with pytest.raises(PluginConfigError, match="absolute path"):
            get_url_prefix()

    @pytest.mark.parametrize("raw", ["/api/v2/ig", "/ui", "/execution/x", "/auth", "/pluginsv2", "/static"])
    def test_rejects_reserved(self, monkeypatch, raw):
        monkeypatch.setenv(PREFIX_ENV, raw)
        with pytest.raises(PluginConfigError, match="uses; pick another"):
            get_url_prefix()

    @pytest.mark.parametrize("raw", ["/uiwebhooks", "/authority", "/executions", "/pluginsv2x"])
    def test_rejects_what_airflow_refuses_by_text(self, monkeypatch, raw):
        # Airflow compares url_prefix.startswith(reserved) on the text, with its own list (which grew
        # between 3.1 and 3.3): what that list refuses is refused here too, the rest is accepted.
        monkeypatch.setenv(PREFIX_ENV, raw)
        if any(raw.startswith(reserved) for reserved in api_server_reserved_url_prefixes()):
            with pytest.raises(PluginConfigError, match="refuses to mount plugin apps"):
                get_url_prefix()
        else:
            assert get_url_prefix() == raw

    @pytest.mark.parametrize(
        "raw",
        [
            "/instagram-hil",
            "/hooks/instagram",
            "/u",
            "/apix",
            "/x/ui",
            "/uiwebhooks",
            "/authority",
            "/api/v2x",
            "/docs",
        ],
    )
    def test_agrees_with_the_api_server(self, monkeypatch, raw):
        """Whatever get_url_prefix accepts, Airflow's own init_plugins mounts (checked on its code)."""
        from airflow import plugins_manager
        from airflow.api_fastapi.app import init_plugins
        from fastapi import FastAPI
        from starlette.routing import Mount

        monkeypatch.setenv(PREFIX_ENV, raw)
        try:
            prefix = get_url_prefix()
        except PluginConfigError:
            return  # refused here; Airflow may or may not refuse it, nothing is claimed mounted
        subapp = FastAPI()
        apps = [{"app": subapp, "url_prefix": prefix, "name": "instagram_hil"}]
        if hasattr(plugins_manager, "get_fastapi_plugins"):  # Airflow 3.2+
            monkeypatch.setattr(plugins_manager, "get_fastapi_plugins", lambda: (apps, []))
        else:  # Airflow 3.1: module globals filled by initialize_fastapi_plugins()
            monkeypatch.setattr(plugins_manager, "initialize_fastapi_plugins", lambda: None)
            monkeypatch.setattr(plugins_manager, "fastapi_apps", apps)
            monkeypatch.setattr(plugins_manager, "fastapi_root_middlewares", [])
        app = FastAPI()
        init_plugins(app)
        assert [r.path for r in app.routes if isinstance(r, Mount) and r.app is subapp] == [prefix]


class TestBuildFastapiApps:
    def test_mounts_nothing_by_default(self, monkeypatch, fake_create_app):
        monkeypatch.delenv(FLAG_ENV, raising=False)
        assert build_fastapi_apps() == []
        assert fake_create_app == [], "the webhook app must not even be built"

    def test_mounts_app_at_prefix_when_enabled(self, monkeypatch, fake_create_app):
        monkeypatch.setenv(FLAG_ENV, "True")
        monkeypatch.delenv(PREFIX_ENV, raising=False)
        (mounted,) = build_fastapi_apps()
        assert mounted["url_prefix"] == "/instagram-hil"
        assert mounted["name"] == "instagram_hil"
        # A FastAPI app: the API server runs its lifespan, whose end releases the webhook's resources.
        assert isinstance(mounted["app"], FastAPI)
        (inner,) = [route.app for route in mounted["app"].routes if isinstance(route, Mount)]
        assert isinstance(inner, RedactQueryForAccessLog)  # verify token kept out of access logs
        assert isinstance(inner.app, BufferedBody)  # bodies read before the bridge's threads
        assert isinstance(inner.app.app, WSGIMiddleware)  # then the WSGI bridge
        assert len(fake_create_app) == 1

    def test_custom_prefix(self, monkeypatch, fake_create_app):
        monkeypatch.setenv(FLAG_ENV, "True")
        monkeypatch.setenv(PREFIX_ENV, "/hooks/instagram/")
        (mounted,) = build_fastapi_apps()
        assert mounted["url_prefix"] == "/hooks/instagram"

    @pytest.mark.parametrize(
        ("env", "message"),
        [
            pytest.param({FLAG_ENV: "maybe"}, "serve_in_api_server must be", id="bad-flag"),
            pytest.param({FLAG_ENV: "True", PREFIX_ENV: "/api/v2"}, "url_prefix", id="reserved-prefix"),
        ],
    )
    def test_bad_config_logs_and_mounts_nothing(self, monkeypatch, caplog, fake_create_app, env, message):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with caplog.at_level(logging.ERROR, logger=plugin_module.__name__):
            assert build_fastapi_apps() == []
        assert message in caplog.text
        assert fake_create_app == []

    def test_failing_app_factory_logs_and_mounts_nothing(self, monkeypatch, caplog):
        def _broken(test_config=None):
            raise RuntimeError("connection 'instagram_default' has no app_secret")

        monkeypatch.setenv(FLAG_ENV, "True")
        monkeypatch.setattr(webhook_package, "create_app", _broken, raising=False)
        with caplog.at_level(logging.ERROR, logger=plugin_module.__name__):
            assert build_fastapi_apps() == []
        assert "not mounted" in caplog.text
        assert "has no app_secret" in caplog.text
        assert "restart the API server" in caplog.text


class TestWithTheRealWebhook:
    def test_mounted_app_answers_the_handshake(self, monkeypatch, instagram_conn_env, sqlite_url):
        instagram_conn_env()
        monkeypatch.setenv(FLAG_ENV, "True")
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", sqlite_url)
        (mounted,) = build_fastapi_apps()

        params = {"hub.mode": "subscribe", "hub.verify_token": TEST_VERIFY_TOKEN, "hub.challenge": "42"}

        async def handshake() -> httpx.Response:
            transport = httpx.ASGITransport(app=mounted["app"])
            async with httpx.AsyncClient(transport=transport, base_url="http://airflow.test") as client:
                return await client.get("/webhooks/instagram", params=params)

        response = asyncio.run(handshake())
        assert response.status_code == 200
        assert response.text == "42"

    def test_api_server_shutdown_releases_the_store_and_every_thread(
        self, monkeypatch, instagram_conn_env, sqlite_url
    ):
        from airflow.api_fastapi.app import lifespan as api_server_lifespan

        instagram_conn_env()
        monkeypatch.setenv(FLAG_ENV, "True")
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", sqlite_url)
        built: list[Flask] = []
        real_create_app = webhook_package.create_app

        def create_app(test_config=None):
            built.append(real_create_app(test_config))
            return built[-1]

        monkeypatch.setattr(webhook_package, "create_app", create_app)
        before = set(threading.enumerate())
        (mounted,) = build_fastapi_apps()
        (app,) = built
        state = webhook_package.get_resources(app)
        assert state.sender is not None  # replies on: outbox threads run
        disposed = threading.Event()
        event.listen(state.store.engine, "engine_disposed", lambda engine: disposed.set())
        # Mounted as the API server mounts plugin apps, under the API server's own lifespan.
        api_server = FastAPI(lifespan=api_server_lifespan)
        api_server.mount(mounted["url_prefix"], mounted["app"])
        params = {"hub.mode": "subscribe", "hub.verify_token": TEST_VERIFY_TOKEN, "hub.challenge": "7"}

        async def serve_then_stop() -> tuple[httpx.Response, set[str]]:
            async with api_server.router.lifespan_context(api_server):
                transport = httpx.ASGITransport(app=api_server)
                async with httpx.AsyncClient(transport=transport, base_url="http://airflow.test") as client:
                    response = await client.get("/instagram-hil/webhooks/instagram", params=params)
                serving = {t.name for t in set(threading.enumerate()) - before}
                assert not disposed.is_set()
            return response, serving

        response, serving = asyncio.run(serve_then_stop())
        assert (response.status_code, response.text) == (200, "7")
        assert any(name.startswith("instagram-hil-outbox-") for name in serving)
        assert any(name.startswith("WSGI") for name in serving)  # the bridge's request threads
        assert disposed.is_set()
        left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
        # The store's watchdog is one daemon per process, shared by every store: not the app's.
        assert [name for name in left if name != "ighil-store-watchdog"] == []

    def test_missing_connection_logs_and_mounts_nothing(self, monkeypatch, caplog, sqlite_url):
        monkeypatch.setenv(FLAG_ENV, "True")
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", sqlite_url)
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__CONN_ID", "instagram_absent")
        with caplog.at_level(logging.ERROR, logger=plugin_module.__name__):
            assert build_fastapi_apps() == []
        assert "instagram_absent" in caplog.text


class TestInstagramHilPlugin:
    def test_registered_through_the_airflow_plugins_entry_point(self):
        (entry_point,) = [ep for ep in entry_points(group="airflow.plugins") if ep.name == "instagram_hil"]
        assert entry_point.load() is InstagramHilPlugin

    def test_is_a_valid_airflow_plugin(self):
        from airflow import plugins_manager

        if not AIRFLOW_V_3_2_PLUS:
            # 3.1's check also asks "not loaded yet", against the loaded plugins: load them first.
            plugins_manager.ensure_plugins_loaded()
        assert plugins_manager.is_valid_plugin(InstagramHilPlugin)
        assert InstagramHilPlugin.name == "instagram_hil"

    def test_not_also_declared_in_provider_info(self):
        # Both would load it twice ("already registered") when lazy provider discovery is off.
        from airflow_provider_instagram_hil import get_provider_info

        assert "plugins" not in get_provider_info()

    def test_fastapi_apps_is_decided_on_first_read_and_kept(self, monkeypatch, fake_create_app):
        monkeypatch.setenv(FLAG_ENV, "True")
        plugin = InstagramHilPlugin()
        assert fake_create_app == [], "instantiating the plugin must not build the app"
        first = plugin.fastapi_apps
        assert plugin.fastapi_apps is first
        assert len(fake_create_app) == 1

    def test_registers_no_operator_links(self):
        # On Airflow 3 the API server rebuilds the link from its XCom key; a plugin-registered link
        # would make the API server run get_link(), which can only read XCom inside a task.
        assert InstagramHilPlugin().operator_extra_links == []
        assert InstagramHilPlugin().global_operator_extra_links == []
