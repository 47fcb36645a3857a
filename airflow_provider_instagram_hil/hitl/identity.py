"""Bearer tokens for Airflow's REST API: as the reviewer's own Airflow user, or as a service account.

The bridge answers Airflow's human-in-the-loop task as the Airflow user a reviewer stands for, so that
Airflow's record (``responded_by``) names that person and its ``assigned_users`` check applies to them.
:func:`user_tokens` signs a short-lived token for that user with Airflow's own auth manager and JWT
secret: that works in the API server (the webhook mounted there) and in a standalone webhook that shares
Airflow's configuration. Where that is not possible, :func:`service_account_tokens` logs in with an
Airflow API connection; Airflow then records that account, and only the provider's audit trail
(``instagram-hil requests show``) knows which reviewer it was.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from airflow_provider_instagram_hil.exceptions import AirflowApiUnavailableError, ResponseRefusedError
from airflow_provider_instagram_hil.hitl.bridge import TokenSource

#: Lifetime of a token signed for one answer.
USER_TOKEN_SECONDS = 60


def user_tokens(ttl: int = USER_TOKEN_SECONDS) -> TokenSource:
    """Tokens of the given Airflow user, signed by this process's Airflow auth manager."""

    def token_for(user_id: str) -> str:
        from airflow_provider_instagram_hil.version_compat import auth_manager

        manager = auth_manager()
        return str(manager.generate_jwt(_user(manager, user_id), expiration_time_in_seconds=ttl))

    return token_for


def _user(manager: Any, user_id: str) -> Any:
    """The auth manager's user object for ``user_id``.

    The simple auth manager keeps its users in Airflow's configuration; others (FAB, Keycloak, ...)
    rebuild a user from a token's subject.
    """
    get_users = getattr(manager, "get_users", None)
    if callable(get_users):
        for user in get_users():
            if isinstance(user, dict):  # Airflow 3.1: {"username": ..., "role": ...}
                if str(user.get("username")) == user_id:
                    return manager.deserialize_user({"sub": user_id, "role": user.get("role")})
            elif str(user.get_id()) == user_id:
                return user
        from airflow_provider_instagram_hil.config import all_users_are_admins

        if all_users_are_admins():
            return manager.deserialize_user({"sub": user_id, "role": "admin"})
        raise ResponseRefusedError(f"Airflow has no user {user_id!r}")
    return manager.deserialize_user({"sub": user_id})


def service_account_tokens(api_url: str, login: str, password: str, *, timeout: float = 5.0) -> TokenSource:
    """One service account's token for every user (``POST /auth/token``), renewed before it expires."""
    lock = threading.Lock()
    cached: dict[str, Any] = {}

    def token_for(_user_id: str) -> str:
        with lock:
            if cached.get("until", 0) > time.monotonic():
                return str(cached["token"])
            try:
                answer = requests.post(
                    f"{api_url.rstrip('/')}/auth/token",
                    json={"username": login, "password": password},
                    timeout=timeout,
                )
            except requests.RequestException as exc:
                raise AirflowApiUnavailableError(
                    f"Airflow's API at {api_url} could not be reached to log in ({type(exc).__name__})"
                ) from None
            if answer.status_code >= 400:
                raise AirflowApiUnavailableError(
                    f"Airflow's API at {api_url} refused the bridge's login (HTTP {answer.status_code}): "
                    "check the connection named by [instagram_hil] airflow_api_conn_id"
                )
            cached["token"] = answer.json()["access_token"]
            cached["until"] = time.monotonic() + 300  # well inside Airflow's default 24 h
            return str(cached["token"])

    return token_for
