"""What one fuzzed webhook request is, how it is signed, and the byte-level ways its body is built."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

LIMIT = 1024 * 1024
ACCOUNT = "17841400000000000"
SIGNINGS = ("valid", "rotated", "none", "wrong_secret", "sha1", "garbage", "upper", "empty", "other_body")
BAD_BYTES = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\xef\xbb\xbf")


@dataclass(frozen=True)
class FuzzCase:
    method: str
    body: bytes
    signing: str
    content_type: str | None
    chunked: bool
    query: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:  # keeps a falsifying 1 MiB example readable
        return (
            f"FuzzCase({self.method} {len(self.body)} bytes {self.body[:120]!r}... signing={self.signing} "
            f"type={self.content_type} chunked={self.chunked} query={self.query})"
        )


def signature_header(case: FuzzCase, secret: str, rotated: str) -> str | None:
    """The ``X-Hub-Signature-256`` value for ``case.signing``; only "valid", "rotated", "upper" are right."""

    def sign(body: bytes, key: str, digest: str = "sha256") -> str:
        return hmac.new(key.encode(), body, getattr(hashlib, digest)).hexdigest()

    return {
        "valid": "sha256=" + sign(case.body, secret),
        "rotated": "sha256=" + sign(case.body, rotated),
        "upper": "sha256=" + sign(case.body, secret).upper(),
        "none": None,
        "wrong_secret": "sha256=" + sign(case.body, secret + "x"),
        "sha1": "sha1=" + sign(case.body, secret, "sha1"),
        "garbage": "sha256=zz\u00e9" + "0" * 60,
        "empty": "",
        "other_body": "sha256=" + sign(case.body + b" ", secret),
    }[case.signing]


def validly_signed(case: FuzzCase) -> bool:
    return case.signing in ("valid", "rotated", "upper")


def forged_tap(sender: str, payload: str, mid: str, postback: bool) -> dict:
    event: dict = {"sender": {"id": sender}, "recipient": {"id": ACCOUNT}, "timestamp": 1793534485349}
    if postback:
        event["postback"] = {"mid": mid, "title": "Approve", "payload": payload}
    else:
        event["message"] = {"mid": mid, "text": "Approve", "quick_reply": {"payload": payload}}
    return event


def encode(value: object, style: str) -> bytes:
    if style == "ascii":
        return json.dumps(value).encode()
    if style == "pretty":
        return json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8", "surrogatepass")
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if style == "utf16":
        return text.encode("utf-16", "surrogatepass")
    prefix = b"\xef\xbb\xbf" if style == "bom" else b""
    return prefix + text.encode("utf-8", "surrogatepass")


def corrupt(body: bytes, where: int, bad: bytes) -> bytes:
    at = where % (len(body) + 1)
    return body[:at] + bad + body[at + 1 :]


def deep(depth: int, shape: str) -> bytes:
    """Nesting ``depth`` levels deep, or (shape "int") an integer ``depth`` digits long."""
    if shape == "int":  # Python refuses to parse integers over 4300 digits: a ValueError, not a crash
        return b'{"object":"instagram","entry":[{"id":"1","time":' + b"9" * depth + b"}]}"
    if shape == "[":
        return b"[" * depth + b"]" * depth
    if shape == "{":
        return b'{"a":' * depth + b"1" + b"}" * depth
    inner = b"[" * depth + b"]" * depth
    return b'{"object":"instagram","entry":[{"messaging":[' + inner + b"]}]}"


def padded(body: bytes, size: int) -> bytes:
    return body + b" " * max(size - len(body), 0)
