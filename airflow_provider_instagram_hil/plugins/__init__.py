"""Airflow plugin of the provider: the webhook served from Airflow's API server (opt-in)."""

from __future__ import annotations
