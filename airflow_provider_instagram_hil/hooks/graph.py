"""``GraphApiHook``: the Graph API calls every channel's hook shares: connection, session, retries, errors.

One concept: calling Meta's Graph API well. The connection (token, host, version, account, secrets) is read
once and its secrets are registered with Airflow's masker; the token travels only in the ``Authorization``
header; calls are retried by :class:`~airflow_provider_instagram_hil.hooks.retries.RetryPolicy`
(exponential backoff and full jitter within ``max_attempts`` and ``retry_deadline``); error answers
become typed errors whose hints speak the channel's words. The channel
hooks (``InstagramHook``, ``MessengerHook``, ``WhatsAppHook``) add only their endpoints and limits.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_instagram_hil import PACKAGE_NAME, __version__
from airflow_provider_instagram_hil.connection_forms import ConnectionFormMixin
from airflow_provider_instagram_hil.exceptions import InstagramApiError
from airflow_provider_instagram_hil.hooks.connection_settings import (
    DEFAULT_ACCOUNT_ID,
    FACEBOOK_GRAPH_HOST,
    ConnectionSettings,
    app_secrets_of,
    parse_connection_settings,
)
from airflow_provider_instagram_hil.hooks.graph_errors import (
    INSTAGRAM_HINTS,
    ChannelRule,
    ErrorHints,
    body_excerpt,
    error_from_response,
    transport_failure,
)
from airflow_provider_instagram_hil.hooks.retries import RetryPolicy
from airflow_provider_instagram_hil.version_compat import BaseHook, mask_secret

if TYPE_CHECKING:
    from airflow_provider_instagram_hil.version_compat import Connection


class _BearerAuth(requests.auth.AuthBase):
    """Put the token in the ``Authorization`` header (never in URLs, which end up in logs)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


class GraphApiHook(ConnectionFormMixin, BaseHook):
    """Call Meta's Graph API with the token, host and settings of one Airflow connection.

    Failed calls are retried with exponential backoff and full jitter, within ``max_attempts`` and
    ``retry_deadline``: HTTP 5xx, connection errors, timeouts, throttling and transient errors, honouring
    ``Retry-After``. Meta has no idempotency key, so a read timeout on a send is retried too: the message
    may have been delivered already and the person may get it twice. A warning says so.

    The token travels only in the ``Authorization`` header. ``appsecret_proof`` is added for
    graph.facebook.com when an app secret is set: in the JSON body of POSTs (urllib3 logs request URLs at
    DEBUG) and in the query of GETs. Secrets are registered with Airflow's masker on load.

    :param conn_id: the Airflow connection to use.
    :param timeout: read timeout in seconds for one call; overrides the connection's ``timeout`` extra.
    :param retry_deadline: total seconds one call may spend including retries; no sleep goes past it.
    :param max_attempts: most attempts per call, the first one included.
    """

    conn_name_attr: ClassVar[str] = "graph_conn_id"
    hook_name: ClassVar[str] = "Graph API"
    #: What the user is told for errors every channel shares.
    error_hints: ClassVar[ErrorHints] = INSTAGRAM_HINTS
    #: The extra naming the sending account, and its default (None: required).
    account_field: ClassVar[str] = "account_id"
    default_account: ClassVar[str | None] = DEFAULT_ACCOUNT_ID
    #: Where the token comes from, said when the connection has none.
    token_hint: ClassVar[str] = "put the access token in its Password field"

    #: Full-jitter backoff: retry ``n`` sleeps ``uniform(0, min(backoff_max, backoff_base * 2**(n - 1)))``.
    backoff_base = 0.5
    backoff_max = 8.0
    connect_timeout = 5.0
    pool_maxsize = 10

    def __init__(
        self,
        conn_id: str,
        *,
        timeout: float | None = None,
        retry_deadline: float = 60.0,
        max_attempts: int = 5,
    ) -> None:
        super().__init__()
        if timeout is not None and not 0 < timeout < math.inf:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not retry_deadline >= 0:
            raise ValueError(f"retry_deadline must be zero or more seconds, got {retry_deadline!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        setattr(self, self.conn_name_attr, conn_id)
        self.retry_deadline = retry_deadline
        self.max_attempts = max_attempts
        self._timeout_arg = timeout
        self._random = random.Random()

    @property
    def graph_conn_id(self) -> str:
        """The connection id, whatever this hook's connection argument is called."""
        return str(getattr(self, self.conn_name_attr))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.conn_name_attr}={self.graph_conn_id!r})"

    # -- connection ---------------------------------------------------------------------------------

    @cached_property
    def connection(self) -> Connection:
        """The Airflow connection, fetched on first use; its secrets are registered for masking."""
        conn = self.get_connection(self.graph_conn_id)
        extra = conn.extra_dejson
        for secret in (conn.password, extra.get("verify_token"), *app_secrets_of(extra.get("app_secret"))):
            if isinstance(secret, str) and secret.strip():
                mask_secret(secret.strip())
        return conn

    @cached_property
    def _settings(self) -> ConnectionSettings:
        return parse_connection_settings(
            self.connection,
            self._timeout_arg,
            label=self.hook_name,
            account_field=self.account_field,
            default_account=self.default_account,
        )

    @property
    def base_url(self) -> str:
        """Graph API base URL without a trailing slash, e.g. ``https://graph.facebook.com``."""
        return self._settings.base_url

    @property
    def api_version(self) -> str:
        """Graph API version used in paths, e.g. ``v25.0``."""
        return self._settings.api_version

    @property
    def account_id(self) -> str:
        """The sending account (Page, Instagram account, WhatsApp phone number ID), or ``me``."""
        return self._settings.account_id

    @property
    def timeout(self) -> float:
        """Read timeout in seconds for one call."""
        return self._settings.timeout

    @property
    def app_secrets(self) -> list[str]:
        """App secrets, current first (several during rotation); empty when none is configured."""
        return list(self._settings.app_secrets)

    @property
    def verify_token(self) -> str | None:
        """The webhook verify token, or ``None``."""
        return self._settings.verify_token

    @cached_property
    def _appsecret_proof(self) -> str | None:
        """HMAC-SHA256 of the token keyed with the current app secret, for graph.facebook.com only."""
        settings = self._settings
        if not (settings.token and settings.app_secrets):
            return None
        if urlsplit(settings.base_url).hostname != FACEBOOK_GRAPH_HOST:
            return None
        proof = hmac.new(
            settings.app_secrets[0].encode(), settings.token.encode(), hashlib.sha256
        ).hexdigest()
        mask_secret(proof)
        return proof

    @cached_property
    def session(self) -> requests.Session:
        """One pooled HTTP session per hook, authenticating with the bearer token."""
        token = self._settings.token
        if not token:
            raise ValueError(
                f"{self.hook_name} connection {self.graph_conn_id!r} has no access token: {self.token_hint}"
            )
        session = requests.Session()
        adapter = HTTPAdapter(pool_maxsize=self.pool_maxsize, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = f"{PACKAGE_NAME}/{__version__}"
        # An explicit auth object also keeps requests from applying ~/.netrc credentials instead.
        session.auth = _BearerAuth(token)
        return session

    def get_conn(self) -> requests.Session:
        """Return the HTTP session used for Graph API calls."""
        return self.session

    def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if "session" in self.__dict__:
            self.__dict__.pop("session").close()

    # -- Graph API calls ----------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the token with ``GET /me``; return ``(ok, message)`` and never raise."""
        try:
            data = self._call("GET", "me", params={"fields": "id,name"}, max_attempts=1)
        except Exception as exc:
            return False, self._redact(f"{type(exc).__name__}: {exc}")
        name = data.get("name") or "unnamed account"
        return True, f"Connected to the Graph API {self.api_version} as {name} (id {data.get('id')})."

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        max_attempts: int | None = None,
    ) -> dict[str, Any]:
        """Call ``{base_url}/{api_version}/{path}`` with retries; return the JSON answer."""
        attempts = max_attempts or self.max_attempts
        label = f"{method} /{self.api_version}/{path}"
        url = f"{self.base_url}/{self.api_version}/{path}"
        query = dict(params or {})
        if self._appsecret_proof and json_body is not None:
            # In the body, not the URL: urllib3 logs request lines (with query strings) at DEBUG.
            json_body = {**json_body, "appsecret_proof": self._appsecret_proof}
        elif self._appsecret_proof:
            query["appsecret_proof"] = self._appsecret_proof
        policy = RetryPolicy(
            max_attempts=attempts,
            deadline=self.retry_deadline,
            backoff_base=self.backoff_base,
            backoff_max=self.backoff_max,
            rng=self._random,
            sleep=self._sleep,
            clock=self._clock,
            log=self.log,
        )
        return policy.call(lambda: self._attempt(method, url, label, query, json_body), label)

    def _attempt(
        self, method: str, url: str, label: str, params: dict[str, str], json_body: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Make one HTTP request; raise typed errors, or ``RetryableFailure`` for what may pass."""
        timeouts = (self.connect_timeout, self.timeout)
        try:
            response = self.session.request(method, url, params=params, json=json_body, timeout=timeouts)
        except requests.RequestException as exc:
            raise transport_failure(exc, method, url, label, timeouts) from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code < 400:
            if isinstance(payload, dict):
                return payload
            raise InstagramApiError(
                f"The Graph API answered {label} with a non-JSON body: "
                f"{body_excerpt(response.text, redact=self._redact)}",
                status=response.status_code,
            )
        raise self._error_from(response, payload)

    def _error_from(self, response: requests.Response, payload: Any) -> Exception:
        """This channel's typed error for an error answer (see :func:`error_from_response`)."""
        return error_from_response(
            response, payload, redact=self._redact, hints=self.error_hints, channel_rule=self._channel_rule()
        )

    def _channel_rule(self) -> ChannelRule | None:
        """Error codes only this channel has; None: the general rules only."""
        return None

    # -- small helpers ------------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _clock(self) -> float:
        return time.monotonic()

    def _redact(self, text: str) -> str:
        """Replace any secret of this connection that appears in ``text``."""
        settings = self.__dict__.get("_settings")
        if settings is not None:
            proof = self.__dict__.get("_appsecret_proof")
            for secret in (settings.token, *settings.app_secrets, settings.verify_token, proof):
                if secret:
                    text = text.replace(secret, "***")
        return text
