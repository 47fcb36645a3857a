"""get_states: many requests in one statement, for the trigger's batched poll."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

from airflow_provider_instagram_hil.ids import new_request_id
from airflow_provider_instagram_hil.store import RequestState, RequestStatus

from .store_support import REVIEWER, T0

DEADLINE = T0 + timedelta(minutes=30)
MANY = 120


@contextmanager
def count_statements(engine):
    """Collect every SQL statement sent to the database through ``engine``."""
    statements: list[str] = []

    def _record(_conn, _cursor, statement, _parameters, _context, _executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", _record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _record)


@pytest.fixture
def mixed(store, make_request):
    """MANY requests: every third decided, every fifth expired with the default, the rest pending."""
    requests = [make_request(expires_at=DEADLINE, default_option="reject") for _ in range(MANY)]
    for n, request in enumerate(requests):
        if n % 3 == 0:
            store.record_decision(request.request_id, option="approve", responder_id=REVIEWER, now=T0)
        elif n % 5 == 0:
            store.expire_request(request.request_id, now=DEADLINE)
    return [store.get_request(request.request_id) for request in requests]


class TestGetStates:
    def test_many_ids_in_one_statement(self, store, mixed):
        unknown = [new_request_id() for _ in range(20)]
        ids = [request.request_id for request in mixed] + unknown

        with count_statements(store.engine) as statements:
            states = store.get_states(ids)

        # One statement for the states and the responses of all of them.
        assert len(statements) == 1, statements
        assert states == {request.request_id: request.state for request in mixed}

    def test_resolved_only_in_one_statement(self, store, mixed):
        with count_statements(store.engine) as statements:
            states = store.get_states([request.request_id for request in mixed], resolved_only=True)

        assert len(statements) == 1
        resolved = {r.request_id: r.state for r in mixed if r.status is not RequestStatus.PENDING}
        assert states == resolved
        assert all(state.status is not RequestStatus.PENDING for state in states.values())

    def test_state_fields(self, store, mixed):
        decided, pending, expired = mixed[0], mixed[1], mixed[5]

        states = store.get_states({decided.request_id, pending.request_id, expired.request_id})

        assert states[decided.request_id] == RequestState(
            request_id=decided.request_id,
            status=RequestStatus.DECIDED,
            chosen_option="approve",
            responded_by=REVIEWER,
            responded_at=T0,
            timed_out=False,
            expires_at=DEADLINE,
            responses=decided.responses,
        )
        assert [(r.responder_id, r.option) for r in decided.responses] == [(REVIEWER, "approve")]
        assert states[pending.request_id].status is RequestStatus.PENDING
        assert states[expired.request_id].timed_out
        assert states[expired.request_id].chosen_option == "reject"

    def test_no_ids_no_statement(self, store):
        store.ensure_schema()

        with count_statements(store.engine) as statements:
            assert store.get_states([]) == {}

        assert statements == []

    def test_ids_that_cannot_exist_are_left_out(self, store, mixed):
        ids = [mixed[0].request_id, "", "x\x00y", "\ud800", "z" * 500]

        assert store.get_states(ids) == {mixed[0].request_id: mixed[0].state}
