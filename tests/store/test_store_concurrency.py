"""First decision wins: many threads, many processes, and the race with the deadline."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from airflow_provider_instagram_hil.store import DecisionStore, Outcome, RequestStatus

from .store_support import OPTIONS, REVIEWER, T0, run_processes

THREADS = 24
PROCESSES = 6
RACE_ITERATIONS = 40
DEADLINE = T0 + timedelta(minutes=30)


def _decide_in_process(url, request_id, n, barrier, results):
    """Body of one child process: its own engine, one tap, the outcome back to the parent."""
    store = DecisionStore(url)
    try:
        store.ensure_schema()
        barrier.wait(timeout=60)
        result = store.record_decision(
            request_id, option=OPTIONS[n % 2], responder_id=REVIEWER, mid=f"mid.proc.{n}", now=T0
        )
        results.put((n, result.outcome.value))
    except Exception as exc:
        results.put((n, f"error: {type(exc).__name__}: {exc}"))
    finally:
        store.dispose()


def _first_use_in_process(url, barrier, results):
    """Body of one child process using a store nobody has created yet."""
    store = DecisionStore(url)
    try:
        barrier.wait(timeout=60)
        store.ensure_schema()
        results.put(store.maintenance.count_by_status())
    except Exception as exc:
        results.put(f"error: {type(exc).__name__}: {exc}")
    finally:
        store.dispose()


def _assert_one_winner(store, request_id, outcomes, winning_mids):
    counts = Counter(outcomes)
    assert counts[Outcome.RECORDED] == 1, counts
    assert counts[Outcome.ALREADY_DECIDED] == len(outcomes) - 1, counts
    final = store.get_request(request_id)
    assert final.status is RequestStatus.DECIDED
    assert [response.mid for response in final.responses] in [[mid] for mid in winning_mids]
    assert store.maintenance.integrity_problems() == []
    return final


class TestConcurrentDecisions:
    def test_threads_one_request_exactly_one_recorded(self, store, make_request):
        request = make_request(expires_at=DEADLINE)
        barrier = threading.Barrier(THREADS)

        def tap(n):
            barrier.wait(timeout=30)
            return store.record_decision(
                request.request_id, option=OPTIONS[n % 2], responder_id=REVIEWER, mid=f"mid.{n}", now=T0
            )

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(tap, range(THREADS)))

        final = _assert_one_winner(
            store, request.request_id, [r.outcome for r in results], {f"mid.{n}" for n in range(THREADS)}
        )
        winner = next(r for r in results if r.outcome is Outcome.RECORDED)
        assert winner.request == final
        # Every loser was told what won.
        assert {r.request.chosen_option for r in results} == {final.chosen_option}

    def test_threads_same_event_redelivered_at_once(self, store, make_request):
        request = make_request(expires_at=DEADLINE)
        barrier = threading.Barrier(THREADS)

        def tap(_n):
            barrier.wait(timeout=30)
            return store.record_decision(
                request.request_id, option="approve", responder_id=REVIEWER, mid="mid.same", now=T0
            ).outcome

        with ThreadPoolExecutor(THREADS) as pool:
            counts = Counter(pool.map(tap, range(THREADS)))

        assert counts == {Outcome.RECORDED: 1, Outcome.DUPLICATE: THREADS - 1}

    def test_processes_one_request_exactly_one_recorded(self, store, store_url, make_request):
        request = make_request(expires_at=DEADLINE)

        results = run_processes(
            _decide_in_process, [(store_url, request.request_id, n) for n in range(PROCESSES)]
        )

        errors = [outcome for _n, outcome in results if outcome.startswith("error")]
        assert errors == []
        _assert_one_winner(
            store,
            request.request_id,
            [Outcome(outcome) for _n, outcome in results],
            {f"mid.proc.{n}" for n in range(PROCESSES)},
        )

    def test_processes_create_a_fresh_store_together(self, store_url):
        results = run_processes(_first_use_in_process, [(store_url,)] * PROCESSES)

        assert results == [{}] * PROCESSES


class TestExpiryRace:
    """A tap just before the deadline and the expiry at the deadline, at the same time."""

    @pytest.mark.parametrize(
        "default_option", [pytest.param(None, id="no-default"), pytest.param("reject", id="default-reject")]
    )
    def test_exactly_one_of_decision_or_expiry(self, store, make_request, default_option):
        wins: Counter[str] = Counter()
        with ThreadPoolExecutor(2) as pool:
            for n in range(RACE_ITERATIONS):
                request = make_request(expires_at=DEADLINE, default_option=default_option)
                barrier = threading.Barrier(2)

                def tap(request_id=request.request_id, barrier=barrier, n=n):
                    barrier.wait(timeout=30)
                    return store.record_decision(
                        request_id,
                        option="approve",
                        responder_id=REVIEWER,
                        mid=f"mid.{n}",
                        now=DEADLINE - timedelta(microseconds=1),
                    )

                def expire(request_id=request.request_id, barrier=barrier):
                    barrier.wait(timeout=30)
                    return store.expire_request(request_id, now=DEADLINE)

                tapped, expired = pool.submit(tap), pool.submit(expire)
                decision, expiry = tapped.result(timeout=60), expired.result(timeout=60)
                final = store.get_request(request.request_id)
                assert decision.request == expiry.request == final

                if decision.outcome is Outcome.RECORDED:
                    wins["decision"] += 1
                    assert expiry.outcome is Outcome.ALREADY_DECIDED
                    assert final.status is RequestStatus.DECIDED
                    assert (final.chosen_option, final.responded_by) == ("approve", REVIEWER)
                    assert not final.timed_out
                else:
                    wins["expiry"] += 1
                    assert expiry.outcome is Outcome.RECORDED
                    assert decision.outcome is Outcome.EXPIRED
                    assert final.timed_out
                    assert final.responded_by is None
                    if default_option is None:
                        assert final.status is RequestStatus.EXPIRED
                        assert final.chosen_option is None
                    else:
                        assert final.status is RequestStatus.DECIDED
                        assert final.chosen_option == default_option
        assert sum(wins.values()) == RACE_ITERATIONS
        assert store.maintenance.integrity_problems() == []
