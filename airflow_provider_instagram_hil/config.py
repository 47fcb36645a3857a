"""The ``[instagram_hil]`` configuration section, read through Airflow's config."""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_instagram_hil.version_compat import conf

SECTION = "instagram_hil"
DEFAULT_CONN_ID = "instagram_default"
DEFAULT_POLL_INTERVAL = 2.0
STORE_FILE_NAME = "instagram_hil.db"


def airflow_home() -> Path:
    """Return AIRFLOW_HOME as Airflow resolves it."""
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()


def get_store_url() -> str:
    """Return ``[instagram_hil] store_url``, or the embedded SQLite file under AIRFLOW_HOME."""
    url = conf.get(SECTION, "store_url", fallback="") or ""
    if url.strip():
        return url.strip()
    return f"sqlite:///{airflow_home() / STORE_FILE_NAME}"


def get_conn_id() -> str:
    """Return ``[instagram_hil] conn_id``: the connection the webhook reads its secrets from."""
    return (conf.get(SECTION, "conn_id", fallback="") or DEFAULT_CONN_ID).strip()


def get_poll_interval() -> float:
    """Return ``[instagram_hil] poll_interval`` in seconds."""
    value = conf.getfloat(SECTION, "poll_interval", fallback=DEFAULT_POLL_INTERVAL)
    if value <= 0:
        raise ValueError(f"[{SECTION}] poll_interval must be positive, got {value}")
    return value
