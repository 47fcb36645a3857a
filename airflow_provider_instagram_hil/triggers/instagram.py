"""InstagramDecisionTrigger: wait in the triggerer until the reviewer's decision is in the store.

The trigger holds no token and no field value: only a request id, a deadline and where the store is.
It reads the store through the shared :class:`~airflow_provider_instagram_hil.triggers.poller.StorePoller`
and owns the deadline: when it passes, it closes the request itself (``DecisionStore.expire_request``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from airflow_provider_instagram_hil import config
from airflow_provider_instagram_hil.exceptions import DecisionStoreError
from airflow_provider_instagram_hil.notices import closing_messages
from airflow_provider_instagram_hil.store import (
    DecisionStore,
    Outcome,
    RequestState,
    RequestStatus,
)
from airflow_provider_instagram_hil.store.urls import display_url, refuse_secrets_in_url
from airflow_provider_instagram_hil.triggers.events import (
    ApprovalResult,
    DecisionEventPayload,
    approval_result,
    decided_by,
    error_payload,
    payload_from_state,
    wake_payload,
)
from airflow_provider_instagram_hil.triggers.poller import MAX_BACKOFF_SECONDS, StorePoller, Waiter
from airflow_provider_instagram_hil.version_compat import (
    BaseTrigger,
    TaskSuccessEvent,
    TriggerEvent,
    XCom,
    call_task_sdk,
    task_instance_state,
)

#: How long after the deadline the trigger keeps trying to reach a failing store before giving up.
EXPIRE_RETRY_SECONDS = 300.0


#: Said in the store when a user action in Airflow stops the waiting task.
STOPPED_IN_AIRFLOW = "the task was stopped in Airflow (cleared, or marked success or failed)"
#: Airflow's state of a task instance whose trigger waits.
DEFERRED = "deferred"


class InstagramDecisionTrigger(BaseTrigger):
    """Fire once when the approval request is decided, or when its deadline passes.

    With ``end_from_trigger``, an outcome that lets downstream tasks run (an approving option, chosen or
    applied as the default) ends the task right here with its XCom result (``TaskSuccessEvent``): no
    worker starts just to return it. Every other outcome (a rejection, which skips downstream tasks; a
    timeout without a default or an error, which fail the task) goes back to the worker as a
    ``TriggerEvent``, exactly as before.

    :param request_id: the decision store's request id.
    :param timeout_at: the deadline (aware datetime or ISO 8601 string); at it the default option is
        recorded, or the request expires.
    :param poll_interval: seconds between two full reads of the store (decisions usually wake the
        trigger sooner).
    :param store_url: the store's SQLAlchemy URL; None reads ``[instagram_hil] store_url`` in the triggerer
        (keep passwords there, not here: trigger kwargs are stored and shown).
    :param end_from_trigger: end an approved task in the triggerer.
    :param reject_options: the options that count as a rejection (never ended here).
    :param push_result: push the result as the task's XCom ``return_value`` (the operator's
        ``do_xcom_push``) when ending the task here.
    :param wake_at: when a follow-up is due (a reminder, an escalation) while the request is pending:
        the trigger then fires a ``wake`` event, the worker sends it and defers again. The triggerer
        holds no token, so it sends nothing itself.
    """

    def __init__(
        self,
        request_id: str,
        timeout_at: str | datetime,
        poll_interval: float,
        store_url: str | None = None,
        end_from_trigger: bool = False,
        reject_options: list[str] | None = None,
        push_result: bool = True,
        wake_at: str | datetime | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.request_id = request_id
        self.timeout_at = _aware(timeout_at)
        self.poll_interval = float(poll_interval)
        if store_url is not None:
            refuse_secrets_in_url(store_url)  # kwargs are stored in Airflow's database and shown
        self.store_url = store_url
        self.end_from_trigger = bool(end_from_trigger)
        self.reject_options = list(reject_options or [])
        self.push_result = bool(push_result)
        self.wake_at = _aware(wake_at) if wake_at is not None else None
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
                "end_from_trigger": self.end_from_trigger,
                "reject_options": self.reject_options,
                "push_result": self.push_result,
                # Only when set: triggers serialized before follow-ups existed rebuild unchanged.
                **({"wake_at": self.wake_at.isoformat()} if self.wake_at is not None else {}),
            },
        )

    def __repr__(self) -> str:
        url = display_url(self.store_url) if self.store_url else None
        return (
            f"<{type(self).__qualname__} request_id={self.request_id} "
            f"timeout_at={self.timeout_at.isoformat()} poll_interval={self.poll_interval} store_url={url}>"
        )

    def _store(self) -> DecisionStore:
        return config.shared_store(self.store_url)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield one event: the decision, the timeout outcome, or an error."""
        store = self._store()
        poller = self._poller = StorePoller.for_store(store)
        # DEBUG: with thousands of triggers this line alone was a third of a burst's wake-up cost; the
        # operator already logged the request id and the deadline is in the trigger's repr.
        self.log.debug("Waiting for a decision on request %s until %s", self.request_id, self.timeout_at)
        request_id, until = self.request_id, self.timeout_at
        waking = self.wake_at is not None and self.wake_at < self.timeout_at
        while True:
            state = await self._wait(poller, request_id, self.wake_at if waking and self.wake_at else until)
            if state is None and waking:
                self.log.info("Request %s: a follow-up is due; resuming on a worker to send it", request_id)
                yield TriggerEvent(wake_payload(request_id))
                return
            if state is None or not state.newer_try:
                break
            newest = await asyncio.to_thread(store.newest_try_request, request_id)
            if newest is None or newest.request_id == request_id:
                break
            # The task moved on to a newer try. Airflow cancels this trigger soon, but an event fired now
            # could reach the new try: on SQLite, Airflow may give the new try's trigger this trigger's
            # id, and this trigger then runs for it. So wait for the new try's request instead.
            self.log.info(
                "Request %s was replaced by request %s; waiting for that", request_id, newest.request_id
            )
            request_id, until, waking = newest.request_id, newest.expires_at, False
            if newest.status is not RequestStatus.PENDING:
                state = newest.state
                break
        following = request_id != self.request_id
        payload = payload_from_state(state) if state is not None else await self._expire(store, request_id)
        result = approval_result(payload, self.reject_options)
        ending = self.end_from_trigger and result is not None and result["approved"] and not following
        if ending and result is not None and await self._push_result(result):
            # What execute_complete would have logged and returned, without starting a worker for it.
            self.log.info(
                "Request %s: %r chosen by %s", request_id, result["chosen_option"], decided_by(result)
            )
            yield TaskSuccessEvent()
            return
        self.log.info("Request %s: %s (option %s)", request_id, payload["status"], payload["chosen_option"])
        yield TriggerEvent(payload)

    async def _wait(self, poller: StorePoller, request_id: str, until: datetime) -> RequestState | None:
        """The request's state once it leaves ``pending``, or None when ``until`` passes first."""
        waiter = self._waiter = poller.add(request_id, self.poll_interval)
        try:
            remaining = (until - datetime.now(timezone.utc)).total_seconds()
            return await asyncio.wait_for(waiter.future, timeout=max(remaining, 0.0))
        except asyncio.TimeoutError:
            return None
        finally:
            poller.remove(waiter)
            self._waiter = None

    async def _push_result(self, result: ApprovalResult) -> bool:
        """Push the task's XCom ``return_value`` through the Task SDK, as a worker would; False when that
        cannot be done here (the worker then resumes and pushes it)."""
        if not self.push_result:
            return True
        ti = self.task_instance
        if ti is None:
            return False
        try:
            # Not TaskSuccessEvent(xcoms=...): Airflow 3.3.2 stores those values JSON-encoded twice, so a
            # downstream task would read the result back as a string.
            await call_task_sdk(
                XCom.set,
                key="return_value",
                value=result,
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=ti.map_index if ti.map_index is not None else -1,
            )
        except Exception as exc:
            self.log.warning(
                "Request %s: could not push the result from the triggerer (%s); resuming on a worker",
                self.request_id,
                type(exc).__name__,
            )
            return False
        return True

    async def _expire(self, store: DecisionStore, request_id: str) -> DecisionEventPayload:
        """Close the request at its deadline; retry a failing store for a while, then report an error."""
        give_up_at = asyncio.get_running_loop().time() + EXPIRE_RETRY_SECONDS
        delay = self.poll_interval
        while True:
            try:
                result = await asyncio.to_thread(store.expire_request, request_id, messages=closing_messages)
                break
            except DecisionStoreError as exc:
                if asyncio.get_running_loop().time() + delay > give_up_at:
                    return error_payload(
                        request_id,
                        f"the deadline passed but the decision store could not be updated for "
                        f"{EXPIRE_RETRY_SECONDS:.0f} s: {exc}",
                    )
                self.log.warning(
                    "Request %s: could not close it at its deadline (%s); retrying in %.1f s",
                    request_id,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        if result.outcome is Outcome.UNKNOWN_REQUEST or result.request is None:
            return error_payload(request_id, "the approval request is not in the decision store")
        return payload_from_state(result.request.state)

    async def on_kill(self) -> None:
        """A user cleared the task or marked it success or failed: close its request, so a later tap is
        told so instead of "Recorded".

        Airflow 3.3 calls this for such user actions, but (3.3.2) also when another triggerer took this
        trigger over because this triggerer missed its heartbeats: the old triggerer then cancels its copy
        as if a user had acted. So the request is closed only once the task has left ``deferred``; while
        it still waits (or its state cannot be read), the request stays open.
        """
        if not await self._task_stopped():
            return
        store = self._store()
        try:
            cancelled = await asyncio.to_thread(
                store.cancel_request, self.request_id, STOPPED_IN_AIRFLOW, messages=closing_messages
            )
        except DecisionStoreError as exc:
            self.log.warning("Request %s: could not cancel it (%s)", self.request_id, exc)
            return
        if cancelled:
            self.log.info("Request %s cancelled: %s", self.request_id, STOPPED_IN_AIRFLOW)

    async def _task_stopped(self) -> bool:
        """Whether Airflow reports this trigger's task out of ``deferred`` (cleared, marked, failed)."""
        ti = self.task_instance
        try:
            if ti is None:
                raise LookupError("the triggerer gave this trigger no task instance")
            state = await call_task_sdk(
                task_instance_state,
                ti.dag_id,
                ti.run_id,
                ti.task_id,
                ti.map_index if ti.map_index is not None else -1,
            )
        except Exception as exc:
            self.log.warning(
                "Request %s: Airflow cancelled its trigger, but the task's state could not be read (%s: %s); "
                "leaving the request open",
                self.request_id,
                type(exc).__name__,
                exc,
            )
            return False
        if state == DEFERRED:
            self.log.info(
                "Request %s: its task still waits (the trigger moved to another triggerer); the request "
                "stays open",
                self.request_id,
            )
            return False
        return True

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
