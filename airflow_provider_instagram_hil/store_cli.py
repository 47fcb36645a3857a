"""``instagram-hil store ...`` and ``instagram-hil requests ...``: create, check, list, audit and prune.

Every command takes ``--url`` (default ``[instagram_hil] store_url``) and never creates tables it only
reads. Output is plain text for people, or JSON with ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_instagram_hil.store import ApprovalRequest, DecisionStore, RequestStatus
from airflow_provider_instagram_hil.store.engine import StoreTimeouts, build_engine
from airflow_provider_instagram_hil.store.maintenance import ORPHAN_GRACE, SentMessage

#: Time limits of the commands' database calls (the webhook's defaults answer Meta within 5 s).
COMMAND_TIMEOUTS = StoreTimeouts(connect=10.0, statement=600.0, lock=30.0, pool=30.0)

EXIT_OK = 0
EXIT_FAILURE = 1

_TS = "%Y-%m-%d %H:%M:%S"
_AGE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``store`` and ``requests`` commands to the ``instagram-hil`` parser."""
    store = commands.add_parser("store", help="create and check the decision store")
    store_commands = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    init = store_commands.add_parser("init", help="create the tables, or check that existing ones are usable")
    init.set_defaults(handler=store_init)
    check = store_commands.add_parser(
        "check", help="report rows that break the store's invariants and orphaned requests (exit 1 if any)"
    )
    check.set_defaults(handler=store_check)

    requests = commands.add_parser("requests", help="list, audit and prune approval requests")
    request_commands = requests.add_subparsers(dest="requests_command", required=True, metavar="ACTION")
    listing = request_commands.add_parser("list", help="list requests, newest first")
    listing.add_argument("--dag-id", help="only this DAG's requests")
    listing.add_argument(
        "--status", choices=[s.value for s in RequestStatus], help="only requests in this status"
    )
    listing.add_argument(
        "--older-than", type=age, metavar="AGE", help="only requests created before, e.g. 7d"
    )
    listing.add_argument("--limit", type=_positive, default=50, help="at most this many (default 50)")
    listing.set_defaults(handler=requests_list)
    show = request_commands.add_parser("show", help="one request with its audit trail")
    show.add_argument("request_id")
    show.set_defaults(handler=requests_show)
    prune = request_commands.add_parser(
        "prune", help="delete closed requests older than AGE, with their rows (safe while the webhook runs)"
    )
    prune.add_argument("--older-than", type=age, metavar="AGE", required=True, help="e.g. 30d, 12h, 2w")
    prune.add_argument(
        "--batch-size", type=_positive, default=500, help="requests per transaction (default 500)"
    )
    prune.set_defaults(handler=requests_prune)

    for parser in (init, check, listing, show, prune):
        parser.add_argument("--url", help="SQLAlchemy URL of the store (default: [instagram_hil] store_url)")
    for parser in (check, listing, show):
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def age(text: str) -> timedelta:
    """Parse an age such as ``30d``, ``12h``, ``1d12h`` or ``90s``."""
    parts = _AGE.findall(text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != text.strip().lower():
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 30d, 12h, 1d12h or 90s")
    return sum((timedelta(**{_UNITS[unit]: int(n)}) for n, unit in parts), timedelta())


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _open(args: argparse.Namespace, *, create: bool = False) -> DecisionStore:
    from airflow_provider_instagram_hil.config import get_store_url

    url = get_store_url(args.url)
    # An operator at a terminal can wait longer than Meta: checking or pruning a big store takes time.
    return DecisionStore(str(url), create=create, engine=build_engine(str(url), COMMAND_TIMEOUTS))


# -- store ----------------------------------------------------------------------------------------------


def store_init(args: argparse.Namespace) -> int:
    from airflow_provider_instagram_hil.store.schema import SCHEMA_VERSION

    store = _open(args, create=True)
    try:
        store.ensure_schema()
        print(f"Decision store ready: {store.display_url} (schema {SCHEMA_VERSION})")
    finally:
        store.dispose()
    return EXIT_OK


def store_check(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        problems = store.maintenance.integrity_problems()
        counts = store.maintenance.count_by_status()
        overdue = store.maintenance.overdue()
        outbox = store.outbox.counts()
    finally:
        store.dispose()
    orphaned = [(rid, due) for rid, due in overdue if due <= _now() - ORPHAN_GRACE]
    for rid, due in orphaned:
        problems.append(
            f"{rid}: pending {_ago(due)} past its deadline ({due:%Y-%m-%d %H:%M} UTC): no trigger is "
            "closing it (its task was stopped without a cancel, or the triggerer is down). Check the task; "
            "`instagram-hil requests show` has its history."
        )
    if args.json:
        print(json.dumps({"counts": counts, "outbox": outbox, "overdue": len(overdue), "problems": problems}))
        return EXIT_FAILURE if problems else EXIT_OK
    summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "no requests"
    print(f"Decision store {store.display_url}: {summary}")
    if outbox:
        print("Outbox: " + ", ".join(f"{count} {state}" for state, count in sorted(outbox.items())))
    if len(overdue) > len(orphaned):
        print(
            f"{len(overdue) - len(orphaned)} pending request(s) just past their deadline "
            "(their triggers close them)"
        )
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_FAILURE
    print("No integrity problems")
    return EXIT_OK


# -- requests -------------------------------------------------------------------------------------------


def requests_list(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        rows = store.maintenance.list_requests(
            dag_id=args.dag_id, status=args.status, older_than=args.older_than, limit=args.limit
        )
    finally:
        store.dispose()
    if args.json:
        print(json.dumps(_jsonable(rows)))
        return EXIT_OK
    if not rows:
        print("No requests")
        return EXIT_OK
    print(f"{'REQUEST':<32}  {'STATUS':<10}  {'OPTION':<20}  {'ANS':>3}  {'CREATED (UTC)':<16}  TASK")
    for row in rows:
        task = f"{row.dag_id}.{row.task_id}" + (f"[{row.map_index}]" if row.map_index >= 0 else "")
        print(
            f"{row.request_id:<32}  {row.status:<10}  {(row.chosen_option or '-'):<20}  {row.responses:>3}  "
            f"{row.created_at:%Y-%m-%d %H:%M}  {task} {row.run_id} try {row.try_number}"
        )
    return EXIT_OK


def requests_show(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        found = store.maintenance.audit_trail(args.request_id)
    finally:
        store.dispose()
    if found is None:
        print(f"instagram-hil: error: no request {args.request_id!r} in {store.display_url}", file=sys.stderr)
        return EXIT_FAILURE
    request, messages = found
    if args.json:
        print(
            json.dumps(_jsonable({"request": request.__dict__, "messages": [m.__dict__ for m in messages]}))
        )
        return EXIT_OK
    for line in audit_lines(request, messages):
        print(line)
    return EXIT_OK


def audit_lines(request: ApprovalRequest, messages: list[SentMessage]) -> list[str]:
    """The audit trail of one request as lines of text: what was asked, of whom, and what happened."""
    task = f"{request.dag_id}.{request.task_id}" + (
        f"[{request.map_index}]" if request.map_index >= 0 else ""
    )
    lines = [
        f"Request {request.request_id}",
        f"  task        {task}, run {request.run_id}, try {request.try_number} ({request.source})",
        f"  subject     {request.subject or '-'}",
        f"  options     {' / '.join(request.options)}"
        + (f" (rejections: {', '.join(request.reject_options)})" if request.reject_options else ""),
        f"  policy      {request.policy.describe()}; "
        f"default {request.default_option or 'none (the task fails)'}",
        f"  created     {request.created_at:{_TS}} UTC, deadline {request.expires_at:{_TS}} UTC",
        f"  status      {_status_line(request)}",
        "Recipients",
    ]
    for r in request.recipients:
        prompted = f"prompted {r.prompted_at:{_TS}}" if r.prompted_at else "not prompted"
        error = f" ({r.delivery_error})" if r.delivery_error else ""
        lines.append(
            f"  {r.channel:<9} {r.label:<20} {r.role.value:<10} {prompted}, "
            f"delivery {r.delivery.value}{error}"
        )
    lines.append("Responses" if request.responses else "Responses   none")
    for a in request.responses:
        reason = f' "{a.reason}"' if a.reason else ""
        lines.append(
            f"  {a.received_at:{_TS}}  {request.label_of(a.responder_id)} chose {a.option}{reason} "
            f"({a.source}, event {a.mid or '-'})"
        )
    lines.append("Messages" if messages else "Messages    none")
    for m in messages:
        when = f"sent {m.sent_at:%H:%M:%S}" if m.sent_at else m.state
        error = f", last error: {m.last_error}" if m.last_error else ""
        lines.append(
            f"  {m.created_at:{_TS}}  {m.item.kind} to {m.item.recipient_id} on {m.item.channel}: "
            f"{when}, {m.item.attempts} attempt(s){error}: {m.item.text!r}"
        )
    return lines


def _status_line(request: ApprovalRequest) -> str:
    status = request.status.value
    if request.status is RequestStatus.PENDING:
        return status
    when = f" at {request.responded_at:{_TS}} UTC" if request.responded_at else ""
    if request.chosen_option is not None:
        who = "the timeout default" if request.timed_out else request.label_of(request.responded_by)
        return f"{status}: {request.chosen_option} by {who}{when}"
    return f"{status}{when}" + (f" ({request.closed_reason})" if request.closed_reason else "")


def requests_prune(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        deleted = store.maintenance.prune(args.older_than, batch_size=args.batch_size)
    finally:
        store.dispose()
    print(
        f"Deleted {deleted} closed request(s) created more than {args.older_than} ago "
        f"from {store.display_url}"
    )
    return EXIT_OK


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(value.__dict__)
    return value


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _ago(when: datetime) -> str:
    minutes = int((_now() - when).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
