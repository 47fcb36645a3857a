"""What the sandbox Graph API answers with: its accounts, Graph-shaped errors, and the faults it plays."""

from __future__ import annotations

import secrets
import time
from typing import Any, NamedTuple

SANDBOX_ACCOUNT = {"id": "17841400000000000", "name": "Sandbox Account", "username": "sandbox.account"}
SANDBOX_PAGE = {"id": "100000000000001", "name": "Sandbox Page"}
SANDBOX_PHONE_NUMBER_ID = "106540352242922"
#: The Graph error of a closed window on each Send API channel (code 10 and its subcode).
WINDOW_SUBCODES = {"instagram": 2534022, "messenger": 2018278}


class Fault(NamedTuple):
    """How one fault kind answers: a Graph error (``code`` set) or a raw ``body``."""

    status: int
    code: int | None = None
    subcode: int | None = None
    message: str = ""
    body: str | None = None
    retry_after: bool = False


#: Fault kinds for ``SandboxGraphApi.inject_fault()``, with the answers Meta gives in those cases.
FAULTS: dict[str, Fault] = {
    "window_closed": Fault(400, 10, 2534022, "(#10) This message is sent outside of allowed window."),
    "throttled": Fault(400, 4, None, "(#4) Application request limit reached", retry_after=True),
    "throttled_429": Fault(
        429, 613, None, "(#613) Calls to this api have exceeded the rate limit.", retry_after=True
    ),
    "server_error": Fault(500, 2, None, "An unexpected error has occurred. Please retry your request later."),
    "maybe_sent": Fault(500, 1, 1357046, "An unknown error has occurred."),
    "invalid_token": Fault(400, 190, 463, "Error validating access token: Session has expired."),
    "recipient_unavailable": Fault(400, 551, 1545041, "This person isn't available right now."),
    "no_matching_user": Fault(400, 100, 2018001, "(#100) No matching user found"),
    "html_error": Fault(
        502, body="<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
    ),
    # "timeout" answers normally after a long pause (the message is recorded first, as Meta may have
    # delivered it); "disconnect" drops the connection without an answer.
    "timeout": Fault(200),
    "disconnect": Fault(0),
    # The Cloud API's own code for a closed customer-service window, answered at once.
    "re_engagement": Fault(400, 131047, None, "(#131047) Re-engagement message"),
}


def graph_error(code: int, message: str, *, subcode: int | None = None, kind: str = "OAuthException") -> dict:
    """A Graph API error body, shaped like Meta's."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": trace_id()}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def graph_time(epoch: float) -> str:
    """A timestamp as the Graph API writes it, e.g. ``2026-12-02T06:30:00+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(epoch))


def trace_id() -> str:
    return "Asbx" + secrets.token_urlsafe(12)
