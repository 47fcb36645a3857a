"""The batched state reads a poller needs: many requests' states, with their responses, in one query."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Select

from airflow_provider_instagram_hil.store.models import RequestState, RequestStatus, Response
from airflow_provider_instagram_hil.store.rows import response_from_row, state_from_row
from airflow_provider_instagram_hil.store.schema import requests, responses

_STATE_COLUMNS = (
    requests.c.request_id,
    requests.c.status,
    requests.c.chosen_option,
    requests.c.responded_by,
    requests.c.responded_at,
    requests.c.timed_out,
    requests.c.expires_at,
    requests.c.closed_reason,
)


def same_task(request: Any, other: Any) -> ColumnElement[bool]:
    """Two aliases of the requests table name the same task instance (any tries)."""
    return and_(*(other.c[name] == request.c[name] for name in ("dag_id", "run_id", "task_id", "map_index")))


_later = requests.alias("later")
#: Whether a later try of the same task instance registered a request (the unique index answers it).
_NEWER_TRY = (
    select(_later.c.request_id)
    .where(same_task(requests, _later), _later.c.try_number > requests.c.try_number)
    .exists()
    .label("newer_try")
)
_RESPONSE_COLUMNS = (
    responses.c.responder_id,
    responses.c.channel,
    responses.c.option,
    responses.c.reason,
    responses.c.mid,
    responses.c.received_at,
    responses.c.source,
)


@functools.cache
def _ids_query(dialect: str, resolved_only: bool) -> Select[Any]:
    """The state query for a list of ids sent as ONE parameter where the database allows it.

    A poller sends thousands of ids every tick; an expanded ``IN (?, ?, ...)`` costs the client far
    more CPU (rendering and binding each placeholder) than a JSON text (SQLite) or an array (PostgreSQL).
    The responses come in the same statement (one row per response), so a tick stays one query.
    """
    query = (
        select(*_STATE_COLUMNS, _NEWER_TRY, *_RESPONSE_COLUMNS)
        .select_from(requests.outerjoin(responses, responses.c.request_id == requests.c.request_id))
        .where(_id_in(requests.c.request_id, dialect))
        .order_by(responses.c.id)
    )
    if resolved_only:
        query = query.where(requests.c.status != RequestStatus.PENDING.value)
    return query


def _id_in(column: Any, dialect: str) -> ColumnElement[bool]:
    if dialect == "sqlite":
        ids: Select[Any] = select(literal_column("value")).select_from(func.json_each(bindparam("ids")))
        return column.in_(ids.scalar_subquery())
    if dialect == "postgresql":
        return column == any_(bindparam("ids", type_=ARRAY(String)))
    return column.in_(bindparam("ids", expanding=True))


_CLOSED_SINCE = (
    select(*_STATE_COLUMNS, _NEWER_TRY, *_RESPONSE_COLUMNS)
    .select_from(requests.outerjoin(responses, responses.c.request_id == requests.c.request_id))
    .where(
        requests.c.responded_at >= bindparam("since", type_=requests.c.responded_at.type),
        requests.c.status != RequestStatus.PENDING.value,
    )
    .order_by(responses.c.id)
)


def _states(rows: Sequence[Any]) -> dict[str, RequestState]:
    """States from rows of a state query: one row per response (or one without, for none)."""
    first: dict[str, Any] = {}
    answers: dict[str, list[Response]] = {}
    for row in rows:
        first.setdefault(row.request_id, row)
        if row.responder_id is not None:
            answers.setdefault(row.request_id, []).append(response_from_row(row))
    return {rid: state_from_row(row, answers.get(rid, ())) for rid, row in first.items()}


def _ids_param(dialect: str, request_ids: list[str]) -> object:
    return json.dumps(request_ids) if dialect == "sqlite" else request_ids


def read_states(conn: Connection, request_ids: list[str], *, resolved_only: bool) -> dict[str, RequestState]:
    """The states of ``request_ids`` (those that exist), with their responses, in one query.

    :param resolved_only: leave out requests still pending.
    """
    dialect = conn.dialect.name
    rows = conn.execute(_ids_query(dialect, resolved_only), {"ids": _ids_param(dialect, request_ids)}).all()
    return _states(rows)


def read_closed_since(conn: Connection, since: datetime) -> dict[str, RequestState]:
    """The requests closed at or after ``since``, with their responses, in one indexed query."""
    return _states(conn.execute(_CLOSED_SINCE, {"since": since}).all())
