"""The reply outbox: claims with a lease, in-doubt retries, sent once, failures retried or given up."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from airflow_provider_instagram_hil.store import DecisionStore, Delivery, OutboxMessage, RequestStatus

from .store_support import OPTIONS, OTHER_REVIEWER, REVIEWER, T0, run_processes

LEASE = timedelta(seconds=30)


def _messages(n: int, **kwargs) -> list[OutboxMessage]:
    return [OutboxMessage("instagram", REVIEWER, f"reply {i}", **kwargs) for i in range(n)]


class TestClaim:
    def test_claims_due_rows_once_per_lease(self, store):
        store.outbox.add(_messages(3), now=T0)

        first = store.outbox.claim(10, LEASE, now=T0)
        again = store.outbox.claim(10, LEASE, now=T0 + LEASE - timedelta(seconds=1))

        assert [item.text for item in first] == ["reply 0", "reply 1", "reply 2"]
        assert all(item.attempts == 1 and not item.in_doubt for item in first)
        assert again == []

    def test_a_claim_that_ran_out_comes_back_in_doubt(self, store):
        store.outbox.add(_messages(1), now=T0)
        (first,) = store.outbox.claim(10, LEASE, now=T0)

        (again,) = store.outbox.claim(10, LEASE, now=T0 + LEASE)

        assert again.id == first.id
        assert (again.attempts, again.in_doubt) == (2, True)

    def test_limit_and_due_time(self, store):
        store.outbox.add(_messages(2), now=T0)
        store.outbox.add(_messages(1, not_before=T0 + timedelta(minutes=5)), now=T0)

        lease = timedelta(hours=1)

        assert len(store.outbox.claim(1, lease, now=T0)) == 1
        assert len(store.outbox.claim(10, lease, now=T0)) == 1
        assert store.outbox.claim(10, lease, now=T0) == []
        (later,) = store.outbox.claim(10, lease, now=T0 + timedelta(minutes=5))
        assert later.text == "reply 0"
        assert later.attempts == 1


class TestResults:
    def test_sent_rows_are_never_claimed_again(self, store):
        store.outbox.add(_messages(1), now=T0)
        (item,) = store.outbox.claim(10, LEASE, now=T0)

        assert store.outbox.mark_sent(item.id, "m_1", now=T0)
        assert not store.outbox.mark_sent(item.id, "m_2", now=T0)
        assert store.outbox.claim(10, LEASE, now=T0 + timedelta(days=1)) == []
        assert store.outbox.counts() == {"sent": 1}

    def test_a_failure_is_retried_at_the_given_time(self, store):
        store.outbox.add(_messages(1), now=T0)
        (item,) = store.outbox.claim(10, LEASE, now=T0)

        store.outbox.mark_failed(item.id, "RateLimitedError: throttled", retry_at=T0 + timedelta(minutes=1))

        assert store.outbox.claim(10, LEASE, now=T0 + timedelta(seconds=59)) == []
        (retry,) = store.outbox.claim(10, LEASE, now=T0 + timedelta(minutes=1))
        assert (retry.attempts, retry.in_doubt) == (2, False)

    def test_giving_up_keeps_the_error(self, store):
        store.outbox.add(_messages(1, request_id=None), now=T0)
        (item,) = store.outbox.claim(10, LEASE, now=T0)

        store.outbox.mark_failed(item.id, "MessagingWindowClosedError " + "x" * 500, retry_at=None)

        assert store.outbox.counts() == {"failed": 1}
        assert store.outbox.claim(10, LEASE, now=T0 + timedelta(days=1)) == []


class TestKeptPrompts:
    """A prompt Meta refused (window closed) is kept until its reviewer writes to the account."""

    def _request(self, store, map_index=-1):
        request, _ = store.register_request(
            dag_id="deploy",
            run_id="manual__1",
            task_id="approve",
            map_index=map_index,
            recipients=[REVIEWER, OTHER_REVIEWER],
            options=list(OPTIONS),
            expires_at=T0 + timedelta(hours=1),
            now=T0,
        )
        return request.request_id

    def _delivery(self, store, request_id, recipient_id):
        request = store.get_request(request_id)
        return next(r.delivery for r in request.recipients if r.recipient_id == recipient_id)

    def test_a_kept_prompt_is_not_sent_until_its_reviewer_writes(self, store):
        request_id = self._request(store)
        store.hold_prompt(request_id, REVIEWER, "Ship it?", "window closed", now=T0)

        assert store.outbox.claim(10, LEASE, now=T0 + timedelta(hours=1)) == []
        assert store.outbox.counts() == {"held": 1}
        assert self._delivery(store, request_id, REVIEWER) is Delivery.WAITING
        request = store.get_request(request_id)
        assert [r.delivery_error for r in request.recipients if r.recipient_id == REVIEWER] == [
            "window closed"
        ]

        assert store.release_prompts("instagram", REVIEWER, [request_id], now=T0 + timedelta(minutes=5)) == 1

        (item,) = store.outbox.claim(10, LEASE, now=T0 + timedelta(minutes=5))
        assert (item.kind, item.text, item.recipient_id, item.request_id) == (
            "prompt",
            "Ship it?",
            REVIEWER,
            request_id,
        )
        assert self._delivery(store, request_id, REVIEWER) is Delivery.CONTACTED
        assert store.release_prompts("instagram", REVIEWER, [request_id]) == 0  # released once

    def test_only_the_writer_s_prompts_of_the_given_requests_are_released(self, store):
        first, second = self._request(store), self._request(store, map_index=1)
        for request_id in (first, second):
            store.hold_prompt(request_id, REVIEWER, f"prompt {request_id}", "window closed", now=T0)
        store.hold_prompt(first, OTHER_REVIEWER, "other", "window closed", now=T0)

        assert store.release_prompts("messenger", REVIEWER, [first, second]) == 0  # another channel
        assert store.release_prompts("instagram", REVIEWER, [first]) == 1
        assert store.release_prompts("instagram", REVIEWER, []) == 0

        (item,) = store.outbox.claim(10, LEASE)
        assert (item.recipient_id, item.request_id) == (REVIEWER, first)
        assert self._delivery(store, second, REVIEWER) is Delivery.WAITING
        assert self._delivery(store, first, OTHER_REVIEWER) is Delivery.WAITING
        assert store.get_request(first).status is RequestStatus.PENDING


def _claim_all(url, barrier, results):
    store = DecisionStore(url)
    claimed: list[int] = []
    try:
        store.ensure_schema()
        barrier.wait(timeout=60)
        while batch := store.outbox.claim(7, timedelta(minutes=10)):
            claimed += [item.id for item in batch]
        results.put(claimed)
    except Exception as exc:
        results.put(f"error: {type(exc).__name__}: {exc}")
    finally:
        store.dispose()


def test_concurrent_senders_never_claim_the_same_row(store, store_url):
    store.outbox.add(_messages(120))

    claimed = run_processes(_claim_all, [(store_url,)] * 4)

    assert [c for c in claimed if isinstance(c, str)] == []
    counts = Counter(row_id for ids in claimed for row_id in ids)
    assert len(counts) == 120
    assert set(counts.values()) == {1}
