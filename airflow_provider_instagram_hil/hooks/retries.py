"""The Graph API retry policy: exponential backoff with full jitter, within attempts and a deadline.

A call is retried when it raises :class:`~airflow_provider_instagram_hil.hooks.graph_errors.RetryableFailure`
(HTTP 5xx, connection errors, timeouts, throttling, transient Graph errors). Retry ``n`` sleeps
``uniform(0, min(backoff_max, backoff_base * 2**(n - 1)))``, or what ``Retry-After`` asks; no sleep goes
past the deadline. When the policy gives up, the last error is raised, saying how many attempts it took.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from airflow_provider_instagram_hil.exceptions import RateLimitedError
from airflow_provider_instagram_hil.hooks.graph_errors import RetryableFailure

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How one Graph API call is retried.

    :param max_attempts: most attempts, the first one included.
    :param deadline: total seconds the call may spend including retries.
    :param backoff_base: the first retry's longest sleep; it doubles per retry.
    :param backoff_max: the longest sleep of any retry.
    :param rng: draws the jittered sleeps.
    :param sleep: waits between attempts.
    :param clock: a monotonic clock, for the deadline.
    :param log: where retries and giving up are logged (the hook's logger).
    """

    max_attempts: int
    deadline: float
    backoff_base: float
    backoff_max: float
    rng: random.Random
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    log: Any

    def call(self, attempt: Callable[[], T], label: str) -> T:
        """Run ``attempt`` until it succeeds, raises an error that is not retryable, or the policy gives up.

        :param label: names the call in log lines, e.g. ``POST /v25.0/me/messages``.
        """
        started = self.clock()
        delays: dict[int, float] = {}
        tried = [0]

        def next_delay(state: RetryCallState) -> float:
            if state.attempt_number not in delays:
                failure = state.outcome.exception() if state.outcome else None
                retry_after = failure.retry_after if isinstance(failure, RetryableFailure) else None
                cap = min(self.backoff_max, self.backoff_base * 2 ** (state.attempt_number - 1))
                delays[state.attempt_number] = (
                    retry_after if retry_after is not None else self.rng.uniform(0, cap)
                )
            return delays[state.attempt_number]

        def stop(state: RetryCallState) -> bool:
            tried[0] = state.attempt_number
            if state.attempt_number >= self.max_attempts:
                return True
            return self.clock() - started + next_delay(state) > self.deadline

        def before_sleep(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            if isinstance(failure, RetryableFailure) and failure.maybe_sent:
                self.log.warning(
                    "%s timed out after the request was sent; retrying, so the reviewer may receive "
                    "this message twice (Meta has no idempotency key)",
                    label,
                )
            self.log.warning(
                "%s failed on attempt %d of %d (%s); retrying in %.2f s",
                label,
                state.attempt_number,
                self.max_attempts,
                failure,
                next_delay(state),
            )

        retrying = Retrying(
            stop=stop,
            wait=next_delay,
            retry=retry_if_exception_type(RetryableFailure),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except RetryableFailure as failure:
            error = failure.error
            self.log.warning("%s gave up after %d attempt(s): %s", label, tried[0], error)
            hint = "Meta is throttling this app or account. " if isinstance(error, RateLimitedError) else ""
            raise type(error)(
                f"{hint}Gave up after {tried[0]} attempt(s) within the {self.deadline:g} s retry "
                f"deadline; last error: {error.message}",
                code=error.code,
                subcode=error.subcode,
                fbtrace_id=error.fbtrace_id,
                status=error.status,
                hint=error.hint,
            ) from None
