"""What the webhook logs about each event: ids, senders and outcomes, never payloads or headers.

Sender ids are Instagram-scoped ids (IGSIDs): not secrets, and what an admin needs to tell a reviewer
who writes to the account from a stranger who taps a forwarded prompt.
"""

from __future__ import annotations

import logging

from airflow_provider_instagram_hil.store import Outcome
from airflow_provider_instagram_hil.webhook.events import Ignored, Tap

log = logging.getLogger("airflow_provider_instagram_hil.webhook")

#: Outcomes of a tap that an operator should look at: a reviewer answered and it could not count.
WARNING_OUTCOMES = frozenset({Outcome.INVALID_OPTION})


def log_ignored(event: Ignored) -> None:
    """Log an event that decides nothing: WARNING for a tap on a request with an impossible option."""
    if event.request_id is not None:
        log.warning(
            "Ignored a tap on request %s from sender %s: its option is not a valid option title (mid %s)",
            event.request_id,
            event.sender_id,
            event.mid,
        )
    elif event.sender_id is not None:
        # The one way to learn a reviewer's IGSID: they message the account first.
        log.info("Ignored a %s message from sender %s (mid %s)", event.reason, event.sender_id, event.mid)
    else:
        log.debug("Ignored a %s event (mid %s)", event.reason, event.mid)


def log_tap_outcome(tap: Tap, outcome: Outcome) -> None:
    """Log what the store made of a tap, with the sender: WARNING when the option matched none."""
    level = logging.WARNING if outcome in WARNING_OUTCOMES else logging.INFO
    log.log(
        level, "Tap %s on request %s: %s (sender %s)", tap.mid, tap.request_id, outcome.value, tap.sender_id
    )
