"""Typed answers through the real webhook app: what is recorded, and what the reviewer is told."""

from __future__ import annotations

import itertools
import json

import pytest

from airflow_provider_instagram_hil.store import Delivery, RecipientSpec, RequestStatus
from airflow_provider_instagram_hil.typed_answers import request_code

from .webhook_support import IG_OTHER_REVIEWER, IG_REVIEWER, STRANGER, post_signed

_mids = itertools.count()


def typed(text: str, sender: str = IG_REVIEWER, mid: str | None = None) -> bytes:
    message = {"mid": mid or f"m.typed.{next(_mids)}", "text": text}
    event = {"sender": {"id": sender}, "recipient": {"id": "1784"}, "timestamp": 1, "message": message}
    return json.dumps(
        {"object": "instagram", "entry": [{"id": "1784", "time": 1, "messaging": [event]}]}
    ).encode()


@pytest.fixture
def ask(pending):
    """A pending request for the two Instagram reviewers (alice and bob) with ``subject``."""

    def _ask(subject: str = "Deploy v2", **overrides):
        return pending(
            subject=subject,
            recipients=[
                RecipientSpec(IG_REVIEWER, "instagram", "alice"),
                RecipientSpec(IG_OTHER_REVIEWER, "instagram", "bob"),
            ],
            **overrides,
        )

    return _ask


def replies(sender, drain) -> list[tuple[str, str]]:
    drain()
    return sender.sent


def prompted(hil_store, request) -> None:
    for recipient in request.recipients:
        hil_store.mark_prompt_sent(
            request.request_id, recipient.recipient_id, f"m.prompt.{recipient.recipient_id}"
        )


class TestOnePendingRequest:
    @pytest.mark.parametrize("text", ["approve", "  Approve! ", "✅ APPROVE", "1", "#1", "approve."])
    def test_a_typed_title_or_number_decides(self, client, hil_store, ask, sender, drain, text):
        request = ask()

        response = post_signed(client, typed(text))

        assert response.get_json()["recorded"] == 1
        decided = hil_store.get_request(request.request_id)
        assert (decided.status, decided.chosen_option, decided.responded_by) == (
            RequestStatus.DECIDED,
            "approve",
            IG_REVIEWER,
        )
        assert replies(sender, drain) == [(IG_REVIEWER, "✅ Recorded: approve. Thank you.")]

    def test_a_reason_after_the_option_is_kept(self, client, hil_store, ask):
        request = ask()

        post_signed(client, typed("reject: numbers look wrong"))

        (answer,) = hil_store.get_request(request.request_id).responses
        assert (answer.option, answer.reason, answer.source) == ("reject", "numbers look wrong", "instagram")

    def test_the_others_are_told_who_answered_what(self, client, hil_store, ask, sender, drain):
        request = ask()
        prompted(hil_store, request)

        post_signed(client, typed("2 - no"))

        assert sorted(replies(sender, drain)) == [
            (IG_REVIEWER, "✅ Recorded: reject. Thank you."),
            (IG_OTHER_REVIEWER, "'Deploy v2' was answered by alice: reject."),
        ]

    @pytest.mark.parametrize(
        ("text", "reply"),
        [
            ("thanks!", "To answer 'Deploy v2', reply with one of: 1 approve / 2 reject."),
            ("7", "There is no option 7. To answer 'Deploy v2', reply with one of: 1 approve / 2 reject."),
        ],
    )
    def test_an_unclear_message_gets_a_hint_and_records_nothing(
        self, client, hil_store, ask, sender, drain, text, reply
    ):
        request = ask()

        assert post_signed(client, typed(text)).get_json()["recorded"] == 0

        assert hil_store.get_request(request.request_id).status is RequestStatus.PENDING
        assert replies(sender, drain) == [(IG_REVIEWER, reply)]

    def test_an_answer_matching_two_options_is_refused(self, client, hil_store, ask, sender, drain):
        request = ask(options=["Ship it", "Ship it!"])

        post_signed(client, typed("ship it"))

        assert hil_store.get_request(request.request_id).responses == ()
        assert replies(sender, drain) == [
            (
                IG_REVIEWER,
                "\"ship it\" could be Ship it or Ship it!. To answer 'Deploy v2', reply with one of: "
                "1 Ship it / 2 Ship it!.",
            )
        ]

    def test_a_reason_over_the_limit_is_refused(self, client, hil_store, ask, sender, drain):
        request = ask()

        post_signed(client, typed("reject: " + "x" * 501))

        assert hil_store.get_request(request.request_id).responses == ()
        assert replies(sender, drain) == [
            (
                IG_REVIEWER,
                "Your reason has 501 characters; at most 500 are kept. Nothing was recorded: please send it "
                "shorter.",
            )
        ]

    def test_a_redelivered_unclear_message_is_answered_once(self, client, ask, sender, drain):
        ask()
        body = typed("hello?", mid="m.same")

        post_signed(client, body)
        post_signed(client, body)

        assert len(replies(sender, drain)) == 1

    def test_someone_without_a_pending_request_is_ignored(self, client, ask, sender, drain):
        ask()

        assert post_signed(client, typed("approve", sender=STRANGER)).get_json()["recorded"] == 0

        assert replies(sender, drain) == []


class TestSeveralPendingRequests:
    def test_an_unqualified_answer_asks_which_one_then_the_code_decides(
        self, client, hil_store, ask, sender, drain
    ):
        first, second = ask("Deploy v2"), ask("Load sales")
        one, two = request_code(first.request_id), request_code(second.request_id)

        post_signed(client, typed("approve"))

        assert replies(sender, drain) == [
            (
                IG_REVIEWER,
                f"Which one? Reply \"{one} approve\" for 'Deploy v2', or \"{two} approve\" for 'Load sales'.",
            )
        ]
        assert hil_store.get_request(first.request_id).responses == ()

        post_signed(client, typed(f"{two.lower()} reject: not today"))

        assert hil_store.get_request(first.request_id).status is RequestStatus.PENDING
        decided = hil_store.get_request(second.request_id)
        assert (decided.chosen_option, decided.responses[0].reason) == ("reject", "not today")

    def test_a_code_of_no_pending_request_is_named(self, client, hil_store, ask, sender, drain):
        first, second = ask("Deploy v2"), ask("Load sales")
        full = {request_code(first.request_id, 8), request_code(second.request_id, 8)}
        unknown = next(code for code in ("ZZZ", "YYY", "XXX") if not any(f.startswith(code) for f in full))

        post_signed(client, typed(f"{unknown} approve"))

        (reply,) = replies(sender, drain)
        assert reply[1].startswith(f"None of your open requests has the code {unknown}. Which one? Reply ")
        assert hil_store.get_request(first.request_id).responses == ()
        assert hil_store.get_request(second.request_id).responses == ()


class TestReasonRequired:
    def test_a_bare_reject_asks_for_a_reason(self, client, hil_store, ask, sender, drain):
        request = ask(reject_options=["reject"], require_reason=True)
        code = request_code(request.request_id)

        post_signed(client, typed("reject"))

        assert hil_store.get_request(request.request_id).responses == ()
        assert replies(sender, drain) == [
            (
                IG_REVIEWER,
                f"'Deploy v2' needs a reason for reject: reply \"{code} reject: <your reason>\". Nothing was "
                "recorded yet.",
            )
        ]

        post_signed(client, typed("reject: the numbers are off"))

        assert hil_store.get_request(request.request_id).chosen_option == "reject"


class TestKeptPrompts:
    """``on_window_closed="wait"``: a prompt Meta refused goes out once the reviewer writes."""

    def test_writing_releases_the_kept_prompt_and_answers_nothing(
        self, client, hil_store, ask, sender, drain
    ):
        request = ask()
        hil_store.hold_prompt(request.request_id, IG_REVIEWER, "Deploy v2?", "window closed")

        response = post_signed(client, typed("approve"))  # they cannot have seen the prompt yet

        assert response.get_json()["recorded"] == 0
        drain()
        assert sender.prompts == [(IG_REVIEWER, "Deploy v2?", request.request_id, ["approve", "reject"])]
        assert sender.sent == []
        kept = hil_store.get_request(request.request_id)
        assert kept.status is RequestStatus.PENDING
        (alice,) = [r for r in kept.recipients if r.recipient_id == IG_REVIEWER]
        assert (alice.delivery, alice.prompt_message_id) == (Delivery.SENT, "mid.prompt.1")

        post_signed(client, typed("approve"))  # now it is an answer

        assert hil_store.get_request(request.request_id).chosen_option == "approve"

    def test_another_reviewer_writing_releases_nothing(self, client, hil_store, ask, sender, drain):
        request = ask()
        prompted(hil_store, request)
        hil_store.hold_prompt(request.request_id, IG_REVIEWER, "Deploy v2?", "window closed")

        post_signed(client, typed("hello", sender=IG_OTHER_REVIEWER))  # bob has his prompt: a hint
        drain()

        assert sender.prompts == []
        assert [who for who, _ in sender.sent] == [IG_OTHER_REVIEWER]
        assert hil_store.outbox.counts() == {"held": 1, "sent": 1}
