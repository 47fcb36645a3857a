"""Body size limit, malformed bodies and other requests: short JSON errors, never HTML."""

from __future__ import annotations

import io
import json

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from airflow_provider_instagram_hil.webhook import create_app, get_resources

from .webhook_support import WEBHOOK_PATH, post_signed, sign

LIMIT = 4096


@pytest.fixture
def store_url(sqlite_url):
    """These requests never reach the store: SQLite is enough."""
    return sqlite_url


@pytest.fixture
def small_app(app_config):
    app = create_app({**app_config, "INSTAGRAM_HIL_MAX_BODY_BYTES": LIMIT})
    yield app
    get_resources(app).close()


def _padded(size: int) -> bytes:
    """A valid, ignorable delivery of exactly ``size`` bytes."""
    head, tail = b'{"object": "instagram", "entry": [], "pad": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def _post_chunked(app, body: bytes, *, terminated: bool = True):
    """POST without Content-Length, as a server hands over a chunked body."""
    environ = EnvironBuilder(
        path=WEBHOOK_PATH,
        method="POST",
        input_stream=io.BytesIO(body),
        headers={"X-Hub-Signature-256": sign(body), "Transfer-Encoding": "chunked"},
    ).get_environ()
    environ.pop("CONTENT_LENGTH")
    environ["wsgi.input_terminated"] = terminated
    app_iter, status, _headers = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), b"".join(app_iter)


class TestBodyLimit:
    def test_default_limit_is_one_mebibyte(self, state):
        assert state.max_body_bytes == 1024 * 1024

    def test_exactly_the_limit_is_accepted(self, small_app):
        assert post_signed(small_app.test_client(), _padded(LIMIT)).status_code == 200

    def test_over_the_limit_by_content_length(self, small_app):
        response = post_signed(small_app.test_client(), _padded(LIMIT + 1))

        assert response.status_code == 413
        assert response.get_json() == {"error": "body too large"}

    def test_over_the_limit_chunked(self, small_app):
        status, body = _post_chunked(small_app, _padded(LIMIT * 3))

        assert status == 413
        assert json.loads(body) == {"error": "body too large"}

    def test_chunked_within_the_limit(self, small_app):
        status, _ = _post_chunked(small_app, _padded(LIMIT))

        assert status == 200

    def test_default_limit_refuses_two_mebibytes(self, client):
        response = post_signed(client, _padded(2 * 1024 * 1024))

        assert response.status_code == 413


class TestMalformedBodies:
    @pytest.mark.parametrize(
        ("body", "error"),
        [
            pytest.param(b"", "body is not valid JSON", id="empty"),
            pytest.param(b"{not json", "body is not valid JSON", id="broken"),
            pytest.param(b"\xff\xfe\x00garbage", "body is not valid JSON", id="binary"),
            pytest.param(b"[" * 50_000 + b"]" * 50_000, "body is not valid JSON", id="deeply-nested"),
            pytest.param(b'{"n": 1' + b"0" * 5000 + b"}", "body is not valid JSON", id="huge-integer"),
            pytest.param(b"[]", "body must be a JSON object", id="list"),
            pytest.param(b'"instagram"', "body must be a JSON object", id="string"),
            pytest.param(b"null", "body must be a JSON object", id="null"),
            pytest.param(b'{"object": "instagram"}', "entry must be a list", id="no-entry"),
            pytest.param(b'{"object": "instagram", "entry": {}}', "entry must be a list", id="entry-object"),
            pytest.param(
                b'{"object": "page", "entry": [1]}', "every entry must be an object", id="entry-number"
            ),
            pytest.param(
                b'{"object": "instagram", "entry": [{"messaging": {}}]}',
                "entry messaging must be a list",
                id="messaging-object",
            ),
            pytest.param(
                b'{"object": "whatsapp_business_account", "entry": [{"changes": "x"}]}',
                "entry changes must be a list",
                id="changes-string",
            ),
        ],
    )
    def test_bad_request(self, client, body, error):
        response = post_signed(client, body)

        assert response.status_code == 400
        assert response.get_json() == {"error": error}

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(b'{"object": "user", "entry": [{"changes": []}]}', id="unknown-object"),
            pytest.param(b'{"object": ["instagram"], "entry": 5}', id="object-not-a-string"),
            pytest.param(b'{"entry": []}', id="no-object"),
        ],
    )
    def test_unknown_object_is_acknowledged(self, client, body):
        response = post_signed(client, body)

        assert response.status_code == 200
        assert response.get_json()["recorded"] == 0


class TestOtherRequests:
    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            pytest.param("get", "/", 404, id="root"),
            pytest.param("get", "/webhooks/instagram/extra", 404, id="sub-path"),
            pytest.param("put", WEBHOOK_PATH, 405, id="put"),
            pytest.param("delete", WEBHOOK_PATH, 405, id="delete"),
        ],
    )
    def test_errors_are_short_json(self, client, method, path, status):
        response = getattr(client, method)(path)

        assert response.status_code == status
        assert response.is_json
        assert set(response.get_json()) == {"error"}
        assert b"<" not in response.data

    def test_unexpected_errors_are_short_json(self, app, client, monkeypatch, caplog):
        def explode(*_args, **_kwargs):
            raise RuntimeError("payload value that must not be logged")

        monkeypatch.setattr("airflow_provider_instagram_hil.webhook.blueprint.parse_body", explode)

        response = post_signed(client, b'{"object": "instagram", "entry": []}')

        assert response.status_code == 500
        assert response.get_json() == {"error": "internal error"}
        assert "must not be logged" not in caplog.text
        assert "Unhandled RuntimeError while answering POST /webhooks/instagram" in caplog.text
