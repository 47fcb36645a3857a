"""The outbox sender: background threads that deliver queued replies, off the webhook's request path.

It also sends the prompts kept for reviewers whose messaging window was closed (``on_window_closed=
"wait"``), once they write to the account: with their buttons, and recorded as the recipient's prompt.

The webhook answers Meta once a response and its reply are committed, then wakes the sender. Each
thread claims a few due rows for a lease, sends them, and marks each one sent (or failed). Rows left by
a process that was killed are sent once their lease runs out, by whichever webhook process sees them
first, so a restart (or another replica) delivers what a crash left behind.

A reply is sent twice only when a process died after Meta accepted it and before the store recorded
that: Meta has no idempotency key. Such a resend is logged as "in doubt".
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Protocol

from airflow_provider_instagram_hil.exceptions import (
    DecisionStoreError,
    InstagramApiError,
    InstagramHilError,
    InvalidTokenError,
    RateLimitedError,
)
from airflow_provider_instagram_hil.store import ApprovalRequest, OutboxItem, RequestStatus
from airflow_provider_instagram_hil.store.outbox import PROMPT_BUTTONS, PROMPTS, OutboxQueue

log = logging.getLogger("airflow_provider_instagram_hil.webhook")

#: ``send(channel, recipient_id, text)`` returns the message id Meta gave the message (or None).
SendFunction = Callable[[str, str, str], "str | None"]
#: ``check(channel, recipient_id, text, since)`` counts such messages Meta shows as sent since ``since``;
#: None when the channel offers no way to look (WhatsApp has no Conversations API).
CheckFunction = Callable[[str, str, str, datetime], "int | None"]


class PromptFunction(Protocol):
    """Sends an approval prompt with its buttons (``persistent_buttons``: buttons that stay tappable,
    where the channel has them) and returns Meta's message id (or None)."""

    def __call__(
        self,
        channel: str,
        recipient_id: str,
        text: str,
        request_id: str,
        options: Sequence[str],
        *,
        persistent_buttons: bool = False,
    ) -> str | None: ...


DEFAULT_THREADS = 2
DEFAULT_LEASE = timedelta(seconds=60)
DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 600.0
#: How far back, from when a reply was queued, an in-doubt reply is looked for in the conversation.
DOUBT_WINDOW = timedelta(minutes=10)


class OutboxSender:
    """Deliver the outbox of one store on a few background threads.

    :param outbox: the store's outbox.
    :param send: delivers one message; its exceptions decide whether the row is retried.
    :param check: counts the messages Meta shows as sent; with it, a row whose earlier attempt is in
        doubt is looked for in the conversation before it is sent again.
    :param prompt: sends a kept prompt with its buttons; None: such rows are given up.
    :param threads: threads sending at once.
    :param batch: rows one thread claims at a time; 1 (default) keeps a crash's doubt to the row in flight.
    :param lease: how long a claim keeps other senders off a row; longer than one send with its retries.
    :param poll_interval: seconds between looks at the outbox when nobody wakes the sender (rows queued
        by other processes: another replica, the triggerer, a retry coming due).
    :param max_attempts: attempts per row before it is given up.
    """

    def __init__(
        self,
        outbox: OutboxQueue,
        send: SendFunction,
        *,
        check: CheckFunction | None = None,
        prompt: PromptFunction | None = None,
        threads: int = DEFAULT_THREADS,
        batch: int = 1,
        lease: timedelta = DEFAULT_LEASE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if threads < 1 or batch < 1 or max_attempts < 1 or poll_interval <= 0:
            raise ValueError("threads, batch, max_attempts and poll_interval must be positive")
        self.outbox = outbox
        self.send = send
        self.check = check
        self.prompt = prompt
        self.threads = threads
        self.batch = batch
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self._stopping = threading.Event()
        # One condition for waking the threads and for drain(): ``_wakes`` counts wake() calls, and
        # ``_quiet[n]`` is the value of ``_wakes`` when thread n last began a look that found nothing.
        self._cond = threading.Condition()
        self._wakes = 0
        self._quiet: dict[int, int] = {}
        self._workers: list[threading.Thread] = []
        self._random = random.Random()

    def start(self) -> OutboxSender:
        """Start the threads (idempotent); they first send whatever an earlier process left."""
        if not self._workers:
            self._workers = [
                threading.Thread(target=self._run, args=(n,), name=f"instagram-hil-outbox-{n}", daemon=True)
                for n in range(self.threads)
            ]
            for worker in self._workers:
                worker.start()
        return self

    def wake(self) -> None:
        """Look at the outbox now (a reply was just committed)."""
        with self._cond:
            self._wakes += 1
            self._cond.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every thread, after this call, looked at the outbox and found nothing due (so
        whatever was due before the call has been attempted); False when ``timeout`` ran out first.

        For tests and shutdown: rows due later (a retry) do not count.
        """
        with self._cond:
            self._wakes += 1
            target = self._wakes
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: len(self._quiet) == self.threads and min(self._quiet.values()) >= target, timeout
            )

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop claiming; give sends in flight ``timeout`` seconds. Unsent rows stay for the next process."""
        self._stopping.set()
        self.wake()
        for worker in self._workers:
            worker.join(timeout)
            if worker.is_alive():
                log.warning("Outbox sender %s still busy at shutdown; its rows are sent later", worker.name)

    # -- one thread -----------------------------------------------------------------------------------

    def _run(self, n: int) -> None:
        failures = 0
        while not self._stopping.is_set():
            with self._cond:
                began = self._wakes
            try:
                items = self.outbox.claim(self.batch, self.lease)
            except DecisionStoreError as exc:
                failures += 1
                log.warning("Outbox sender cannot read the store (%s); retrying", type(exc).__name__)
                self._stopping.wait(min(self.poll_interval * 2**failures, 60.0))
                continue
            failures = 0
            for item in items:
                self._deliver(item)
            if items:
                continue  # more may be due
            with self._cond:
                self._quiet[n] = began
                self._cond.notify_all()
                self._cond.wait_for(self._woken_since(began), self.poll_interval)

    def _woken_since(self, began: int) -> Callable[[], bool]:
        return lambda: self._wakes != began or self._stopping.is_set()

    def _deliver(self, item: OutboxItem) -> None:
        if item.in_doubt and self._reached_meta(item):
            return
        request = self._pending_request(item) if item.kind in PROMPTS else None
        if item.kind in PROMPTS and request is None:
            return
        try:
            if request is not None and self.prompt is not None:
                message_id = self.prompt(
                    item.channel,
                    item.recipient_id,
                    item.text,
                    request.request_id,
                    list(request.options),
                    persistent_buttons=item.kind == PROMPT_BUTTONS,
                )
            else:
                message_id = self.send(item.channel, item.recipient_id, item.text)
        except Exception as exc:
            self._failed(item, exc)
            return
        try:
            self.outbox.mark_sent(item.id, message_id)
            if request is not None:
                self.outbox.store.mark_prompt_sent(
                    request.request_id, item.recipient_id, message_id, channel=item.channel
                )
        except DecisionStoreError as exc:
            log.error(
                "Reply %d (request %s) was sent but could not be marked sent (%s): it will be sent again",
                item.id,
                item.request_id,
                type(exc).__name__,
            )
            return
        log.info(
            "Sent %s %d (request %s) to %s on %s",
            item.kind,
            item.id,
            item.request_id,
            item.recipient_id,
            item.channel,
        )

    def _pending_request(self, item: OutboxItem) -> ApprovalRequest | None:
        """The request of a kept prompt while it is pending; None when the prompt is not to be sent (the
        row is then closed, or left to its lease when the store cannot be read)."""
        try:
            request = self.outbox.store.get_request(item.request_id or "")
        except DecisionStoreError:
            return None  # the lease runs out and the row is tried again
        if request is not None and request.status is RequestStatus.PENDING and self.prompt is not None:
            return request
        why = "this webhook sends no prompts" if self.prompt is None else "the request is no longer pending"
        with contextlib.suppress(DecisionStoreError):
            self.outbox.mark_failed(item.id, f"not sent: {why}", retry_at=None)
        log.info(
            "Not sending the prompt kept for %s (request %s): %s", item.recipient_id, item.request_id, why
        )
        return None

    def _reached_meta(self, item: OutboxItem) -> bool:
        """For a row a stopped sender had claimed: did it reach Meta? When it did, mark it sent.

        Meta's conversation is compared with our own sent rows of the same text to the same person, so
        an identical earlier reply is not taken for this one.
        """
        if self.check is None:
            log.warning(
                "Reply %d (request %s) was claimed by a sender that stopped mid-send; sending it again, so "
                "the reviewer may get it twice",
                item.id,
                item.request_id,
            )
            return False
        since = item.created_at - DOUBT_WINDOW
        try:
            on_meta = self.check(item.channel, item.recipient_id, item.text, since)
            ours = self.outbox.sent_like(item, since)
        except Exception as exc:
            log.warning(
                "Reply %d (request %s) was claimed by a sender that stopped mid-send and its conversation "
                "cannot be read (%s); sending it again, so the reviewer may get it twice",
                item.id,
                item.request_id,
                type(exc).__name__,
            )
            return False
        if on_meta is None:
            log.warning(
                "Reply %d (request %s) was claimed by a sender that stopped mid-send and %s cannot say what "
                "was sent; sending it again, so the reviewer may get it twice",
                item.id,
                item.request_id,
                item.channel,
            )
            return False
        if on_meta <= ours:
            log.info(
                "Reply %d (request %s) had not reached Meta when its sender stopped; sending it",
                item.id,
                item.request_id,
            )
            return False
        try:
            self.outbox.mark_sent(item.id, None)
        except DecisionStoreError:
            return True  # its lease runs out and the check runs again
        log.info(
            "Reply %d (request %s) had reached Meta before its sender stopped mid-send; not sending it again",
            item.id,
            item.request_id,
        )
        return True

    def _failed(self, item: OutboxItem, exc: Exception) -> None:
        # Our own errors say what went wrong without secrets; anything else by its type only.
        error = f"{type(exc).__name__}: {exc}" if isinstance(exc, InstagramHilError) else type(exc).__name__
        retry_at = self._retry_at(item, exc)
        with contextlib.suppress(DecisionStoreError):  # else the lease runs out and the row is tried again
            self.outbox.mark_failed(item.id, error, retry_at=retry_at)
        if retry_at is None:
            log.warning(
                "Gave up on %s %d (request %s) to %s after %d attempt(s): %s",
                item.kind,
                item.id,
                item.request_id,
                item.recipient_id,
                item.attempts,
                error,
            )
        else:
            log.warning(
                "Could not send %s %d (request %s), attempt %d: %s; retrying at %s",
                item.kind,
                item.id,
                item.request_id,
                item.attempts,
                error,
                retry_at.isoformat(timespec="seconds"),
            )

    def _retry_at(self, item: OutboxItem, exc: Exception) -> datetime | None:
        if item.attempts >= self.max_attempts or not is_worth_retrying(exc):
            return None
        cap = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (item.attempts - 1))
        return datetime.now(timezone.utc) + timedelta(seconds=self._random.uniform(cap / 2, cap))


def is_worth_retrying(exc: Exception) -> bool:
    """Whether a failed send may succeed later: throttling, a token being renewed, Meta or the network
    failing; not a refusal of this message (window closed, recipient unavailable, bad input)."""
    if isinstance(exc, (RateLimitedError, InvalidTokenError)):
        return True
    if isinstance(exc, InstagramApiError):
        return exc.status is None or exc.status >= 500
    return not isinstance(exc, (InstagramHilError, ValueError))
