"""Scale-out: hundreds of approvals waiting at once in a multi-host Celery deployment that loses parts.

The hosts are network namespaces (``cluster.py`` draws the layout). Every run of ``scaleout_approvals``
asks its own reviewer; once all of them wait, "Meta" delivers each reviewer's signed tap to the two
webhook replicas in turn (retrying on the other replica when one does not answer, and delivering some taps
twice, as Meta does), while one webhook replica, one triggerer and one Celery worker are killed with
SIGKILL at random moments and started again.

Pass: every approval task ends once (one try) with its own reviewer's option, and its downstream task
sees that option; every request has exactly one response; every reviewer got exactly one prompt; each
triggerer's poller read the store once per interval for all its waiting requests, over one listener.
The figures are printed and written to ``benchmarks/results/scaleout.json``.

Opt-in: ``make scaleout`` (``INSTAGRAM_HIL_SCALEOUT=1``); needs root, ``ip netns``, PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_instagram_hil.sandbox.airflow_api import AirflowApiError
from airflow_provider_instagram_hil.sandbox.reviewer import post_signed, quick_reply_event

pytestmark = [pytest.mark.scaleout, pytest.mark.e2e, pytest.mark.timeout(1800)]

OPT_IN = "INSTAGRAM_HIL_SCALEOUT"
REQUIRED = "INSTAGRAM_HIL_REQUIRE_SCALEOUT"
if os.environ.get(OPT_IN) != "1":
    pytest.skip(
        f"opt-in suite: run `make scaleout` ({OPT_IN}=1; needs root, ip netns, PostgreSQL and Redis)",
        allow_module_level=True,
    )

from .cluster import HOSTS, ScaleoutCluster, on_host  # noqa: E402
from .netns import HostNetwork  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).resolve().parent / "dags"
DAG_ID = "scaleout_approvals"
OPTIONS = ("Ship", "Ship later", "Ship to staging")
TASKS = int(os.environ.get("INSTAGRAM_HIL_SCALEOUT_TASKS", "320"))
POLL_INTERVAL = 2.0
#: Seconds over which the taps are spread (the kills fall inside).
BURST_SECONDS = float(os.environ.get("INSTAGRAM_HIL_SCALEOUT_BURST", str(max(30.0, TASKS * 0.15))))
REDELIVERED_SHARE = 0.1
REVIEWER_BASE = 6200000000100000
RESULTS = REPO / "benchmarks" / "results" / "scaleout.json"
POSTGRES_URL = os.environ.get("INSTAGRAM_HIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("INSTAGRAM_HIL_SCALEOUT_REDIS", "redis://127.0.0.1:6379")


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRED) == "1" or (
        "PostgreSQL" in reason and os.environ.get("INSTAGRAM_HIL_REQUIRE_POSTGRES") == "1"
    ):
        pytest.fail(f"{reason} ({REQUIRED}=1 or INSTAGRAM_HIL_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


# -- fixtures: hosts, databases, the deployment -----------------------------------------------------------


@pytest.fixture(scope="module")
def network() -> Iterator[HostNetwork]:
    why = HostNetwork.check()
    if why:
        _unavailable(f"scale-out hosts are network namespaces: {why}")
    try:
        import airflow.providers.celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        _unavailable(f"the scaleout extra is not installed ({exc}); `make scaleout` installs it")
    net = HostNetwork(HOSTS)
    net.create()
    try:
        yield net
    finally:
        left = net.remove()
        assert left == [], f"could not delete: {left}"
        assert net.leftovers() == []


@pytest.fixture(scope="module")
def redis_db() -> Iterator[int]:
    """An empty Redis database number for the broker; flushed at the end."""
    import redis

    chosen = None
    try:
        for number in range(15, 0, -1):
            client = redis.Redis.from_url(f"{REDIS_URL}/{number}", socket_timeout=5)
            if client.dbsize() == 0:
                chosen = client
                break
            client.close()
    except redis.RedisError as exc:
        _unavailable(f"Redis at {REDIS_URL} is unreachable: {type(exc).__name__}")
    if chosen is None:
        _unavailable(f"no empty database on Redis at {REDIS_URL}")
    assert chosen is not None
    number = int(chosen.connection_pool.connection_kwargs["db"])
    try:
        yield number
    finally:
        chosen.flushdb()
        chosen.close()


@pytest.fixture(scope="module")
def databases() -> Iterator[tuple[str, str]]:
    """Airflow's metadata database and the decision store: two new databases, dropped at the end."""
    from airflow_provider_instagram_hil.sandbox.services import temporary_postgres_database

    try:
        import psycopg

        psycopg.connect(POSTGRES_URL, connect_timeout=5).close()
    except Exception as exc:
        _unavailable(f"PostgreSQL at {POSTGRES_URL} is unreachable: {type(exc).__name__}")
    with (
        temporary_postgres_database(POSTGRES_URL, "ighil_scaleout_airflow") as airflow_db,
        temporary_postgres_database(POSTGRES_URL, "ighil_scaleout_store") as store_db,
    ):
        yield airflow_db, store_db


@pytest.fixture(scope="module")
def cluster(network, databases, redis_db, tmp_path_factory) -> Iterator[ScaleoutCluster]:
    airflow_db, store_db = databases
    gateway = network.gateway
    stats = tmp_path_factory.mktemp("scaleout") / "pg-statements.json"
    with ScaleoutCluster(
        DAGS,
        network=network,
        database_url=on_host(airflow_db, gateway),
        store_url=on_host(store_db, gateway),
        broker_url=f"redis://{gateway}:6379/{redis_db}",
        stats_path=stats,
        poll_interval=POLL_INTERVAL,
    ) as deployment:
        deployment.admin_db_url = airflow_db  # type: ignore[attr-defined]
        deployment.admin_store_url = store_db  # type: ignore[attr-defined]
        deployment.admin.wait_for_dag(DAG_ID, timeout=300)
        yield deployment


# -- the run ---------------------------------------------------------------------------------------------


@dataclass
class Tap:
    run_id: str
    reviewer: str
    option: str
    payload: str = ""
    mid: str = ""
    first_sent: float = 0.0  # wall clock (epoch seconds)
    delivered: float = 0.0
    attempts: int = 0
    redelivered: bool = False
    replicas: list[str] = field(default_factory=list)


class Meta:
    """Delivers signed taps to the webhook replicas in turn; a failed delivery is retried on the next."""

    def __init__(self, cluster: ScaleoutCluster) -> None:
        self.cluster = cluster
        self._turn = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self.failed_attempts = 0

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _next(self) -> tuple[str, str]:
        with self._lock:
            hosts = sorted(self.cluster.webhook_urls)
            host = hosts[self._turn % len(hosts)]
            self._turn += 1
            return host, self.cluster.webhook_urls[host]

    def deliver(self, tap: Tap, *, deadline: float) -> bool:
        event = quick_reply_event(tap.payload, sender_id=tap.reviewer, title=tap.option, mid=tap.mid)
        while time.monotonic() < deadline:
            host, url = self._next()
            tap.attempts += 1
            tap.replicas.append(host)
            try:
                response = post_signed(
                    url, event, self.cluster.app_secret, session=self._session(), timeout=10
                )
                if response.status_code == 200:
                    return True
            except requests.RequestException:
                pass
            with self._lock:
                self.failed_attempts += 1
            time.sleep(0.2)
        return False


def _start_run(admin: Any, run_id: str, conf: dict[str, Any]) -> None:
    """Create one DAG run; a retry after a timeout finds it created (409) instead of adding another."""
    body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
    for attempt in range(5):
        try:
            admin.call("POST", f"/dags/{DAG_ID}/dagRuns", json=body)
            return
        except requests.RequestException:
            time.sleep(1.0 + attempt)
        except AirflowApiError as exc:
            if exc.status == 409 and attempt:
                return
            raise
    raise AssertionError(f"could not create run {run_id}")


def _db(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _task_rows(cluster: ScaleoutCluster) -> dict[tuple[str, str], dict[str, Any]]:
    with _db(cluster.admin_db_url) as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            "SELECT run_id, task_id, state, try_number, end_date FROM task_instance WHERE dag_id = %s",
            (DAG_ID,),
        ).fetchall()
    return {(r[0], r[1]): {"state": r[2], "try_number": r[3], "end_date": r[4]} for r in rows}


def _xcoms(cluster: ScaleoutCluster) -> dict[tuple[str, str], Any]:
    with _db(cluster.admin_db_url) as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            "SELECT run_id, task_id, value FROM xcom WHERE dag_id = %s AND key = 'return_value'", (DAG_ID,)
        ).fetchall()
    # The value column is JSON: psycopg decodes it.
    return {(r[0], r[1]): r[2] for r in rows}


def _wait(check, timeout: float, what: str, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is True or (last and not isinstance(last, (str, dict, list))):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {str(last)[:2000]}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _store_reads(stats_path: Path, store_db: str, address: str) -> dict[str, int]:
    """Statements one host sent to the decision store so far, by kind."""
    try:
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    counts: Counter[str] = Counter()
    for statement, n in stats.get(f"{address} {store_db}", {}).items():
        lowered = statement.lower()
        if lowered.startswith("listen"):
            counts["listen"] += n
        elif lowered.startswith("select") and "ighil_requests" in lowered and "responded_at >=" in lowered:
            counts["closed_since"] += n
        elif lowered.startswith("select") and "ighil_requests" in lowered:
            counts["state_reads"] += n
        elif lowered.startswith("select"):
            counts["other_selects"] += n
        elif lowered == ";":
            counts["pings"] += n  # the connection pool's liveness check
        else:
            counts[lowered.split(" ", 1)[0] or "?"] += n
    return dict(counts)


def test_hundreds_of_approvals_survive_losing_a_replica_of_each_kind(cluster: ScaleoutCluster) -> None:
    started = time.monotonic()
    store_db = cluster.admin_store_url.rsplit("/", 1)[1]  # type: ignore[attr-defined]
    rng = random.Random()
    admin = cluster.admin

    # 1. TASKS runs, each asking its own reviewer: created while the DAG is paused, then all let go.
    reviewers: dict[str, str] = {}
    for i in range(TASKS):
        reviewer = str(REVIEWER_BASE + i)
        run_id = f"scaleout__{i:04d}"
        _start_run(admin, run_id, {"reviewer": reviewer, "item": i})
        reviewers[run_id] = reviewer
    admin.unpause(DAG_ID)
    triggered = time.monotonic()

    # 2. All of them waiting: deferred, prompted, and the scheduler has seen each parking worker exit
    #    (Airflow 3.3.2 fails a task answered before that; see AirflowServices.wait_until_released).
    released = re.compile(
        rf"Received executor event with state success for task instance "
        rf"TaskInstanceKey\(dag_id='{DAG_ID}', task_id='approve', run_id='([^']+)'"
    )

    def all_waiting() -> bool | str:
        rows = _task_rows(cluster)
        states = Counter(rows.get((run, "approve"), {}).get("state") for run in reviewers)
        seen = len(set(released.findall(cluster.component_log("scheduler"))))
        return (states["deferred"] == TASKS and seen >= TASKS) or f"{dict(states)}, {seen} released"

    _wait(all_waiting, 300 + TASKS * 3, f"{TASKS} approval tasks to wait")
    prompts = [m for m in cluster.sent_messages() if m.get("options")]
    assert len(prompts) == TASKS
    all_waiting_at = time.monotonic()

    # 3. While all wait and nothing is answered: each triggerer reads the store once per interval.
    window = 5 * POLL_INTERVAL
    addresses = {n: cluster.network.addresses[f"trig{n}"] for n in (1, 2)}
    before = {n: _store_reads(cluster.stats_path, store_db, a) for n, a in addresses.items()}
    time.sleep(window + 0.6)  # a measuring window: the statement counts are taken over real time
    after = {n: _store_reads(cluster.stats_path, store_db, a) for n, a in addresses.items()}
    with _db(cluster.admin_db_url) as conn:  # type: ignore[attr-defined]
        shares = dict(
            conn.execute(
                "SELECT triggerer_id, count(*) FROM trigger WHERE classpath LIKE %s GROUP BY triggerer_id",
                ("%InstagramDecisionTrigger",),
            ).fetchall()
        )
    poller: dict[str, Any] = {"window_seconds": window, "poll_interval": POLL_INTERVAL, "shares": {}}
    for n in (1, 2):
        reads = after[n].get("state_reads", 0) - before[n].get("state_reads", 0)
        poller[f"triggerer_{n}"] = {
            "state_reads_in_window": reads,
            "statements_in_window": {k: after[n].get(k, 0) - before[n].get(k, 0) for k in after[n]},
            "listen_statements": after[n].get("listen", 0),
        }
    poller["shares"] = {str(k): v for k, v in shares.items()}
    assert sum(shares.values()) == TASKS
    assert len(shares) == 2, f"both triggerers hold triggers: {shares}"
    for n in (1, 2):
        stats = poller[f"triggerer_{n}"]
        # One read per interval for its whole share (one per trigger would be share x window/interval).
        assert 1 <= stats["state_reads_in_window"] <= window / POLL_INTERVAL + 2, poller
        assert stats["listen_statements"] == 1, poller

    # 4. The burst: every reviewer taps (some taps delivered twice); kills at random moments.
    by_reviewer = {m["recipient_id"]: m for m in prompts}
    taps = []
    for run_id, reviewer in reviewers.items():
        option = rng.choice(OPTIONS)
        payload = {q["title"]: q["payload"] for q in by_reviewer[reviewer]["options"]}[option]
        taps.append(
            Tap(run_id, reviewer, option, payload=payload, mid=f"aWdfscaleout{rng.getrandbits(64):x}")
        )
    rng.shuffle(taps)
    for tap in rng.sample(taps, int(len(taps) * REDELIVERED_SHARE)):
        tap.redelivered = True
    meta = Meta(cluster)
    kills: list[dict[str, Any]] = []
    # A webhook replica and a triggerer die at random moments of the burst; a worker at a random moment
    # while the workers run the resumed runs' downstream tasks (before that they have nothing to lose).
    kill_at = {kind: rng.uniform(0.1, 0.75) * BURST_SECONDS for kind in ("webhook", "triggerer", "worker")}
    burst_start = time.monotonic()
    deadline = burst_start + BURST_SECONDS + 300

    def running_downstream() -> int:
        return sum(
            1
            for (_run, task), row in _task_rows(cluster).items()
            if task == "use_decision" and row["state"] == "running"
        )

    def chaos(kind: str) -> None:
        time.sleep(max(0.0, burst_start + kill_at[kind] - time.monotonic()))
        running = None
        if kind == "worker":
            while (running := running_downstream()) < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(rng.uniform(0.0, 3.0))
        name = f"{kind}-{rng.choice((1, 2))}"
        cluster.components[name].kill()
        killed = time.monotonic()
        time.sleep(rng.uniform(1.0, 4.0))
        cluster.restart(name)
        kill = {
            "component": name,
            "at_seconds": round(killed - burst_start, 1),
            "down_seconds": round(time.monotonic() - killed, 1),
        }
        if running is not None:
            kill["downstream_tasks_running_in_the_deployment"] = running
        kills.append(kill)

    def send(index: int, tap: Tap) -> None:
        time.sleep(max(0.0, burst_start + index * BURST_SECONDS / len(taps) - time.monotonic()))
        tap.first_sent = time.time()
        if meta.deliver(tap, deadline=deadline):
            tap.delivered = time.time()
        if tap.redelivered:
            meta.deliver(tap, deadline=deadline)

    chaos_threads = [threading.Thread(target=chaos, args=(kind,), name=f"kill-{kind}") for kind in kill_at]
    for thread in chaos_threads:
        thread.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda it: send(*it), enumerate(taps)))
    finally:
        for thread in chaos_threads:
            thread.join()
    burst_seconds = time.monotonic() - burst_start
    assert [t.run_id for t in taps if not t.delivered] == []

    # 5. Everything ends; then the checks.
    def all_done() -> bool | str:
        rows = _task_rows(cluster)
        terminal = {"success", "failed", "skipped", "upstream_failed"}
        states = Counter(
            rows.get((run, task), {}).get("state")
            for run in reviewers
            for task in ("approve", "use_decision")
        )
        return sum(states[s] for s in terminal) == 2 * TASKS or str(dict(states))

    _wait(all_done, 600, "every task to end")
    ended = time.monotonic()
    rows, xcoms = _task_rows(cluster), _xcoms(cluster)
    chosen = {tap.run_id: tap for tap in taps}
    wrong_decision = [
        run
        for run in reviewers
        if rows[(run, "approve")]["state"] != "success"
        or (xcoms.get((run, "approve")) or {}).get("chosen_option") != chosen[run].option
        or xcoms.get((run, "use_decision")) != chosen[run].option
    ]
    resumed_twice = [run for run in reviewers if rows[(run, "approve")]["try_number"] != 1]
    with _db(cluster.admin_store_url) as conn:  # type: ignore[attr-defined]
        requests_per_run = dict(
            conn.execute(
                "SELECT run_id, count(*) FROM ighil_requests WHERE dag_id = %s GROUP BY run_id", (DAG_ID,)
            ).fetchall()
        )
        closed = conn.execute(
            "SELECT run_id, status, chosen_option, responded_by, responded_at FROM ighil_requests "
            "WHERE dag_id = %s",
            (DAG_ID,),
        ).fetchall()
        decided = {run: (status, option, by) for run, status, option, by, _at in closed}
        recorded_at = {run: at for run, _s, _o, _b, at in closed}
        responses = dict(
            conn.execute(
                "SELECT q.run_id, count(r.id) FROM ighil_requests q LEFT JOIN ighil_responses r "
                "ON r.request_id = q.request_id WHERE q.dag_id = %s GROUP BY q.run_id",
                (DAG_ID,),
            ).fetchall()
        )
    store_wrong = [
        run for run in reviewers if decided.get(run) != ("decided", chosen[run].option, reviewers[run])
    ]
    applied_twice = [run for run in reviewers if responses.get(run) != 1 or requests_per_run.get(run) != 1]
    prompts_per_reviewer = Counter(m["recipient_id"] for m in cluster.sent_messages() if m.get("options"))
    prompted_twice = sorted(r for r, n in prompts_per_reviewer.items() if n != 1)
    latencies = [
        (rows[(tap.run_id, "approve")]["end_date"].timestamp() - tap.first_sent)
        for tap in taps
        if rows[(tap.run_id, "approve")]["end_date"] is not None
    ]
    # Where the time goes: the tap until the webhook committed it, then until the task ended.
    to_record = [recorded_at[t.run_id].timestamp() - t.first_sent for t in taps if recorded_at.get(t.run_id)]
    to_end = [
        rows[(run, "approve")]["end_date"].timestamp() - at.timestamp()
        for run, at in recorded_at.items()
        if at is not None and rows.get((run, "approve"), {}).get("end_date") is not None
    ]
    use_retries = sum(1 for run in reviewers if (rows[(run, "use_decision")]["try_number"] or 0) > 1)

    figures = {
        "tasks": TASKS,
        "taps": len(taps),
        "tap_deliveries": sum(t.attempts for t in taps),
        "failed_deliveries_retried": meta.failed_attempts,
        "redelivered_taps": sum(t.redelivered for t in taps),
        "kills": kills,
        "lost": len(set(wrong_decision) | set(store_wrong)),
        "duplicated": len(set(resumed_twice) | set(applied_twice)) + len(prompted_twice),
        "prompted_twice": len(prompted_twice),
        "resume_latency_seconds": {
            "p50": round(statistics.median(latencies), 2),
            "p99": round(_percentile(latencies, 0.99), 2),
            "max": round(max(latencies), 2),
        },
        "tap_to_recorded_seconds": {
            "p50": round(statistics.median(to_record), 2),
            "p99": round(_percentile(to_record, 0.99), 2),
        },
        "recorded_to_task_end_seconds": {
            "p50": round(statistics.median(to_end), 2),
            "p99": round(_percentile(to_end, 0.99), 2),
        },
        "downstream_retries_after_worker_kill": use_retries,
        "poller": poller,
        "seconds": {
            "trigger_runs": round(triggered - started, 1),
            "until_all_waiting": round(all_waiting_at - started, 1),
            "burst": round(burst_seconds, 1),
            "until_all_ended": round(ended - started, 1),
        },
        "deployment": {
            "hosts": {host: cluster.network.addresses[host] for host in HOSTS},
            "components": dict(cluster.hosts),
            "executor": "CeleryExecutor (Redis broker)",
            "worker_concurrency": cluster.worker_concurrency,
            "databases": "PostgreSQL: Airflow metadata and decision store (separate databases)",
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print("\nscale-out figures:\n" + json.dumps(figures, indent=2, default=str))
    if os.environ.get("INSTAGRAM_HIL_SCALEOUT_WRITE", "1") == "1":
        RESULTS.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")

    assert {k["component"].split("-")[0] for k in kills} == {"webhook", "triggerer", "worker"}
    assert wrong_decision == [], f"tasks without their own decision: {wrong_decision[:10]}"
    assert store_wrong == [], f"requests not decided as tapped: {store_wrong[:10]}"
    assert resumed_twice == [], f"approval tasks that ran a second try: {resumed_twice[:10]}"
    assert applied_twice == [], f"runs with other than one request and one response: {applied_twice[:10]}"
    assert prompted_twice == []
    assert len(prompts_per_reviewer) == TASKS
