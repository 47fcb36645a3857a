"""Operator tools over the store: list, audit trail, overdue requests, prune in batches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.store import OutboxMessage, RequestStatus

from .store_support import OTHER_REVIEWER, REVIEWER, T0

DEADLINE = T0 + timedelta(minutes=30)


@pytest.fixture
def history(store, make_request):
    """Requests of two DAGs in every state, created a day apart."""
    made = {}
    for n, state in enumerate(["decided", "expired", "cancelled", "pending", "decided-other-dag"]):
        created = T0 + timedelta(days=n)
        dag_id = "other" if state.endswith("other-dag") else "deploy"
        request = make_request(dag_id=dag_id, now=created, expires_at=created + timedelta(minutes=30))
        if state.startswith("decided"):
            store.record_decision(
                request.request_id,
                option="approve",
                responder_id=REVIEWER,
                mid=f"m{n}",
                now=created,
                messages=lambda r: [
                    OutboxMessage("instagram", REVIEWER, "✅ Recorded", request_id=r.request.request_id)
                ],
            )
        elif state == "expired":
            store.expire_request(request.request_id, now=created + timedelta(minutes=30))
        elif state == "cancelled":
            store.cancel_request(request.request_id, "the task was cleared", now=created)
        made[state] = request
    return made


class TestListRequests:
    def test_newest_first_with_filters(self, store, history):
        maintenance = store.maintenance
        now = T0 + timedelta(days=10)

        everything = maintenance.list_requests()
        deploy_pending = maintenance.list_requests(dag_id="deploy", status="pending")
        old = maintenance.list_requests(older_than=timedelta(days=8), now=now)

        assert [r.request_id for r in everything] == [
            history[s].request_id for s in ["decided-other-dag", "pending", "cancelled", "expired", "decided"]
        ]
        assert [r.request_id for r in deploy_pending] == [history["pending"].request_id]
        assert [r.request_id for r in old] == [history["expired"].request_id, history["decided"].request_id]
        assert [r.responses for r in everything] == [1, 0, 0, 0, 1]
        assert maintenance.list_requests(limit=2) == everything[:2]


class TestAuditTrail:
    def test_request_recipients_responses_and_messages(self, store, history):
        request, messages = store.maintenance.audit_trail(history["decided"].request_id)

        assert request.status is RequestStatus.DECIDED
        assert tuple(r.recipient_id for r in request.recipients) == (REVIEWER, OTHER_REVIEWER)
        assert [(r.responder_id, r.option, r.mid) for r in request.responses] == [(REVIEWER, "approve", "m0")]
        assert [(m.item.text, m.state, m.sent_at) for m in messages] == [("✅ Recorded", "pending", None)]

    def test_unknown(self, store, history):
        assert store.maintenance.audit_trail("0" * 32) is None


class TestOverdue:
    def test_pending_past_the_deadline_by_more_than_the_grace(self, store, make_request):
        now = datetime.now(timezone.utc)
        long_ago = make_request(expires_at=now - timedelta(hours=2))
        make_request(expires_at=now - timedelta(minutes=5))
        make_request(expires_at=now + timedelta(hours=1))

        overdue = store.maintenance.overdue(grace=timedelta(minutes=15), now=now)

        assert overdue == [(long_ago.request_id, long_ago.expires_at)]
        assert len(store.maintenance.overdue(now=now)) == 2


class TestPrune:
    def test_deletes_closed_requests_in_batches_and_keeps_pending_ones(self, store, history):
        now = T0 + timedelta(days=10)

        deleted = store.maintenance.prune(timedelta(days=5), batch_size=2, now=now)

        assert deleted == 4
        assert [r.request_id for r in store.maintenance.list_requests()] == [history["pending"].request_id]
        assert store.outbox.counts() == {}
        assert store.maintenance.integrity_problems() == []

    def test_nothing_younger_than_the_age(self, store, history):
        assert store.maintenance.prune(timedelta(days=30), now=T0 + timedelta(days=10)) == 0
        assert len(store.maintenance.list_requests()) == 5

    def test_batch_size_must_be_positive(self, store):
        with pytest.raises(ValueError, match="batch_size"):
            store.maintenance.prune(timedelta(days=1), batch_size=0)
