"""``[instagram_hil]`` store time limits: one set of defaults, read from Airflow, refused when absurd."""

from __future__ import annotations

import pytest

from airflow_provider_instagram_hil import get_provider_info
from airflow_provider_instagram_hil.config import STORE_TIMEOUT_OPTIONS, get_store_timeouts
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
