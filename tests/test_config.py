"""``[instagram_hil]``: the store URL that applies, the store time limits (one set of defaults, read from
Airflow, refused when absurd), the public URL."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_instagram_hil import config, get_provider_info
from airflow_provider_instagram_hil.config import (
    STORE_TIMEOUT_OPTIONS,
    get_public_url,
    get_store_timeouts,
    get_store_url,
)
from airflow_provider_instagram_hil.store.engine import StoreTimeouts


class TestStoreTimeouts:
    def test_provider_info_documents_the_code_defaults(self):
        options = get_provider_info()["config"]["instagram_hil"]["options"]
        defaults = StoreTimeouts()
        for option, field in STORE_TIMEOUT_OPTIONS.items():
            assert float(options[option]["default"]) == getattr(defaults, field), option

    def test_defaults_answer_meta_well_within_5_seconds(self):
        defaults = StoreTimeouts()
        # A stalled server: a pooled connection's health check, or a statement already sent (+0.5 s grace).
        assert max(defaults.connect, defaults.statement + 0.5) + defaults.pool <= 4.0

    def test_read_from_airflow(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_STATEMENT_TIMEOUT", "1.25")
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_POOL_TIMEOUT", "0.5")
        assert get_store_timeouts() == StoreTimeouts(statement=1.25, pool=0.5)

    @pytest.mark.parametrize("value", ["0", "-1", "inf"])
    def test_non_positive_or_infinite_is_refused(self, monkeypatch, value):
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_LOCK_TIMEOUT", value)
        with pytest.raises(ValueError, match="lock"):
            get_store_timeouts()


PUBLIC_URL_ENV = "AIRFLOW__INSTAGRAM_HIL__PUBLIC_URL"


class TestGetPublicUrl:
    def test_unset(self, monkeypatch):
        monkeypatch.delenv(PUBLIC_URL_ENV, raising=False)
        assert get_public_url() is None

    def test_strips_trailing_slash(self, monkeypatch):
        monkeypatch.setenv(PUBLIC_URL_ENV, " http://127.0.0.1:8080/instagram-hil/ ")
        assert get_public_url() == "http://127.0.0.1:8080/instagram-hil"

    @pytest.mark.parametrize(
        "raw",
        ["airflow.example.com/instagram-hil", "ftp://x.example/p", "https://x.example/p?a=1", "https:///p"],
    )
    def test_unusable_value_warns_and_falls_back(self, monkeypatch, caplog, raw):
        monkeypatch.setenv(PUBLIC_URL_ENV, raw)
        with caplog.at_level(logging.WARNING, logger=config.__name__):
            assert get_public_url() is None
        assert "public_url must be an http(s) base URL" in caplog.text


class TestGetStoreUrl:
    def test_a_given_url_wins(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", "sqlite:////configured.db")
        assert get_store_url("sqlite:////given.db") == "sqlite:////given.db"

    def test_then_the_configured_one(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", " sqlite:////configured.db ")
        assert get_store_url(None) == "sqlite:////configured.db"

    def test_else_the_embedded_file_under_airflow_home(self, monkeypatch, tmp_path):
        monkeypatch.delenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", raising=False)
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
        assert get_store_url() == f"sqlite:///{tmp_path / 'instagram_hil.db'}"
