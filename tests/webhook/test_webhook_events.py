"""events.parse_body: Meta's shapes into taps, and nothing else, whatever the types inside."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_instagram_hil.option_titles import is_option_title
from airflow_provider_instagram_hil.webhook.events import (
    MAX_TYPED_CHARS,
    Ignored,
    PayloadError,
    Tap,
    TextMessage,
    parse_body,
    parse_payload,
)

from .webhook_support import (
    IG_OTHER_REVIEWER,
    IG_REVIEWER,
    PAGE_REVIEWER,
    QUICK_REPLY_MID,
    WA_REVIEWER,
    load_payload,
    post_signed,
)

RID = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


def _reasons(events):
    return [
        event.reason if isinstance(event, Ignored) else "typed" if isinstance(event, TextMessage) else "tap"
        for event in events
    ]


class TestFixtures:
    @pytest.mark.parametrize(
        ("fixture", "expected"),
        [
            pytest.param(
                "instagram_quick_reply",
                Tap("instagram", IG_REVIEWER, RID, "approve", QUICK_REPLY_MID, "quick_reply"),
                id="quick-reply",
            ),
            pytest.param(
                "messenger_page_quick_reply",
                Tap(
                    "messenger",
                    PAGE_REVIEWER,
                    RID,
                    "approve",
                    "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
                    "quick_reply",
                ),
                id="messenger",
            ),
            pytest.param(
                "whatsapp_button_reply",
                Tap(
                    "whatsapp",
                    WA_REVIEWER,
                    RID,
                    "approve",
                    "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                    "button_reply",
                ),
                id="whatsapp",
            ),
            pytest.param(
                "instagram_changes_postback",
                Tap(
                    "instagram",
                    IG_REVIEWER,
                    RID,
                    "reject",
                    f"postback:{IG_REVIEWER}:1793534485362",
                    "postback",
                ),
                id="changes-postback-without-mid",
            ),
        ],
    )
    def test_taps(self, fixture, expected):
        assert parse_body(load_payload(fixture, RID)) == [expected]

    @pytest.mark.parametrize(
        ("fixture", "reasons"),
        [
            ("instagram_echo", ["echo"]),
            ("instagram_read", ["read"]),
            ("instagram_reaction", ["reaction"]),
            ("instagram_deleted", ["deleted"]),
            ("instagram_text", ["typed"]),
            ("instagram_attachment", ["attachment"]),
            ("instagram_foreign_payload", ["foreign_payload"]),
            ("dashboard_test_sample", ["typed"]),
            ("instagram_standby", ["tap"]),
            ("instagram_postback", ["tap"]),
            ("instagram_batched", ["read", "tap", "tap"]),
        ],
    )
    def test_reasons(self, fixture, reasons):
        assert _reasons(parse_body(load_payload(fixture, RID, OTHER))) == reasons

    def test_batched_taps_keep_their_own_request_and_sender(self):
        taps = [e for e in parse_body(load_payload("instagram_batched", RID, OTHER)) if isinstance(e, Tap)]

        assert [(t.request_id, t.option, t.sender_id) for t in taps] == [
            (RID, "approve", IG_REVIEWER),
            (OTHER, "reject", IG_OTHER_REVIEWER),
        ]


def _messaging(event) -> dict:
    return {"object": "instagram", "entry": [{"id": "1", "messaging": [event]}]}


TAP_PAYLOAD = f"ighil1:{RID}:approve"


class TestOddValues:
    @pytest.mark.parametrize(
        ("event", "reason"),
        [
            pytest.param("a string", "malformed", id="event-string"),
            pytest.param(None, "malformed", id="event-null"),
            pytest.param({}, "unsupported", id="event-empty"),
            pytest.param(
                {"sender": {"id": ["x"]}, "message": {"quick_reply": {"payload": TAP_PAYLOAD}}},
                "no_sender",
                id="sender-id-list",
            ),
            pytest.param(
                {"sender": "123", "message": {"quick_reply": {"payload": TAP_PAYLOAD}}},
                "no_sender",
                id="sender-string",
            ),
            pytest.param(
                {"sender": {"id": True}, "message": {"quick_reply": {"payload": TAP_PAYLOAD}}},
                "no_sender",
                id="sender-id-bool",
            ),
            pytest.param(
                {"sender": {"id": "1\x002"}, "message": {"quick_reply": {"payload": TAP_PAYLOAD}}},
                "no_sender",
                id="sender-id-nul",
            ),
            pytest.param(
                {"sender": {"id": "9" * 65}, "message": {"quick_reply": {"payload": TAP_PAYLOAD}}},
                "no_sender",
                id="sender-id-too-long",
            ),
            pytest.param(
                {"sender": {"id": "1"}, "message": {"quick_reply": {"payload": {"a": 1}}}},
                "foreign_payload",
                id="payload-object",
            ),
            pytest.param(
                {"sender": {"id": "1"}, "message": {"quick_reply": {}}},
                "foreign_payload",
                id="payload-missing",
            ),
            pytest.param(
                {"sender": {"id": "1"}, "message": {"quick_reply": {"payload": "ighil1:\x00:approve"}}},
                "malformed",
                id="request-id-nul",
            ),
            pytest.param(
                {"sender": {"id": "1"}, "message": {"quick_reply": {"payload": "ighil1:\ud800:ok"}}},
                "malformed",
                id="request-id-surrogate",
            ),
            pytest.param(
                {"sender": {"id": "1"}, "message": {"quick_reply": {"payload": "ighil1:abc:"}}},
                "foreign_payload",
                id="no-option",
            ),
            pytest.param(
                {"sender": {"id": "1"}, "message": {"quick_reply": ["payload"]}},
                "text",
                id="quick-reply-list",
            ),
            pytest.param({"sender": {"id": "1"}, "message": "approve"}, "unsupported", id="message-string"),
            pytest.param(
                {"sender": {"id": "1"}, "message": {"is_echo": "yes", "quick_reply": {}}},
                "echo",
                id="echo-truthy-string",
            ),
            pytest.param(
                {"sender": {"id": "1"}, "postback": {"payload": None}, "timestamp": True},
                "foreign_payload",
                id="postback-null-payload",
            ),
            pytest.param({"sender": {"id": "1"}, "postback": "x"}, "unsupported", id="postback-string"),
            pytest.param({"read": None}, "read", id="read-null"),
            pytest.param({"reaction": [1, 2]}, "reaction", id="reaction-list"),
        ],
    )
    def test_messaging_events(self, event, reason):
        assert _reasons(parse_payload(_messaging(event))) == [reason]

    def test_numeric_sender_id_and_mid_types(self):
        event = {
            "sender": {"id": 17841400000000001},
            "message": {"mid": 42, "quick_reply": {"payload": TAP_PAYLOAD}},
        }

        [tap] = parse_payload(_messaging(event))

        assert tap == Tap("instagram", "17841400000000001", RID, "approve", None, "quick_reply")

    def test_oversized_or_unprintable_mid_is_hashed(self):
        event = {
            "sender": {"id": "1"},
            "message": {"mid": "m\n" * 300, "quick_reply": {"payload": TAP_PAYLOAD}},
        }

        [tap] = parse_payload(_messaging(event))

        assert tap.mid.startswith("sha256:")
        assert len(tap.mid) == 71

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param("x", id="change-string"),
            pytest.param({"field": "messages"}, id="no-value"),
            pytest.param({"field": ["messages"], "value": {}}, id="field-list"),
            pytest.param({"field": "feed", "value": {"sender": {"id": "1"}}}, id="other-field"),
            pytest.param(
                {"field": "messages", "value": {"messages": ["x", None, {"interactive": 5}]}},
                id="whatsapp-odd-messages",
            ),
            pytest.param(
                {"field": "messages", "value": {"messages": [{"interactive": {"button_reply": "x"}}]}},
                id="whatsapp-reply-string",
            ),
        ],
    )
    def test_changes(self, change):
        payload = {"object": "whatsapp_business_account", "entry": [{"changes": [change]}]}

        events = parse_payload(payload)

        assert events
        assert all(isinstance(event, Ignored) for event in events)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
KEYS = st.sampled_from(
    [
        "sender",
        "recipient",
        "id",
        "message",
        "postback",
        "quick_reply",
        "payload",
        "mid",
        "is_echo",
        "read",
        "is_deleted",
        "attachments",
        "timestamp",
        "messaging",
        "standby",
        "changes",
        "field",
        "value",
        "messages",
        "from",
        "interactive",
        "button_reply",
        "button",
        "type",
        "entry",
        "object",
    ]
)
LEAVES = (
    JSON_SCALARS
    | st.sampled_from(["instagram", "page", "whatsapp_business_account", "messages", "messaging_postbacks"])
    | st.builds(lambda rid, opt: f"ighil1:{rid}:{opt}", st.text(max_size=6), st.text(max_size=6))
)
META_LIKE = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)


class TestFuzz:
    @settings(max_examples=300, deadline=None)
    @given(JSON_VALUES)
    def test_any_json_parses_or_is_a_payload_error(self, value):
        try:
            events = parse_payload(value)
        except PayloadError:
            return
        assert all(isinstance(event, (Tap, TextMessage, Ignored)) for event in events)

    @settings(max_examples=200, deadline=None)
    @given(
        st.sampled_from(["instagram", "page", "whatsapp_business_account"]),
        st.lists(st.dictionaries(KEYS, META_LIKE, max_size=5), max_size=3),
    )
    def test_meta_like_envelopes(self, kind, entries):
        try:
            events = parse_payload({"object": kind, "entry": entries})
        except PayloadError:
            return
        for event in events:
            if isinstance(event, Tap):
                for text in (event.sender_id, event.request_id):
                    assert isinstance(text, str)
                    assert text.isprintable()
                    assert 0 < len(text) <= 64
                assert is_option_title(event.option)
                assert event.mid is None or (event.mid.isprintable() and len(event.mid) <= 255)

    @settings(max_examples=300, deadline=None)
    @given(
        st.sampled_from(
            [
                "instagram_quick_reply",
                "instagram_postback",
                "instagram_batched",
                "whatsapp_button_reply",
                "instagram_changes_postback",
                "messenger_page_quick_reply",
            ]
        ),
        st.data(),
    )
    def test_documented_shapes_with_one_value_replaced(self, fixture, data):
        payload = json.loads(load_payload(fixture, RID, OTHER))
        paths = list(_paths(payload))
        path = data.draw(st.sampled_from(paths))
        _replace(payload, path, data.draw(JSON_VALUES))

        try:
            events = parse_payload(payload)
        except PayloadError:
            return
        assert all(isinstance(event, (Tap, TextMessage, Ignored)) for event in events)

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=300))
    def test_any_bytes(self, body):
        with contextlib.suppress(PayloadError):
            parse_body(body)


def _paths(value, prefix=()):
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _replace(value, path, new):
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


@pytest.fixture
def store_url(sqlite_url):
    return sqlite_url


class TestEndpointFuzz:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        st.sampled_from(["instagram", "page", "whatsapp_business_account", "other"]),
        st.lists(st.dictionaries(KEYS, META_LIKE, max_size=5), max_size=3),
    )
    def test_signed_fuzz_never_errors(self, client, kind, entries):
        body = json.dumps({"object": kind, "entry": entries}).encode()

        response = post_signed(client, body)

        assert response.status_code in (200, 400), response.get_data(as_text=True)
        assert response.is_json


class TestTypedText:
    def test_instagram_text_keeps_sender_text_and_mid(self):
        body = {
            "object": "instagram",
            "entry": [
                {"messaging": [{"sender": {"id": "42"}, "message": {"mid": "m.1", "text": " approve "}}]}
            ],
        }
        assert parse_payload(body) == [TextMessage("instagram", "42", " approve ", "m.1")]

    def test_whatsapp_text_body(self):
        message = {"from": "4915100000000", "id": "wamid.1", "type": "text", "text": {"body": "2"}}
        body = {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"field": "messages", "value": {"messages": [message]}}]}],
        }
        assert parse_payload(body) == [TextMessage("whatsapp", "4915100000000", "2", "wamid.1")]

    @pytest.mark.parametrize(
        "message",
        [{"text": "   "}, {"text": 7}, {"text": None}, {}],
        ids=["blank", "number", "null", "none"],
    )
    def test_no_usable_text_is_ignored(self, message):
        body = {"object": "page", "entry": [{"messaging": [{"sender": {"id": "42"}, "message": message}]}]}
        assert _reasons(parse_payload(body)) == ["text"]

    def test_long_text_is_cut_and_never_shown_in_repr(self):
        body = {
            "object": "page",
            "entry": [{"messaging": [{"sender": {"id": "42"}, "message": {"text": "s" * 9000}}]}],
        }
        (event,) = parse_payload(body)
        assert len(event.text) == MAX_TYPED_CHARS
        assert "sss" not in repr(event)
