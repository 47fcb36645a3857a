"""Tokens for the bridge: a service account's login, cached; errors that name no secret."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_instagram_hil.exceptions import AirflowApiUnavailableError
from airflow_provider_instagram_hil.hitl.identity import service_account_tokens

API = "http://airflow.test:8080"
PASSWORD = "svc-password-5b1e"


def test_one_login_serves_every_user_until_it_is_renewed(requests_mock):
    login = requests_mock.post(f"{API}/auth/token", json={"access_token": "jwt-1"}, status_code=201)
    token_for = service_account_tokens(API, "svc", PASSWORD)

    assert token_for("alice") == token_for("bob") == "jwt-1"
    assert login.call_count == 1
    assert login.last_request.json() == {"username": "svc", "password": PASSWORD}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param({"status_code": 401}, "refused the bridge's login", id="refused"),
        pytest.param({"exc": requests.ConnectTimeout("slow")}, "could not be reached", id="unreachable"),
    ],
)
def test_a_failed_login_says_what_to_check_without_the_password(requests_mock, answer, message):
    requests_mock.post(f"{API}/auth/token", **answer)
    with pytest.raises(AirflowApiUnavailableError, match=message) as caught:
        service_account_tokens(API, "svc", PASSWORD)("alice")
    assert PASSWORD not in str(caught.value)
