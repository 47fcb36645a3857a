"""Replies to the reviewer, sent from a small thread pool after the decision has been committed.

A reply is a courtesy: a failing one is logged and changes neither the decision nor the HTTP answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from airflow_provider_instagram_hil.exceptions import InstagramHilError
from airflow_provider_instagram_hil.store import DecisionResult, Outcome
from airflow_provider_instagram_hil.webhook.events import Tap

log = logging.getLogger("airflow_provider_instagram_hil.webhook")

#: Sends ``text`` to ``recipient_id``; e.g. ``InstagramHook(conn_id).send_message``.
SendFunction = Callable[[str, str], object]

#: Channels whose reviewers the Instagram Send API can reach (WhatsApp needs another API).
REPLY_CHANNELS = frozenset({"instagram", "messenger"})


def reply_text(result: DecisionResult) -> str | None:
    """The text that tells the reviewer what became of a tap, or None when nothing is said.

    :param result: what ``DecisionStore.record_decision`` returned.
    """
    chosen = result.request.chosen_option if result.request is not None else None
    if result.outcome is Outcome.RECORDED:
        return f"✅ Recorded: {chosen}. Thank you."
    if result.outcome is Outcome.ALREADY_DECIDED:
        return (
            f"This request was already answered ({chosen})."
            if chosen
            else "This request was already answered."
        )
    if result.outcome is Outcome.EXPIRED:
        return "This request has expired; your answer was not recorded."
    if result.outcome is Outcome.NOT_ALLOWED:
        return "This request is not assigned to you."
    if result.outcome is Outcome.CANCELLED:
        return "This request was cancelled."
    return None  # unknown request, invalid option, duplicate delivery: stay silent


class Replier:
    """Send replies on a bounded pool of threads, so the webhook answers Meta without waiting.

    :param send: callable ``send(recipient_id, text)``; its exceptions are logged, never raised.
    :param max_workers: threads sending at once.
    :param max_pending: replies queued or in flight before new ones are dropped (and logged).
    """

    def __init__(self, send: SendFunction, *, max_workers: int = 4, max_pending: int = 256) -> None:
        self.send = send
        self.max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="instagram-hil-reply")
        self._pending = 0
        self._closed = False
        self._idle = threading.Condition()

    def reply_to(self, tap: Tap, result: DecisionResult) -> bool:
        """Queue the reply that fits ``result`` for the reviewer of ``tap``; return whether one was queued."""
        text = reply_text(result)
        if text is None or tap.channel not in REPLY_CHANNELS:
            return False
        return self.submit(tap.sender_id, text, request_id=tap.request_id, mid=tap.mid)

    def submit(self, recipient_id: str, text: str, *, request_id: str = "", mid: str | None = None) -> bool:
        """Queue ``text`` for ``recipient_id``; ``request_id`` and ``mid`` only label the logs."""
        with self._idle:
            if self._closed or self._pending >= self.max_pending:
                log.warning(
                    "Dropped the reply for request %s (mid %s): reply queue closed or full", request_id, mid
                )
                return False
            self._pending += 1
        try:
            self._executor.submit(self._deliver, recipient_id, text, request_id, mid)
        except RuntimeError:  # the executor shut down between the check and the submit
            self._done()
            return False
        return True

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued reply was attempted; return False if ``timeout`` ran out first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def shutdown(self, timeout: float | None = 5.0) -> None:
        """Refuse new replies, give queued ones ``timeout`` seconds, then stop the threads."""
        with self._idle:
            self._closed = True
        if not self.drain(timeout):
            log.warning("Stopped with replies still queued")
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _deliver(self, recipient_id: str, text: str, request_id: str, mid: str | None) -> None:
        try:
            self.send(recipient_id, text)
            log.info("Replied to the reviewer of request %s (mid %s)", request_id, mid)
        except InstagramHilError as exc:
            # Our own errors say what to do and carry no secret (the hook sends the token in a header).
            log.warning("Could not reply for request %s (mid %s): %s", request_id, mid, exc)
        except Exception as exc:
            log.warning("Could not reply for request %s (mid %s): %s", request_id, mid, type(exc).__name__)
        finally:
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()
