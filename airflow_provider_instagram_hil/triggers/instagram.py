"""InstagramDecisionTrigger: wait in the triggerer until the reviewer's decision is in the store.

The trigger holds no token and no field value: only a request id, a deadline and where the store is.
It reads the store through the shared :class:`~airflow_provider_instagram_hil.triggers.poller.StorePoller`
and owns the deadline: when it passes, it closes the request itself (``DecisionStore.expire_request``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict

from airflow_provider_instagram_hil import config
from airflow_provider_instagram_hil.exceptions import DecisionStoreError
from airflow_provider_instagram_hil.store import (
    DecisionStore,
    Outcome,
    RequestState,
    RequestStatus,
)
from airflow_provider_instagram_hil.store.engine import display_url, refuse_secrets_in_url
from airflow_provider_instagram_hil.triggers.poller import MAX_BACKOFF_SECONDS, StorePoller, Waiter
from airflow_provider_instagram_hil.version_compat import BaseTrigger, TriggerEvent

#: How long after the deadline the trigger keeps trying to reach a failing store before giving up.
EXPIRE_RETRY_SECONDS = 300.0

EventStatus = Literal["decided", "timed_out", "error"]


class DecisionEventPayload(TypedDict):
    """What the trigger hands back to ``InstagramApprovalOperator.execute_complete``.

    ``status`` is ``"timed_out"`` whenever the deadline closed the request; ``chosen_option`` then holds
    the default option if one was applied, else None.
    """

    status: EventStatus
    request_id: str
    chosen_option: str | None
    responded_by: str | None
    responded_at: str | None
    timed_out: bool
    error: str | None


def payload_from_state(state: RequestState) -> DecisionEventPayload:
    """Describe a resolved request as an event payload."""
    if state.status is RequestStatus.CANCELLED:
        return error_payload(state.request_id, "the approval request was cancelled")
    if state.status is RequestStatus.PENDING:
        return error_payload(state.request_id, "the approval request is still pending")
    timed_out = state.timed_out or state.status is RequestStatus.EXPIRED
    return DecisionEventPayload(
        status="timed_out" if timed_out else "decided",
        request_id=state.request_id,
        chosen_option=state.chosen_option,
        responded_by=state.responded_by,
        responded_at=state.responded_at.isoformat() if state.responded_at else None,
        timed_out=timed_out,
        error=None,
    )


def error_payload(request_id: str, error: str) -> DecisionEventPayload:
    """An event payload that makes the task fail with ``error``."""
    return DecisionEventPayload(
        status="error",
        request_id=request_id,
        chosen_option=None,
        responded_by=None,
        responded_at=None,
        timed_out=False,
        error=error,
    )


class InstagramDecisionTrigger(BaseTrigger):
    """Fire once when the approval request is decided, or when its deadline passes.

    :param request_id: the decision store's request id.
    :param timeout_at: the deadline (aware datetime or ISO 8601 string); at it the default option is
        recorded, or the request expires.
    :param poll_interval: seconds between two reads of the store.
    :param store_url: the store's SQLAlchemy URL; None reads ``[instagram_hil] store_url`` in the triggerer
        (keep passwords there, not here: trigger kwargs are stored and shown).
    """

    def __init__(
        self,
        request_id: str,
        timeout_at: str | datetime,
        poll_interval: float,
        store_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.request_id = request_id
        self.timeout_at = _aware(timeout_at)
        self.poll_interval = float(poll_interval)
        if store_url is not None:
            refuse_secrets_in_url(store_url)  # kwargs are stored in Airflow's database and shown
        self.store_url = store_url
        self._poller: StorePoller | None = None
        self._waiter: Waiter | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the keyword arguments that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "request_id": self.request_id,
                "timeout_at": self.timeout_at.isoformat(),
                "poll_interval": self.poll_interval,
                "store_url": self.store_url,
            },
        )

    def __repr__(self) -> str:
        url = display_url(self.store_url) if self.store_url else None
        return (
            f"<{type(self).__qualname__} request_id={self.request_id} "
            f"timeout_at={self.timeout_at.isoformat()} poll_interval={self.poll_interval} store_url={url}>"
        )

    def _store(self) -> DecisionStore:
        return DecisionStore.for_url(self.store_url or config.get_store_url())

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield one event: the decision, the timeout outcome, or an error."""
        store = self._store()
        poller = self._poller = StorePoller.for_store(store)
        # DEBUG: with thousands of triggers this line alone was a third of a burst's wake-up cost; the
        # operator already logged the request id and the deadline is in the trigger's repr.
        self.log.debug("Waiting for a decision on request %s until %s", self.request_id, self.timeout_at)
        waiter = self._waiter = poller.add(self.request_id, self.poll_interval)
        state: RequestState | None = None
        try:
            remaining = (self.timeout_at - datetime.now(timezone.utc)).total_seconds()
            state = await asyncio.wait_for(waiter.future, timeout=max(remaining, 0.0))
        except asyncio.TimeoutError:
            pass
        finally:
            poller.remove(waiter)
            self._waiter = None
        payload = payload_from_state(state) if state is not None else await self._expire(store)
        self.log.info(
            "Request %s: %s (option %s)", self.request_id, payload["status"], payload["chosen_option"]
        )
        yield TriggerEvent(payload)

    async def _expire(self, store: DecisionStore) -> DecisionEventPayload:
        """Close the request at its deadline; retry a failing store for a while, then report an error."""
        give_up_at = asyncio.get_running_loop().time() + EXPIRE_RETRY_SECONDS
        delay = self.poll_interval
        while True:
            try:
                result = await asyncio.to_thread(store.expire_request, self.request_id)
                break
            except DecisionStoreError as exc:
                if asyncio.get_running_loop().time() + delay > give_up_at:
                    return error_payload(
                        self.request_id,
                        f"the deadline passed but the decision store could not be updated for "
                        f"{EXPIRE_RETRY_SECONDS:.0f} s: {exc}",
                    )
                self.log.warning(
                    "Request %s: could not close it at its deadline (%s); retrying in %.1f s",
                    self.request_id,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        if result.outcome is Outcome.UNKNOWN_REQUEST or result.request is None:
            return error_payload(self.request_id, "the approval request is not in the decision store")
        return payload_from_state(result.request.state)

    async def cleanup(self) -> None:
        """Leave the shared poller (the trigger may be cancelled or moved to another triggerer)."""
        if self._poller is not None and self._waiter is not None:
            self._poller.remove(self._waiter)
            self._waiter = None


def _aware(value: str | datetime) -> datetime:
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        raise ValueError(f"timeout_at must be timezone-aware, got {value!r}")
    return when.astimezone(timezone.utc)
