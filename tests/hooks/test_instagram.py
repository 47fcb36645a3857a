"""InstagramHook against a mocked Graph API (requests-mock): settings, sends, retries, errors, secrets."""

from __future__ import annotations

import hashlib
import hmac
import logging
import sys
import types
from datetime import datetime, timezone

import pytest
import requests
import urllib3
from credentials import TEST_APP_SECRET, TEST_TOKEN, TEST_VERIFY_TOKEN

from airflow_provider_instagram_hil import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_instagram_hil.exceptions import (
    InstagramApiError,
    InvalidTokenError,
    MessagingWindowClosedError,
    RateLimitedError,
    RecipientUnavailableError,
)
from airflow_provider_instagram_hil.hooks import graph as hook_module
from airflow_provider_instagram_hil.hooks.instagram import InstagramHook

GRAPH = "https://graph.facebook.com/v25.0"
SEND_URL = f"{GRAPH}/me/messages"
ME_URL = f"{GRAPH}/me"
OK = {"json": {"recipient_id": "123", "message_id": "m_1"}}
PROOF = hmac.new(TEST_APP_SECRET.encode(), TEST_TOKEN.encode(), hashlib.sha256).hexdigest()


def graph_error(
    code: int, subcode: int | None = None, message: str = "Graph error", status: int = 400
) -> dict:
    error: dict = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AtraceX"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"status_code": status, "json": {"error": error}}


class FakeClock:
    """A monotonic clock that only moves when the hook sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_hook(instagram_conn_env, clock):
    """Build a hook on ``instagram_default`` whose sleeps and clock are fake and whose jitter is its cap."""

    def _make(conn: dict | None = None, **kwargs) -> InstagramHook:
        if conn is not None:
            instagram_conn_env(**conn)
        hook = InstagramHook(**kwargs)
        hook._sleep = clock.sleep  # type: ignore[method-assign]
        hook._clock = clock  # type: ignore[method-assign]
        hook._random.uniform = lambda a, b: b  # type: ignore[method-assign]
        return hook

    instagram_conn_env()
    return _make


def send(hook: InstagramHook, **kwargs) -> dict:
    return hook.send_message("123", "Deploy to prod?", **kwargs)


class TestConnectionSettings:
    def test_defaults(self, instagram_conn_env):
        instagram_conn_env(host="", extra={"api_version": None, "app_secret": "", "verify_token": None})
        hook = InstagramHook()
        assert hook.base_url == "https://graph.facebook.com"
        assert hook.api_version == "v25.0"
        assert hook.account_id == "me"
        assert hook.timeout == 30.0
        assert hook.app_secrets == []
        assert hook.verify_token is None
        assert hook.is_instagram_login is False

    def test_values_from_the_connection(self, instagram_conn_env):
        instagram_conn_env(
            host="https://graph.instagram.com/",
            extra={"api_version": "v26.0", "account_id": "17841400000000001", "timeout": "12.5"},
        )
        hook = InstagramHook()
        assert hook.base_url == "https://graph.instagram.com"
        assert hook.is_instagram_login is True
        assert (hook.api_version, hook.account_id, hook.timeout) == ("v26.0", "17841400000000001", 12.5)
        assert hook.app_secrets == [TEST_APP_SECRET]
        assert hook.verify_token == TEST_VERIFY_TOKEN

    def test_pasted_token_whitespace_is_ignored(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **OK)
        send(make_hook({"password": f" {TEST_TOKEN}\n"}))
        assert requests_mock.last_request.headers["Authorization"] == f"Bearer {TEST_TOKEN}"

    def test_argument_beats_extra_beats_default(self, instagram_conn_env):
        instagram_conn_env(extra={"timeout": 12})
        assert InstagramHook(timeout=3).timeout == 3.0
        assert InstagramHook().timeout == 12.0

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            pytest.param("new, old", ["new", "old"], id="comma-list-current-first"),
            pytest.param(" only ", ["only"], id="trimmed"),
            pytest.param("a,,b,", ["a", "b"], id="empty-items-dropped"),
            pytest.param(["x", "y"], ["x", "y"], id="json-list"),
        ],
    )
    def test_app_secret_rotation_list(self, instagram_conn_env, raw, expected):
        instagram_conn_env(extra={"app_secret": raw})
        assert InstagramHook().app_secrets == expected

    @pytest.mark.parametrize(
        ("host", "port", "expected"),
        [
            pytest.param("graph.facebook.com", None, "https://graph.facebook.com", id="no-scheme"),
            pytest.param("http://127.0.0.1", 8080, "http://127.0.0.1:8080", id="port-field"),
            pytest.param("http://127.0.0.1:9000/", None, "http://127.0.0.1:9000", id="trailing-slash"),
        ],
    )
    def test_host_forms(self, instagram_conn_env, host, port, expected):
        instagram_conn_env(host=host, port=port)
        assert InstagramHook().base_url == expected

    def test_connection_is_loaded_lazily(self, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_INSTAGRAM_MISSING", raising=False)
        hook = InstagramHook("instagram_missing")  # no error until the connection is needed
        assert hook.instagram_conn_id == "instagram_missing"
        with pytest.raises(Exception, match="instagram_missing"):
            _ = hook.base_url

    @pytest.mark.parametrize(
        ("extra", "field"),
        [
            pytest.param({"timeout": "soon"}, "timeout", id="timeout-not-a-number"),
            pytest.param({"timeout": 0}, "timeout", id="timeout-zero"),
            pytest.param({"timeout": -5}, "timeout", id="timeout-negative"),
            pytest.param({"timeout": True}, "timeout", id="timeout-bool"),
            pytest.param({"timeout": "inf"}, "timeout", id="timeout-infinite"),
            pytest.param({"timeout": "nan"}, "timeout", id="timeout-nan"),
            pytest.param({"api_version": "25"}, "api_version", id="api-version-without-v"),
            pytest.param({"api_version": "v25"}, "api_version", id="api-version-without-minor"),
            pytest.param({"account_id": "me/../x"}, "account_id", id="account-id-path"),
        ],
    )
    def test_bad_extras_name_the_field_without_secrets(self, instagram_conn_env, extra, field):
        instagram_conn_env(extra=extra)
        with pytest.raises(ValueError, match=f"'{field}'") as info:
            _ = InstagramHook().base_url
        for secret in (TEST_TOKEN, TEST_APP_SECRET, TEST_VERIFY_TOKEN):
            assert secret not in str(info.value)

    def test_bad_host_is_rejected(self, instagram_conn_env):
        instagram_conn_env(host="ftp://graph.facebook.com")
        with pytest.raises(ValueError, match="host"):
            _ = InstagramHook().base_url

    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"timeout": 0}, id="timeout"),
            pytest.param({"retry_deadline": -1}, id="deadline"),
            pytest.param({"max_attempts": 0}, id="attempts"),
        ],
    )
    def test_bad_arguments(self, kwargs):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            InstagramHook(**kwargs)

    def test_missing_token_fails_before_any_request(self, make_hook, requests_mock):
        hook = make_hook({"password": None})
        with pytest.raises(ValueError, match="no access token"):
            send(hook)
        assert requests_mock.call_count == 0


class TestUiMetadata:
    def test_field_behaviour_in_the_pre_3_2_shape(self):
        behaviour = InstagramHook.get_ui_field_behaviour()
        assert behaviour == {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }
        assert behaviour["relabeling"]["password"] == "Access token"

    def test_no_widgets_without_the_fab_ui_packages(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "wtforms", None)  # makes `import wtforms` raise ImportError
        assert InstagramHook.get_connection_form_widgets() == {}

    def test_widgets_follow_conn_fields(self, monkeypatch):
        class Field:
            def __init__(self, label, widget=None, description=None):
                self.label, self.widget, self.description = label, widget, description

        class StringField(Field):
            pass

        class PasswordField(Field):
            pass

        wtforms = types.ModuleType("wtforms")
        wtforms.StringField, wtforms.PasswordField = StringField, PasswordField  # type: ignore[attr-defined]
        fab = types.ModuleType("flask_appbuilder")
        widgets_module = types.ModuleType("flask_appbuilder.fieldwidgets")
        widgets_module.BS3TextFieldWidget = type("BS3TextFieldWidget", (), {})  # type: ignore[attr-defined]
        widgets_module.BS3PasswordFieldWidget = type("BS3PasswordFieldWidget", (), {})  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "wtforms", wtforms)
        monkeypatch.setitem(sys.modules, "flask_appbuilder", fab)
        monkeypatch.setitem(sys.modules, "flask_appbuilder.fieldwidgets", widgets_module)

        widgets = InstagramHook.get_connection_form_widgets()
        assert set(widgets) == set(CONN_FIELDS)
        assert isinstance(widgets["app_secret"], PasswordField)
        assert isinstance(widgets["verify_token"], PasswordField)
        assert type(widgets["api_version"]) is StringField
        assert widgets["timeout"].label == CONN_FIELDS["timeout"]["label"]


class TestSendMessage:
    def test_request_shape_and_answer(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **OK)
        replies = [{"content_type": "text", "title": "Yes", "payload": "ighil1:r1:Yes"}]
        answer = make_hook().send_message("123", "Deploy?", replies, messaging_type="UPDATE")
        assert answer == {"recipient_id": "123", "message_id": "m_1"}
        assert requests_mock.last_request.json() == {
            "recipient": {"id": "123"},
            "messaging_type": "UPDATE",
            "message": {"text": "Deploy?", "quick_replies": replies},
            "appsecret_proof": PROOF,
        }

    def test_no_quick_replies_key_without_quick_replies(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **OK)
        send(make_hook())
        assert requests_mock.last_request.json()["message"] == {"text": "Deploy to prod?"}
        assert requests_mock.last_request.json()["messaging_type"] == "RESPONSE"

    def test_token_in_the_header_only(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **OK)
        send(make_hook())
        request = requests_mock.last_request
        assert request.headers["Authorization"] == f"Bearer {TEST_TOKEN}"
        assert TEST_TOKEN not in request.url
        assert TEST_TOKEN not in request.body.decode()
        assert "access_token" not in request.url
        assert TEST_APP_SECRET not in request.url + request.body.decode()

    def test_account_id_goes_into_the_path(self, make_hook, requests_mock):
        requests_mock.post(f"{GRAPH}/17841400000000001/messages", **OK)
        send(make_hook({"extra": {"account_id": "17841400000000001"}}))
        assert requests_mock.call_count == 1

    @pytest.mark.parametrize(
        ("host", "extra", "expected"),
        [
            pytest.param("https://graph.facebook.com", {}, PROOF, id="facebook-login"),
            pytest.param(
                "https://graph.facebook.com",
                {"app_secret": f"{TEST_APP_SECRET},old"},
                PROOF,
                id="first-secret",
            ),
            pytest.param("https://graph.facebook.com", {"app_secret": ""}, None, id="no-app-secret"),
            pytest.param("https://graph.instagram.com", {}, None, id="instagram-login"),
            pytest.param("http://127.0.0.1:9999", {}, None, id="other-host"),
        ],
    )
    def test_appsecret_proof_only_for_graph_facebook_com(
        self, make_hook, requests_mock, host, extra, expected
    ):
        requests_mock.post(f"{host}/v25.0/me/messages", **OK)
        send(make_hook({"host": host, "extra": extra}))
        assert requests_mock.last_request.json().get("appsecret_proof") == expected
        assert "appsecret_proof" not in requests_mock.last_request.url  # URLs end up in DEBUG logs

    @pytest.mark.parametrize(
        ("host", "expected"),
        [
            pytest.param("https://graph.facebook.com", [PROOF], id="facebook-login"),
            pytest.param("https://graph.instagram.com", None, id="instagram-login"),
        ],
    )
    def test_appsecret_proof_on_get_goes_in_the_query(self, make_hook, requests_mock, host, expected):
        requests_mock.get(f"{host}/v25.0/me", json={"id": "1", "name": "n"})
        assert make_hook({"host": host}).test_connection()[0]
        assert requests_mock.last_request.qs.get("appsecret_proof") == expected

    @pytest.mark.parametrize(
        ("args", "kwargs", "match"),
        [
            pytest.param(("123", ""), {}, "non-empty", id="empty-text"),
            pytest.param(("123", "a" * 997 + "😀"), {}, "UTF-8 bytes", id="text-1001-bytes"),
            pytest.param(
                (
                    "123",
                    "hi",
                    [{"content_type": "text", "title": f"o{i}", "payload": "p"} for i in range(14)],
                ),
                {},
                "at most 13",
                id="fourteen-quick-replies",
            ),
            pytest.param(
                ("123", "hi", [{"content_type": "text", "title": "t" * 21, "payload": "p"}]),
                {},
                "21 characters",
                id="long-title",
            ),
            pytest.param(("", "hi"), {}, "IGSID", id="empty-recipient"),
            pytest.param(("@alice", "hi"), {}, "username", id="username-recipient"),
            pytest.param(
                ("123", "hi"), {"messaging_type": "MESSAGE_TAG"}, "messaging_type", id="messaging-type"
            ),
        ],
    )
    def test_invalid_messages_fail_before_any_request(self, make_hook, requests_mock, args, kwargs, match):
        requests_mock.post(SEND_URL, **OK)
        with pytest.raises(ValueError, match=match):
            make_hook().send_message(*args, **kwargs)
        assert requests_mock.call_count == 0

    def test_one_session_is_reused(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **OK)
        hook = make_hook()
        send(hook)
        session = hook.session
        send(hook)
        assert hook.get_conn() is session
        hook.close()
        assert "session" not in hook.__dict__


def button(title: str = "Yes", payload: str = "ighil1:r1:Yes", kind: str = "postback") -> dict:
    return {"type": kind, "title": title, "payload": payload}


class TestSendButtons:
    def test_request_shape_and_answer(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **OK)
        buttons = [button(), button("No", "ighil1:r1:No")]
        answer = make_hook().send_buttons("123", "Deploy?\nReply: Yes / No", buttons)
        assert answer == {"recipient_id": "123", "message_id": "m_1"}
        template = {"template_type": "button", "text": "Deploy?\nReply: Yes / No", "buttons": buttons}
        assert requests_mock.last_request.json() == {
            "recipient": {"id": "123"},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "template", "payload": template}},
            "appsecret_proof": PROOF,
        }
        assert requests_mock.last_request.headers["Authorization"] == f"Bearer {TEST_TOKEN}"

    def test_at_the_limits(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **OK)
        hook = make_hook()
        hook.send_buttons("123", "a" * 640, [button(f"{i}" * 20, "p" * 1000) for i in range(3)])
        hook.send_buttons("123", "é" * 500, [button()])  # 1000 bytes, 500 characters
        assert requests_mock.call_count == 2

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            pytest.param(("123", "", [button()]), "text must be a non-empty string", id="empty-text"),
            pytest.param(
                ("123", "a" * 641, [button()]),
                "text is 641 characters; a button template's text holds at most 640",
                id="641-characters",
            ),
            pytest.param(
                ("123", "é" * 500 + "a", [button()]),
                "text is 1001 UTF-8 bytes; a button template's text holds at most 1000",
                id="1001-bytes",
            ),
            pytest.param(("123", "hi", []), "1 to 3 buttons, got 0", id="no-buttons"),
            pytest.param(
                ("123", "hi", [button(str(i)) for i in range(4)]), "1 to 3 buttons, got 4", id="four"
            ),
            pytest.param(("123", "hi", [button("🇩🇪" * 6)]), "24 characters; at most 20", id="title-utf16"),
            pytest.param(("123", "hi", [button(payload="p" * 1001)]), "payload is 1001", id="long-payload"),
            pytest.param(("123", "hi", [button(kind="web_url")]), "postback button", id="url-button"),
            pytest.param(("", "hi", [button()]), "IGSID", id="empty-recipient"),
            pytest.param(("@alice", "hi", [button()]), "username", id="username-recipient"),
        ],
    )
    def test_invalid_templates_fail_before_any_request(self, make_hook, requests_mock, args, match):
        requests_mock.post(SEND_URL, **OK)
        with pytest.raises(ValueError, match=match):
            make_hook().send_buttons(*args)
        assert requests_mock.call_count == 0

    def test_graph_errors_are_typed(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **graph_error(10, 2534022, "Outside of allowed window"))
        with pytest.raises(MessagingWindowClosedError):
            make_hook().send_buttons("123", "hi", [button()])


class TestRetries:
    def test_server_error_then_success(self, make_hook, requests_mock, clock):
        requests_mock.post(SEND_URL, [graph_error(2, status=500), OK])
        assert send(make_hook())["message_id"] == "m_1"
        assert requests_mock.call_count == 2
        assert clock.sleeps == [InstagramHook.backoff_base]

    def test_backoff_doubles_up_to_the_cap_and_stops_at_max_attempts(
        self, make_hook, requests_mock, clock, monkeypatch
    ):
        monkeypatch.setattr(InstagramHook, "backoff_base", 1.0)
        monkeypatch.setattr(InstagramHook, "backoff_max", 5.0)
        requests_mock.post(SEND_URL, **graph_error(2, status=500))
        with pytest.raises(InstagramApiError, match="Gave up after 5 attempt"):
            send(make_hook(max_attempts=5, retry_deadline=100))
        assert requests_mock.call_count == 5
        assert clock.sleeps == [1.0, 2.0, 4.0, 5.0]

    def test_jitter_is_full_between_zero_and_the_cap(self, make_hook, requests_mock, clock):
        requests_mock.post(SEND_URL, **graph_error(2, status=500))
        hook = make_hook(max_attempts=4)
        seen: list[tuple[float, float]] = []

        def uniform(a: float, b: float) -> float:
            seen.append((a, b))
            return 0.0

        hook._random.uniform = uniform  # type: ignore[method-assign]
        with pytest.raises(InstagramApiError):
            send(hook)
        base = InstagramHook.backoff_base
        # tenacity may draw the wait once more before deciding to stop; the sleeps used the first three.
        assert seen[:3] == [(0, base), (0, base * 2), (0, base * 4)]
        assert clock.sleeps == [0.0, 0.0, 0.0]

    def test_retry_after_is_honoured(self, make_hook, requests_mock, clock):
        throttled = graph_error(613, status=429)
        throttled["headers"] = {"Retry-After": "7"}
        requests_mock.post(SEND_URL, [throttled, OK])
        send(make_hook(retry_deadline=60))
        assert clock.sleeps == [7.0]

    def test_no_sleep_past_the_deadline(self, make_hook, requests_mock, clock):
        throttled = graph_error(4)
        throttled["headers"] = {"Retry-After": "30"}
        requests_mock.post(SEND_URL, [throttled, OK])
        with pytest.raises(RateLimitedError, match="Gave up after 1 attempt") as info:
            send(make_hook(retry_deadline=10))
        assert clock.sleeps == []
        assert requests_mock.call_count == 1
        assert "throttling" in str(info.value)

    def test_deadline_bounds_the_total_time(self, make_hook, requests_mock, clock, monkeypatch):
        monkeypatch.setattr(InstagramHook, "backoff_base", 1.0)
        monkeypatch.setattr(InstagramHook, "backoff_max", 100.0)
        requests_mock.post(SEND_URL, **graph_error(2, status=503))
        with pytest.raises(InstagramApiError, match="Gave up after 3 attempt"):
            send(make_hook(max_attempts=10, retry_deadline=5))
        assert clock.sleeps == [1.0, 2.0]  # the next, 4 s, would end at 7 s > 5 s
        assert sum(clock.sleeps) <= 5

    @pytest.mark.parametrize("code", [4, 17, 32, 613])
    def test_throttling_codes_are_retried_then_rate_limited(self, make_hook, requests_mock, clock, code):
        requests_mock.post(SEND_URL, **graph_error(code))
        with pytest.raises(RateLimitedError) as info:
            send(make_hook(max_attempts=3))
        assert requests_mock.call_count == 3
        assert len(clock.sleeps) == 2
        assert info.value.code == code

    @pytest.mark.parametrize(
        "response",
        [
            pytest.param(graph_error(1, status=500), id="code-1"),
            pytest.param(graph_error(2, status=400), id="code-2"),
            pytest.param({"status_code": 503, "text": "unavailable"}, id="plain-503"),
            pytest.param({"status_code": 429, "text": "slow down"}, id="plain-429"),
            pytest.param({"exc": requests.exceptions.ConnectionError("refused")}, id="connection-error"),
            pytest.param({"exc": requests.exceptions.ConnectTimeout("connect")}, id="connect-timeout"),
            pytest.param({"exc": requests.exceptions.ChunkedEncodingError("cut")}, id="cut-body"),
        ],
    )
    def test_transient_failures_are_retried(self, make_hook, requests_mock, clock, response):
        requests_mock.post(SEND_URL, [response, OK])
        assert send(make_hook())["message_id"] == "m_1"
        assert requests_mock.call_count == 2
        assert len(clock.sleeps) == 1

    @pytest.mark.parametrize(
        ("response", "error_type"),
        [
            pytest.param(graph_error(190), InvalidTokenError, id="190-token"),
            pytest.param(graph_error(10, 2534022), MessagingWindowClosedError, id="10-window"),
            pytest.param(graph_error(10), InstagramApiError, id="10-permission"),
            pytest.param(graph_error(100), InstagramApiError, id="100-parameter"),
            pytest.param(graph_error(100, 2018001), RecipientUnavailableError, id="100-no-user"),
            pytest.param(graph_error(551, 1545041), RecipientUnavailableError, id="551-unavailable"),
            pytest.param(graph_error(200, 2534041), InstagramApiError, id="200-permission"),
            pytest.param(graph_error(368), InstagramApiError, id="other-4xx"),
            pytest.param(graph_error(190, status=500), InvalidTokenError, id="190-even-on-5xx"),
            pytest.param({"status_code": 404, "text": "not found"}, InstagramApiError, id="plain-404"),
        ],
    )
    def test_permanent_errors_are_not_retried(self, make_hook, requests_mock, clock, response, error_type):
        requests_mock.post(SEND_URL, **response)
        with pytest.raises(error_type):
            send(make_hook())
        assert requests_mock.call_count == 1
        assert clock.sleeps == []

    def test_maybe_sent_is_not_blindly_retried(self, make_hook, requests_mock, clock):
        requests_mock.post(SEND_URL, **graph_error(1, 1357046, status=500))
        with pytest.raises(InstagramApiError, match="may have been sent") as info:
            send(make_hook())
        assert requests_mock.call_count == 1
        assert clock.sleeps == []
        assert (info.value.code, info.value.subcode) == (1, 1357046)

    def test_read_timeout_on_send_is_retried_with_a_duplicate_warning(self, make_hook, requests_mock, capfd):
        requests_mock.post(SEND_URL, [{"exc": requests.exceptions.ReadTimeout("slow")}, OK])
        assert send(make_hook())["message_id"] == "m_1"
        assert requests_mock.call_count == 2
        assert "may receive this message twice" in capfd.readouterr().out

    def test_connect_timeout_has_no_duplicate_warning(self, make_hook, requests_mock, capfd):
        requests_mock.post(SEND_URL, [{"exc": requests.exceptions.ConnectTimeout("connect")}, OK])
        send(make_hook())
        assert "twice" not in capfd.readouterr().out

    def test_dropped_connection_on_send_is_retried_with_a_duplicate_warning(
        self, make_hook, requests_mock, capfd
    ):
        dropped = requests.exceptions.ConnectionError(
            urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
        )
        requests_mock.post(SEND_URL, [{"exc": dropped}, OK])
        assert send(make_hook())["message_id"] == "m_1"
        assert "may receive this message twice" in capfd.readouterr().out

    def test_refused_connection_has_no_duplicate_warning(self, make_hook, requests_mock, capfd):
        refused = requests.exceptions.ConnectionError(
            urllib3.exceptions.MaxRetryError(
                None, "/", urllib3.exceptions.NewConnectionError(None, "Connection refused")
            )
        )
        requests_mock.post(SEND_URL, [{"exc": refused}, OK])
        send(make_hook())
        assert "twice" not in capfd.readouterr().out

    def test_connection_error_after_retries(self, make_hook, requests_mock, clock):
        exc = requests.exceptions.ConnectionError(
            f"HTTPSConnectionPool: Max retries exceeded with url: /v25.0/me/messages?appsecret_proof={PROOF}"
        )
        requests_mock.post(SEND_URL, exc=exc)
        with pytest.raises(InstagramApiError, match="Could not reach the Graph API") as info:
            send(make_hook(max_attempts=3))
        assert requests_mock.call_count == 3
        assert "?" not in str(info.value)
        assert PROOF not in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__


class TestErrors:
    def test_window_closed_explains_the_24_hour_rule(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **graph_error(10, 2018278, "(#10) outside of allowed window"))
        with pytest.raises(MessagingWindowClosedError) as info:
            send(make_hook())
        text = str(info.value)
        assert "24 hours" in text
        assert "must send a message to the Instagram account first" in text
        assert "outside of allowed window" in text
        assert (info.value.code, info.value.subcode, info.value.status) == (10, 2018278, 400)
        assert info.value.fbtrace_id == "AtraceX"

    @pytest.mark.parametrize(
        "response",
        [
            pytest.param(graph_error(551), id="551"),
            pytest.param(graph_error(100, 2018001), id="100-2018001"),
            pytest.param(graph_error(100, 2534014), id="100-2534014"),
        ],
    )
    def test_recipient_unavailable_says_an_igsid_is_needed(self, make_hook, requests_mock, response):
        requests_mock.post(SEND_URL, **response)
        with pytest.raises(RecipientUnavailableError, match="IGSID"):
            send(make_hook())

    def test_invalid_token_says_to_renew_it(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **graph_error(190, 463, "Session has expired"))
        with pytest.raises(InvalidTokenError, match="renew it in the connection") as info:
            send(make_hook())
        assert "Session has expired" in str(info.value)

    def test_messages_disabled_by_the_account(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, **graph_error(200, 2534041))
        with pytest.raises(InstagramApiError, match="Allow access to messages"):
            send(make_hook())

    def test_non_json_error_body(self, make_hook, requests_mock):
        body = "<html><body><h1>502 Bad Gateway</h1>" + "x" * 500 + "</body></html>"
        requests_mock.post(SEND_URL, status_code=502, text=body, headers={"Content-Type": "text/html"})
        with pytest.raises(InstagramApiError) as info:
            send(make_hook(max_attempts=1))
        text = str(info.value)
        assert "HTTP 502" in text
        assert "502 Bad Gateway" in text
        assert "<" not in text
        assert len(text) < 500
        assert info.value.status == 502

    def test_non_json_success_body(self, make_hook, requests_mock):
        requests_mock.post(SEND_URL, status_code=200, text="<html>captive portal</html>")
        with pytest.raises(InstagramApiError, match="non-JSON body: captive portal"):
            send(make_hook())

    def test_echoed_secrets_are_redacted_from_error_text(self, make_hook, requests_mock):
        echo = f"bad token {TEST_TOKEN} with proof {PROOF} and secret {TEST_APP_SECRET}"
        requests_mock.post(SEND_URL, [graph_error(100, message=echo), {"status_code": 418, "text": echo}])
        hook = make_hook()
        for _ in range(2):
            with pytest.raises(InstagramApiError) as info:
                send(hook)
            for secret in (TEST_TOKEN, PROOF, TEST_APP_SECRET):
                assert secret not in str(info.value)
            assert "***" in str(info.value)

    @pytest.mark.parametrize("code", [pytest.param(100, id="final"), pytest.param(2, id="retried")])
    def test_every_echoed_field_is_redacted_and_kept_on_one_line(
        self, make_hook, requests_mock, caplog, code
    ):
        def echo(label: str) -> str:
            return f"{label} {TEST_TOKEN}\nINFO forged line {PROOF}\r{TEST_APP_SECRET}\x1b[31m"

        error = {
            "message": echo("message"),
            "error_user_title": echo("title"),
            "error_user_msg": echo("detail"),
            "fbtrace_id": echo("trace"),
            "type": "OAuthException",
            "code": code,
        }
        requests_mock.post(SEND_URL, status_code=400, json={"error": error})
        hook = make_hook(max_attempts=2)
        with caplog.at_level(logging.DEBUG), pytest.raises(InstagramApiError) as info:
            send(hook)
        shown = [str(info.value), repr(info.value), str(info.value.fbtrace_id), caplog.text]
        for text in shown:
            for secret in (TEST_TOKEN, PROOF, TEST_APP_SECRET):
                assert secret not in text
        for text in shown[:3]:
            assert "\n" not in text
            assert "\r" not in text
            assert "\x1b" not in text
        assert "title ***" in str(info.value)
        assert "detail ***" in str(info.value)
        assert not any(
            "forged line" in record.getMessage().split("\n", 1)[0][:0] for record in caplog.records
        )
        assert all("\n" not in record.getMessage() for record in caplog.records)


class TestSecrets:
    @pytest.fixture
    def unmasked(self, monkeypatch):
        """Turn Airflow's secrets masker off, so only the hook's own discipline keeps secrets out."""
        from airflow.sdk._shared.secrets_masker import secrets_masker

        secrets_masker._secrets_masker().reset_masker()
        monkeypatch.setattr(secrets_masker.SecretsMasker, "add_mask", lambda self, secret, name=None: None)
        yield
        secrets_masker._secrets_masker().reset_masker()

    def test_secrets_are_registered_with_the_masker(self, make_hook, requests_mock, monkeypatch):
        masked: list[str] = []
        monkeypatch.setattr(hook_module, "mask_secret", lambda value, name=None: masked.append(value))
        requests_mock.post(SEND_URL, **OK)
        send(make_hook({"extra": {"app_secret": f"{TEST_APP_SECRET}, previous-secret-9"}}))
        assert {TEST_TOKEN, TEST_APP_SECRET, "previous-secret-9", TEST_VERIFY_TOKEN, PROOF} <= set(masked)

    def test_no_secret_in_logs_errors_or_repr(self, make_hook, requests_mock, caplog, capfd, unmasked):
        hook = make_hook(max_attempts=2)
        hook.log.warning("canary %s", TEST_TOKEN)
        assert TEST_TOKEN in capfd.readouterr().out  # masking is really off and output is captured

        caplog.set_level("DEBUG")
        requests_mock.post(
            SEND_URL,
            [
                OK,
                graph_error(2, status=500),
                graph_error(190),
                {"exc": requests.exceptions.ReadTimeout()},
                OK,
            ],
        )
        errors = []
        send(hook)
        with pytest.raises(InstagramApiError) as first:
            send(hook)
        errors.append(first.value)
        send(hook)
        # GET /me carries appsecret_proof in its query (masked by Airflow in real runs): test it apart.
        requests_mock.get("https://graph.instagram.com/v25.0/me", **graph_error(190))
        ok, message = make_hook({"host": "https://graph.instagram.com"}).test_connection()
        assert not ok

        logged = capfd.readouterr()
        text = "\n".join([logged.out, logged.err, caplog.text, message, repr(hook), str(hook)])
        text += "".join(f"{e}{e!r}{e.message}" for e in errors)
        assert "Sent Instagram message m_1 to recipient 123" in logged.out
        assert "retrying" in logged.out
        for secret in (TEST_TOKEN, TEST_APP_SECRET, TEST_VERIFY_TOKEN, PROOF):
            assert secret not in text
        assert "Deploy to prod?" not in logged.out  # message text is never logged

    def test_repr_shows_the_connection_id_only(self, make_hook):
        hook = make_hook()
        _ = hook.base_url  # settings loaded
        assert repr(hook) == "InstagramHook(instagram_conn_id='instagram_default')"
        assert TEST_TOKEN not in repr(hook._settings)
        assert TEST_TOKEN not in repr(hook.session.auth)


US = "17841400000000000"


class TestCountSentSince:
    CONVERSATIONS_URL = f"{GRAPH}/me/conversations"
    SINCE = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)

    def _conversation(self, requests_mock, messages, conversation_id="aWdfZAG1faXRlbToxOkl"):
        requests_mock.get(
            self.CONVERSATIONS_URL, json={"data": [{"id": conversation_id, "updated_time": "x"}]}
        )
        requests_mock.get(
            f"{GRAPH}/{conversation_id}", json={"messages": {"data": messages}, "id": conversation_id}
        )

    def test_counts_our_messages_with_that_text_since_then(self, requests_mock, make_hook):
        self._conversation(
            requests_mock,
            [
                {
                    "message": "✅ Recorded",
                    "created_time": "2026-12-02T06:05:00+0000",
                    "from": {"id": "17841"},
                },
                {
                    "message": "✅ Recorded",
                    "created_time": "2026-12-02T05:59:59+0000",
                    "from": {"id": "17841"},
                },
                {"message": "✅ Recorded", "created_time": "2026-12-02T06:06:00+0000", "from": {"id": "123"}},
                {"message": "✅ Recorded", "created_time": "not a time", "from": {"id": "17841"}},
                {"message": "other", "created_time": "2026-12-02T06:07:00+0000", "from": {"id": "17841"}},
            ],
        )

        count = make_hook().count_sent_since("123", "✅ Recorded", self.SINCE, platform="messenger")

        # Only the first: too early, written by the reviewer, unreadable time, other text.
        assert count == 1
        first, second = requests_mock.request_history
        assert first.qs == {"platform": ["messenger"], "user_id": ["123"], "appsecret_proof": [PROOF]}
        assert second.qs["fields"] == ["messages{message,created_time,from}"]
        assert "access_token" not in first.url + second.url

    @pytest.mark.parametrize(
        "data", [pytest.param([], id="no-conversation"), pytest.param([{"id": "../me"}], id="odd-id")]
    )
    def test_no_usable_conversation_counts_nothing(self, requests_mock, make_hook, data):
        requests_mock.get(self.CONVERSATIONS_URL, json={"data": data})

        assert make_hook().count_sent_since("123", "hi", self.SINCE) == 0
        assert len(requests_mock.request_history) == 1

    def test_refusal_is_raised(self, requests_mock, make_hook):
        requests_mock.get(self.CONVERSATIONS_URL, **graph_error(10, None, "Requires pages_read_engagement"))

        with pytest.raises(InstagramApiError, match="pages_read_engagement"):
            make_hook().count_sent_since("123", "hi", self.SINCE)


class TestTestConnection:
    def test_success_names_the_account(self, make_hook, requests_mock):
        requests_mock.get(ME_URL, json={"id": "1784", "name": "Ops Bot"})
        assert make_hook().test_connection() == (
            True,
            "Connected to the Graph API v25.0 as Ops Bot (id 1784).",
        )
        request = requests_mock.last_request
        assert request.qs["fields"] == ["id,name"]
        assert request.headers["Authorization"] == f"Bearer {TEST_TOKEN}"

    def test_instagram_login_asks_for_the_username(self, make_hook, requests_mock):
        requests_mock.get("https://graph.instagram.com/v25.0/me", json={"id": "1", "username": "ops.bot"})
        ok, message = make_hook({"host": "https://graph.instagram.com"}).test_connection()
        assert ok
        assert "ops.bot" in message
        assert requests_mock.last_request.qs["fields"] == ["id,username"]

    @pytest.mark.parametrize(
        ("response", "expected"),
        [
            pytest.param(graph_error(190), "renew", id="expired-token"),
            pytest.param(graph_error(2, status=500), "HTTP 500", id="server-error-no-retry"),
            pytest.param(
                {"exc": requests.exceptions.ConnectionError("refused")}, "Could not reach", id="down"
            ),
        ],
    )
    def test_failure_is_reported_not_raised(self, make_hook, requests_mock, clock, response, expected):
        requests_mock.get(ME_URL, **response)
        ok, message = make_hook().test_connection()
        assert ok is False
        assert expected in message
        assert requests_mock.call_count == 1
        assert clock.sleeps == []

    def test_missing_connection_is_reported_not_raised(self, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
        ok, message = InstagramHook("nope").test_connection()
        assert ok is False
        assert "nope" in message

    def test_bad_extra_is_reported_not_raised(self, make_hook):
        ok, message = make_hook({"extra": {"timeout": "later"}}).test_connection()
        assert (ok, "'timeout'" in message) == (False, True)
