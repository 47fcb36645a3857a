"""Property-based fuzzing of the webhook: in-process (Flask test client) and over HTTP (the real server).

Whatever arrives, the answer is never a 5xx and no request is ever decided: the seeded pending requests
stay pending, and nobody is ever told "Recorded".
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings

from airflow_provider_instagram_hil.store import RequestStatus
from airflow_provider_instagram_hil.webhook import create_app, get_resources

from .fuzz_cases import LIMIT, FuzzCase, signature_header, validly_signed
from .fuzz_strategies import webhook_cases
from .support import FIGURES, register_requests, scaled

pytestmark = [pytest.mark.timeout(scaled(300, 3600))]

CLIENT_EXAMPLES = scaled(300, 6000)
HTTP_EXAMPLES = scaled(60, 800)
ROTATED_SECRET = "reliability-next-secret-5be1"
VERIFY_TOKEN = "reliability-verify-7c2e"
FUZZ_SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


class RecordingSender:
    """A ``send(channel, recipient_id, text)`` that keeps every reply."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, channel: str, recipient_id: str, text: str) -> str:
        with self._lock:
            self.sent.append((recipient_id, text))
        return "m"


@pytest.fixture(scope="module")
def seeded(backend_store) -> tuple[list[str], list[str]]:
    """Pending requests the fuzzer names in payloads, and their reviewers (never a fuzzed sender)."""
    made = register_requests(backend_store, 3)
    return [rid for rid, _ in made], sorted({who for _, recipients in made for who in recipients})


@pytest.fixture(scope="module")
def fuzz_app(backend, live_webhook) -> Iterator:
    sender = RecordingSender()
    app = create_app(
        {
            "TESTING": True,
            "INSTAGRAM_HIL_APP_SECRETS": [live_webhook.app_secret, ROTATED_SECRET],
            "INSTAGRAM_HIL_VERIFY_TOKEN": VERIFY_TOKEN,
            "INSTAGRAM_HIL_STORE_URL": backend.url,
            "INSTAGRAM_HIL_REPLY_SENDER": sender,
        }
    )
    app.extensions["reliability_sender"] = sender
    yield app
    get_resources(app).close()


def _expected(case: FuzzCase, status: int, body: bytes, verify_token: str) -> None:
    """What each kind of request must get; never a 5xx."""
    assert status < 500, (status, body[:200])
    if case.method == "POST":
        if len(case.body) > LIMIT:
            assert status == 413
        elif not validly_signed(case):
            assert status == 403
        else:
            assert status in (200, 400), (status, body[:200])
    elif case.method == "GET":
        params: dict[str, str] = {}
        for key, value in case.query:
            params.setdefault(key, value)  # Flask reads the first of repeated parameters
        good = params.get("hub.mode") == "subscribe" and params.get("hub.verify_token") == verify_token
        assert status == (200 if good and params.get("hub.challenge") else 400 if good else 403)
        if status == 200:
            assert body == params["hub.challenge"].encode()


def _nothing_decided(store, seeded_ids: list[str], replies: list[tuple[str, str]]) -> None:
    states = store.get_states(seeded_ids)
    assert {rid: s.status for rid, s in states.items()} == dict.fromkeys(seeded_ids, RequestStatus.PENDING)
    assert not [text for _who, text in replies if text.startswith("✅")]


class TestFuzzInProcess:
    def test_never_5xx_never_decides(self, fuzz_app, seeded, backend_store, backend):
        seeded_ids, reviewers = seeded
        scope = f"fuzz_client[{backend.name}]"
        sender = fuzz_app.extensions["reliability_sender"]
        state = get_resources(fuzz_app)
        client = fuzz_app.test_client()

        @settings(max_examples=CLIENT_EXAMPLES, **FUZZ_SETTINGS)
        @given(case=webhook_cases(seeded_ids, reviewers))
        def check(case: FuzzCase) -> None:
            secret = state.app_secrets[0]
            headers = {}
            signature = signature_header(case, secret, ROTATED_SECRET)
            if signature is not None:
                headers["X-Hub-Signature-256"] = signature
            query = list(case.query)
            if case.method == "GET" and case.signing == "valid":
                query.insert(0, ("hub.verify_token", VERIFY_TOKEN))  # the right token, sometimes
            response = client.open(
                "/webhooks/instagram",
                method=case.method,
                # A raw stream: with ``data=b""`` and a multipart type the test client would encode a form.
                input_stream=io.BytesIO(case.body),
                content_length=len(case.body),
                headers=headers,
                content_type=case.content_type,
                query_string=query,
            )
            FIGURES.add(scope, "cases")
            FIGURES.add(scope, f"http_{response.status_code}")
            _expected(
                FuzzCase(case.method, case.body, case.signing, case.content_type, False, tuple(query)),
                response.status_code,
                response.get_data(),
                VERIFY_TOKEN,
            )
            _nothing_decided(backend_store, seeded_ids, sender.sent)

        check()
        assert state.sender is not None
        assert state.sender.drain(timeout=30)
        _nothing_decided(backend_store, seeded_ids, sender.sent)
        refusals = [text for _who, text in sender.sent if text == "This request is not assigned to you."]
        assert refusals, "the fuzzer never got a forged tap past the signature check: widen the strategy"
        FIGURES.add(scope, "not_assigned_replies", len(refusals))


class TestFuzzOverHttp:
    def test_never_5xx_never_decides(self, live_webhook, seeded, backend_store, backend):
        seeded_ids, reviewers = seeded
        scope = f"fuzz_http[{backend.name}]"
        verify_token = live_webhook.stack.verify_token
        session = requests.Session()

        @settings(max_examples=HTTP_EXAMPLES, **FUZZ_SETTINGS)
        @given(case=webhook_cases(seeded_ids, reviewers))
        def check(case: FuzzCase) -> None:
            headers = {}
            signature = signature_header(case, live_webhook.app_secret, live_webhook.app_secret + "-old")
            if signature is not None:
                headers["X-Hub-Signature-256"] = signature
            if case.content_type is not None:
                headers["Content-Type"] = case.content_type
            query = list(case.query)
            if case.method == "GET" and case.signing == "valid":
                query.insert(0, ("hub.verify_token", verify_token))
            data = (
                iter([case.body[: len(case.body) // 2], case.body[len(case.body) // 2 :]])
                if case.chunked
                else case.body
            )
            response = session.request(
                case.method, live_webhook.url, params=query, data=data, headers=headers, timeout=30
            )
            FIGURES.add(scope, "cases")
            FIGURES.add(scope, f"http_{response.status_code}")
            signing = "wrong_secret" if case.signing == "rotated" else case.signing  # one secret here
            expected = FuzzCase(
                case.method, case.body, signing, case.content_type, case.chunked, tuple(query)
            )
            _expected(expected, response.status_code, response.content, verify_token)
            # The webhook is shared with other tests: the store is the oracle, replies only for our reviewers.
            replies = [
                (m["recipient_id"], m["text"])
                for m in live_webhook.graph.messages
                if m["recipient_id"] in reviewers
            ]
            _nothing_decided(backend_store, seeded_ids, replies)

        try:
            check()
        finally:
            session.close()

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param(
                b"POST /webhooks/instagram HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
                id="bad-length",
            ),
            pytest.param(
                b"POST /webhooks/instagram HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
                id="negative-length",
            ),
            pytest.param(
                b"POST /webhooks/instagram HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"zz\r\n{}\r\n0\r\n\r\n",
                id="bad-chunk",
            ),
            pytest.param(
                b"POST /webhooks/instagram HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}",
                id="short-body",
            ),
            pytest.param(b"GARBAGE\r\n\r\n", id="no-request-line"),
            pytest.param(b"POST /webhooks/instagram HTTP/1.1\r\nBad Header Line\r\n\r\n", id="bad-header"),
            pytest.param(
                b"POST /webhooks/instagram HTTP/1.1\r\nHost: x\r\n" + b"X-A: " + b"a" * 70_000 + b"\r\n\r\n",
                id="huge-header",
            ),
        ],
    )
    def test_broken_http_framing(self, live_webhook, raw, backend, figures):
        where = urlsplit(live_webhook.url)
        with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)  # a client that stops sending mid-request
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        if answer:
            status = int(answer.split(b" ", 2)[1])
            assert status < 500, answer[:200]
            figures(f"http_{status}", scope=f"fuzz_framing[{backend.name}]")
        # The server is still there and still checks signatures.
        assert requests.post(live_webhook.url, data=b"{}", timeout=10).status_code == 403
