"""Typed errors of the provider; plain Python so the store and the webhook can import them too."""

from __future__ import annotations


class InstagramHilError(Exception):
    """Base class of every error raised by this provider."""


class InstagramApiError(InstagramHilError):
    """The Graph API answered with an error (on any channel: Instagram, Messenger or WhatsApp).

    :param message: Meta's message (never contains the token: we send it in a header).
    :param code: Graph error code, e.g. 190.
    :param subcode: Graph ``error_subcode``, if any.
    :param fbtrace_id: Meta's trace id; quote it when asking Meta for support.
    :param status: HTTP status of the answer.
    :param hint: what to do, in the words of the channel that failed; replaces the class's ``HINT``.
    """

    HINT: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        fbtrace_id: str | None = None,
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.subcode = subcode
        self.fbtrace_id = fbtrace_id
        self.status = status
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        details = []
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.code is not None:
            details.append(f"code {self.code}")
        if self.subcode is not None:
            details.append(f"subcode {self.subcode}")
        if self.fbtrace_id:
            details.append(f"fbtrace_id {self.fbtrace_id}")
        if details:
            parts.append(f"({', '.join(details)})")
        return " ".join(parts)


class MessagingWindowClosedError(InstagramApiError):
    """The reviewer has not messaged the account within the last 24 hours."""

    HINT = (
        "The reviewer must send a message to the Instagram account first: Meta only lets a business "
        "message a person within 24 hours of that person's last message. Ask the reviewer to DM the "
        "account, then clear the task to send the prompt again."
    )

    def _render(self) -> str:
        return f"{self.hint or self.HINT} Graph said: {super()._render()}"


class RecipientUnavailableError(InstagramApiError):
    """The recipient cannot be messaged (blocked the account, deactivated, or not an IGSID)."""


class InvalidTokenError(InstagramApiError):
    """The access token is invalid or expired."""

    HINT = "The access token in the Instagram connection is invalid or expired: renew it in the connection."

    def _render(self) -> str:
        return f"{self.hint or self.HINT} Graph said: {super()._render()}"


class RateLimitedError(InstagramApiError):
    """Meta throttled the app or account and the retry deadline ran out."""


#: The same error under a channel-neutral name.
GraphApiError = InstagramApiError


class DecisionStoreError(InstagramHilError):
    """The decision store cannot be used."""


class StoreUnavailableError(DecisionStoreError):
    """The decision store's database could not be reached or did not commit."""


class SchemaVersionError(DecisionStoreError):
    """The decision store's tables were written by another version of this provider."""


class ResponseRefusedError(DecisionStoreError):
    """A response may not be recorded: the place the request mirrors refused this responder."""


class RequestClosedElsewhereError(DecisionStoreError):
    """The place a request mirrors no longer waits for it (the task ended or moved to another try).

    :param reason: why, as the reviewer is told; the request is cancelled with it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AirflowApiUnavailableError(InstagramHilError):
    """Airflow's REST API could not be reached or failed; the answer can be given again later."""
