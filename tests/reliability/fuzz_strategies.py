"""Hypothesis strategies for webhook requests: garbage, near-misses and hostile shapes of Meta deliveries.

Nothing generated here may decide a request: deciding-capable events always come from senders who are not
recipients, and events from the real reviewers are of kinds that never decide (echoes, deletions, text,
reads, wrong options, foreign prefixes) or travel without a valid signature.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st
from unicode_titles import any_title_candidates

from airflow_provider_instagram_hil.payloads import encode_payload

from .fuzz_cases import (
    ACCOUNT,
    BAD_BYTES,
    LIMIT,
    SIGNINGS,
    FuzzCase,
    corrupt,
    deep,
    encode,
    forged_tap,
    padded,
)
from .support import OPTIONS

CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/octet-stream",
    None,
)
OTHER_METHODS = ("GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
STRANGER_IDS = ("17841499999999999", "6299999999999999", "0", "-1", "1e16")


def junk_json() -> st.SearchStrategy:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=12,
    )


def webhook_cases(seeded: Sequence[str], reviewers: Sequence[str]) -> st.SearchStrategy[FuzzCase]:
    """Whole requests: method, body, signature variant, content type, framing, query."""
    junk = junk_json()
    ours = [encode_payload(rid, option) for rid in seeded for option in OPTIONS]
    payload = (
        st.sampled_from(ours)
        | st.builds(
            "ighil1:{}:{}".format, st.sampled_from(seeded) | st.text(max_size=70), st.text(max_size=30)
        )
        | junk
    )
    stranger = (st.text(max_size=24) | st.integers() | junk).filter(
        lambda v: not (isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) in reviewers)
    )
    sender = st.fixed_dictionaries({"id": stranger}) | junk

    def event(who: st.SearchStrategy) -> st.SearchStrategy:
        message = st.fixed_dictionaries(
            {},
            optional={
                "mid": st.text(max_size=300) | junk,
                "text": st.text(max_size=40) | payload,
                "quick_reply": st.fixed_dictionaries({}, optional={"payload": payload}) | junk,
                "is_echo": junk,
                "attachments": junk,
            },
        )
        postback = st.fixed_dictionaries({}, optional={"mid": st.text(max_size=40), "payload": payload})
        return st.fixed_dictionaries(
            {"sender": who, "recipient": st.just({"id": ACCOUNT}), "timestamp": st.integers(0, 2**64) | junk},
            optional={"message": message | junk, "postback": postback | junk, "read": junk, "reaction": junk},
        )

    whatsapp = st.fixed_dictionaries(
        {"from": stranger, "id": st.text(max_size=40)},
        optional={
            "interactive": st.fixed_dictionaries(
                {}, optional={"button_reply": st.fixed_dictionaries({"id": payload})}
            ),
            "button": st.fixed_dictionaries({"payload": payload}),
            "type": st.sampled_from(["interactive", "button", "text"]),
        },
    )
    change = st.fixed_dictionaries(
        {
            "field": st.sampled_from(["messages", "messaging_postbacks", "comments"]) | st.text(max_size=12),
            "value": event(sender)
            | st.fixed_dictionaries({"messages": st.lists(whatsapp, max_size=3)})
            | junk,
        }
    )
    reviewer_noise = _reviewer_noise(seeded, reviewers)
    entry = (
        st.fixed_dictionaries(
            {"id": st.just(ACCOUNT), "time": st.integers(0, 2**45)},
            optional={
                "messaging": st.lists(event(sender) | reviewer_noise, max_size=4) | junk,
                "standby": st.lists(event(sender), max_size=2),
                "changes": st.lists(change, max_size=3) | junk,
            },
        )
        | junk
    )
    kinds = st.sampled_from(["instagram", "instagram", "page", "whatsapp_business_account", "user"]) | junk
    envelope = st.fixed_dictionaries({"object": kinds, "entry": st.lists(entry, max_size=4) | junk})
    # Well-formed deliveries whose taps name real requests and options, from senders who are not recipients.
    forged = st.builds(
        forged_tap,
        st.sampled_from(STRANGER_IDS) | stranger.filter(lambda v: isinstance(v, str)),
        st.sampled_from(ours),
        st.text(min_size=1, max_size=40),
        st.booleans(),
    )
    good_entry = st.fixed_dictionaries(
        {
            "id": st.just(ACCOUNT),
            "time": st.integers(0, 2**45),
            "messaging": st.lists(forged | forged | event(sender) | reviewer_noise, min_size=1, max_size=4),
        },
        optional={"changes": st.lists(change, max_size=2)},
    )
    good = st.fixed_dictionaries(
        {
            "object": st.sampled_from(["instagram", "page"]),
            "entry": st.lists(good_entry, min_size=1, max_size=3),
        }
    )
    styles = st.sampled_from(["compact", "ascii", "pretty", "utf16", "bom"])
    encoded = st.builds(encode, good | envelope | junk, styles)
    body = st.one_of(
        encoded,
        st.binary(max_size=600),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.builds(corrupt, encoded, st.integers(0, 10**6), st.sampled_from(BAD_BYTES)),
        st.builds(
            deep,
            st.sampled_from([50, 500, 990, 1000, 5000, 10_000, 100_000]),
            st.sampled_from(["[", "{", "env", "int"]),
        ),
        st.builds(padded, encoded, st.sampled_from([LIMIT - 1, LIMIT, LIMIT + 1, 2 * LIMIT])),
    )
    query = st.lists(
        st.tuples(
            st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge", "x"]),
            st.sampled_from(["subscribe", "1234"]) | st.text(max_size=20),
        ),
        max_size=4,
    ).map(tuple)
    content_type = st.sampled_from(CONTENT_TYPES)
    # Hypothesis picks one_of branches about evenly: a third each for forged-but-signed deliveries,
    # hostile POSTs and anything at all.
    forged_posts = st.builds(
        FuzzCase,
        method=st.just("POST"),
        body=st.builds(encode, good, styles)
        | st.builds(padded, st.builds(encode, good, styles), st.just(LIMIT)),
        signing=st.sampled_from(("valid", "rotated", "upper")),
        content_type=content_type,
        chunked=st.booleans(),
        query=st.just(()),
    )
    hostile_posts = st.builds(
        FuzzCase,
        method=st.just("POST"),
        body=body,
        signing=st.sampled_from(SIGNINGS),
        content_type=content_type,
        chunked=st.booleans(),
        query=query,
    )
    anything = st.builds(
        FuzzCase,
        method=st.sampled_from(("POST", *OTHER_METHODS)),
        body=body,
        signing=st.sampled_from(SIGNINGS),
        content_type=content_type,
        chunked=st.booleans(),
        query=query,
    )
    return st.one_of(forged_posts, hostile_posts, anything)


def _unicode_near_misses() -> st.SearchStrategy[str]:
    """Options that look like (or are spelt close to) the real ones, or hostile Unicode: none is one of
    the request's options, so a real reviewer tapping them decides nothing."""
    lookalikes = st.sampled_from(OPTIONS).flatmap(
        lambda option: st.sampled_from(
            [
                option + "\u200d",  # zero-width joiner
                option + "\ufe0f",  # variation selector
                "\u200f" + option,  # right-to-left mark
                option.replace("o", "\u043e"),  # Cyrillic o
                option.replace("e", "e\u0301"),  # combining accent
                option + "\u00a0",  # no-break space
                option.upper(),
                option + "\x00",
            ]
        )
    )
    return (lookalikes | any_title_candidates()).filter(lambda title: title not in OPTIONS)


def _reviewer_noise(seeded: Sequence[str], reviewers: Sequence[str]) -> st.SearchStrategy:
    """Events from a real reviewer naming a real request that must never decide it."""
    real = st.sampled_from(list(reviewers)).map(lambda r: {"id": r})
    good = st.sampled_from([encode_payload(rid, option) for rid in seeded for option in OPTIONS])
    near_miss = (
        st.builds(
            "{}:{}:{}".format,
            st.sampled_from(["IGHIL1", "ighil2", "ighil1 ", " ighil1", "ighil"]),
            st.sampled_from(seeded),
            st.sampled_from(OPTIONS),
        )
        | st.builds(
            "ighil1:{}:{}".format, st.sampled_from(seeded), st.sampled_from(["approve", "Approve ", "", "x"])
        )
        | st.builds("ighil1:{}:{}".format, st.sampled_from(seeded), _unicode_near_misses())
    )
    message = st.one_of(
        st.fixed_dictionaries(
            {
                "mid": st.text(max_size=20),
                "is_echo": st.sampled_from([True, 1, "true"]),
                "quick_reply": st.fixed_dictionaries({"payload": good}),
            }
        ),
        st.fixed_dictionaries(
            {
                "mid": st.text(max_size=20),
                "is_deleted": st.just(True),
                "quick_reply": st.fixed_dictionaries({"payload": good}),
            }
        ),
        st.fixed_dictionaries({"mid": st.text(max_size=20), "text": good}),
        st.fixed_dictionaries(
            {"mid": st.text(max_size=20), "quick_reply": st.fixed_dictionaries({"payload": near_miss})}
        ),
    )
    return st.one_of(
        st.fixed_dictionaries({"sender": real, "message": message}),
        st.fixed_dictionaries({"sender": real, "read": st.fixed_dictionaries({"mid": good})}),
        st.fixed_dictionaries(
            {"sender": real, "reaction": st.fixed_dictionaries({"mid": good, "emoji": st.just("❤")})}
        ),
    )
