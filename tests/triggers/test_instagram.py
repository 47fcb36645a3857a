"""InstagramDecisionTrigger driven directly with asyncio against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import importlib
import random
import types
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.exceptions import StoreUnavailableError
from airflow_provider_instagram_hil.store import Outcome, RequestStatus
from airflow_provider_instagram_hil.triggers import instagram as trigger_module
from airflow_provider_instagram_hil.triggers.instagram import InstagramDecisionTrigger
from airflow_provider_instagram_hil.triggers.poller import StorePoller
from airflow_provider_instagram_hil.version_compat import TaskSuccessEvent

from .trigger_support import REVIEWER, wait_until

KWARGS = {
    "request_id",
    "timeout_at",
    "poll_interval",
    "store_url",
    "end_from_trigger",
    "reject_options",
    "push_result",
}


def trigger_for(request, store_url, *, poll_interval: float = 0.05, timeout_at=None):
    return InstagramDecisionTrigger(
        request_id=request.request_id,
        timeout_at=timeout_at or request.expires_at,
        poll_interval=poll_interval,
        store_url=store_url,
    )


class TestSerialize:
    def test_round_trip(self):
        trigger = InstagramDecisionTrigger(
            request_id="abc123",
            timeout_at=datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc),
            poll_interval=2.0,
            store_url=None,
        )
        classpath, kwargs = trigger.serialize()
        assert classpath == "airflow_provider_instagram_hil.triggers.instagram.InstagramDecisionTrigger"
        assert set(kwargs) == KWARGS
        assert kwargs["timeout_at"] == "2026-11-25T12:00:00+00:00"
        module_name, _, class_name = classpath.rpartition(".")
        rebuilt = getattr(importlib.import_module(module_name), class_name)(**kwargs)
        assert rebuilt.serialize() == (classpath, kwargs)
        assert rebuilt.timeout_at == trigger.timeout_at

    def test_timeout_at_is_normalised_to_utc(self):
        local = datetime(2026, 11, 25, 13, 0, tzinfo=timezone(timedelta(hours=1)))
        trigger = InstagramDecisionTrigger("abc", local, 1.0)
        assert trigger.serialize()[1]["timeout_at"] == "2026-11-25T12:00:00+00:00"

    def test_naive_timeout_at_is_refused(self):
        with pytest.raises(ValueError, match="timezone-aware"):
            InstagramDecisionTrigger("abc", datetime(2026, 11, 25, 12, 0), 1.0)

    def test_a_store_password_is_refused_unquoted(self):
        # Trigger kwargs are stored in Airflow's database: a password may not get there, nor in a repr.
        for url in ("postgresql://u:hunter2@db/x", "postgresql://u@db/x?password=hunter2"):
            with pytest.raises(ValueError, match="must not contain a password") as caught:
                InstagramDecisionTrigger("abc", "2026-11-25T12:00:00+00:00", 1.0, store_url=url)
            assert "hunter2" not in str(caught.value)


class TestRun:
    def test_decision_recorded_while_waiting(self, store, store_url, shared_store, make_request, first_event):
        request = make_request()

        async def scenario():
            waiting = asyncio.ensure_future(first_event(trigger_for(request, store_url)))
            poller = StorePoller.for_store(shared_store)
            await wait_until(lambda: request.request_id in poller.waiting_ids and poller.ticks >= 1)
            assert not waiting.done()  # it read the pending request and waits on
            result = await asyncio.to_thread(
                store.record_decision, request.request_id, option="Approve", responder_id=REVIEWER, mid="m1"
            )
            assert result.outcome is Outcome.RECORDED
            return await waiting

        payload = asyncio.run(scenario()).payload
        assert payload["status"] == "decided"
        assert payload["request_id"] == request.request_id
        assert payload["chosen_option"] == "Approve"
        assert payload["responded_by"] == REVIEWER
        assert datetime.fromisoformat(payload["responded_at"]).tzinfo is not None
        assert payload["timed_out"] is False
        assert payload["error"] is None
        (answer,) = payload["responses"]
        assert (answer["responder"], answer["option"], answer["channel"], answer["source"]) == (
            REVIEWER,
            "Approve",
            "instagram",
            "instagram",
        )
        assert answer["received_at"] == payload["responded_at"]

    def test_decided_before_start_fires_at_once(
        self, store, store_url, shared_store, make_request, first_event
    ):
        request = make_request()
        store.record_decision(request.request_id, option="Reject", responder_id=REVIEWER)
        trigger = trigger_for(request, store_url, poll_interval=60.0)  # only the immediate first tick helps

        async def scenario():
            return await first_event(trigger, timeout=5.0)

        payload = asyncio.run(scenario()).payload
        assert payload["status"] == "decided"
        assert payload["chosen_option"] == "Reject"

    def test_timeout_without_default_expires(self, store, store_url, shared_store, make_request, first_event):
        request = make_request(expires_in=0.3)
        payload = asyncio.run(first_event(trigger_for(request, store_url))).payload
        assert payload["status"] == "timed_out"
        assert payload["chosen_option"] is None
        assert payload["timed_out"] is True
        stored = store.get_request(request.request_id)
        assert stored.status is RequestStatus.EXPIRED
        assert stored.timed_out

    def test_timeout_with_default_records_it(self, store, store_url, shared_store, make_request, first_event):
        request = make_request(expires_in=0.3, default_option="Reject")
        payload = asyncio.run(first_event(trigger_for(request, store_url))).payload
        assert payload["status"] == "timed_out"
        assert payload["chosen_option"] == "Reject"
        assert payload["responded_by"] is None
        assert payload["timed_out"] is True
        stored = store.get_request(request.request_id)
        assert stored.status is RequestStatus.DECIDED
        assert stored.chosen_option == "Reject"
        assert stored.timed_out

    def test_a_due_follow_up_wakes_the_worker_and_leaves_the_request_pending(
        self, store, store_url, shared_store, make_request, first_event
    ):
        request = make_request(expires_in=60)
        trigger = trigger_for(request, store_url)
        trigger.wake_at = datetime.now(timezone.utc) + timedelta(seconds=0.3)

        payload = asyncio.run(first_event(trigger)).payload

        assert (payload["status"], payload["request_id"]) == ("wake", request.request_id)
        assert store.get_request(request.request_id).status is RequestStatus.PENDING
        assert trigger.serialize()[1]["wake_at"] == trigger.wake_at.isoformat()

    def test_a_decision_before_the_wake_fires_the_decision(
        self, store, store_url, shared_store, make_request, first_event
    ):
        request = make_request(expires_in=60)
        trigger = trigger_for(request, store_url)
        trigger.wake_at = datetime.now(timezone.utc) + timedelta(seconds=30)
        store.record_decision(
            request.request_id, option="Approve", responder_id=request.recipients[0].recipient_id
        )

        payload = asyncio.run(first_event(trigger)).payload

        assert (payload["status"], payload["chosen_option"]) == ("decided", "Approve")

    def test_deadline_already_past_at_restart_uses_the_decision(
        self, store, store_url, shared_store, make_request, first_event
    ):
        request = make_request(expires_in=0.5)
        store.record_decision(request.request_id, option="Approve", responder_id=REVIEWER)
        past = datetime.now(timezone.utc) - timedelta(seconds=1)
        payload = asyncio.run(first_event(trigger_for(request, store_url, timeout_at=past))).payload
        assert payload["status"] == "decided"
        assert payload["chosen_option"] == "Approve"

    def test_unknown_request_is_an_error(self, store_url, shared_store, first_event):
        trigger = InstagramDecisionTrigger("0" * 32, datetime.now(timezone.utc), 0.05, store_url)
        payload = asyncio.run(first_event(trigger)).payload
        assert payload["status"] == "error"
        assert "not in the decision store" in payload["error"]

    def test_cancelled_request_is_an_error(self, store, store_url, shared_store, make_request, first_event):
        request = make_request()
        store.cancel_request(request.request_id, "no prompt could be sent")
        payload = asyncio.run(first_event(trigger_for(request, store_url))).payload
        assert payload["status"] == "error"
        assert payload["error"] == "the approval request was cancelled (no prompt could be sent)"
        assert payload["responses"] == []

    def test_a_replaced_request_is_followed_to_the_newer_try(
        self, store, store_url, shared_store, make_request, first_event
    ):
        # Airflow on SQLite may give the newer try's trigger this trigger's id: this trigger then runs for
        # the newer try, so it must not fire "superseded" into it but wait for the newer try's request.
        request = make_request()
        newer = _register_newer_try(store, request)
        trigger = trigger_for(request, store_url)

        async def scenario():
            waiting = asyncio.ensure_future(first_event(trigger))
            await wait_until(lambda: StorePoller.for_store(shared_store).waiting_ids == {newer})
            assert not waiting.done()
            await asyncio.to_thread(store.record_decision, newer, option="Approve", responder_id=REVIEWER)
            return await waiting

        payload = asyncio.run(scenario()).payload
        assert (payload["request_id"], payload["status"], payload["chosen_option"]) == (
            newer,
            "decided",
            "Approve",
        )
        assert store.get_request(request.request_id).status is RequestStatus.SUPERSEDED

    def test_a_newer_try_decided_already_fires_at_once(
        self, store, store_url, shared_store, make_request, first_event
    ):
        request = make_request()
        newer = _register_newer_try(store, request)
        store.record_decision(newer, option="Reject", responder_id=REVIEWER)
        payload = asyncio.run(first_event(trigger_for(request, store_url))).payload
        assert (payload["request_id"], payload["chosen_option"]) == (newer, "Reject")

    def test_the_newer_try_deadline_applies(self, store, store_url, shared_store, make_request, first_event):
        request = make_request(expires_in=60)
        newer = _register_newer_try(store, request, expires_in=0.3)
        payload = asyncio.run(first_event(trigger_for(request, store_url))).payload
        assert (payload["request_id"], payload["status"]) == (newer, "timed_out")
        assert store.get_request(newer).status is RequestStatus.EXPIRED

    @staticmethod
    def _killed(monkeypatch, request, store_url, state):
        """A trigger whose on_kill reads ``state`` (or raises it) for its task instance from Airflow."""
        asked = []

        def task_state(dag_id, run_id, task_id, map_index):
            asked.append((dag_id, run_id, task_id, map_index))
            if isinstance(state, Exception):
                raise state
            return state

        monkeypatch.setattr(trigger_module, "task_instance_state", task_state)
        trigger = trigger_for(request, store_url)
        trigger.task_instance = types.SimpleNamespace(
            dag_id=request.dag_id, task_id=request.task_id, run_id=request.run_id, map_index=None
        )
        asyncio.run(trigger.on_kill())
        return asked

    @pytest.mark.parametrize("state", ["failed", "success", None, "scheduled"])
    def test_on_kill_cancels_the_request_of_a_stopped_task(
        self, monkeypatch, store, store_url, shared_store, make_request, state
    ):
        request = make_request()

        asked = self._killed(monkeypatch, request, store_url, state)

        assert asked == [(request.dag_id, request.run_id, request.task_id, -1)]
        cancelled = store.get_request(request.request_id)
        assert cancelled.status is RequestStatus.CANCELLED
        assert cancelled.closed_reason == trigger_module.STOPPED_IN_AIRFLOW
        # A decided request stays decided: on_kill only closes what is still pending.
        decided = make_request()
        store.record_decision(decided.request_id, option="Approve", responder_id=REVIEWER)
        self._killed(monkeypatch, decided, store_url, state)
        assert store.get_request(decided.request_id).status is RequestStatus.DECIDED

    def test_on_kill_of_a_moved_trigger_keeps_the_request(
        self, monkeypatch, store, store_url, shared_store, make_request, caplog, capsys
    ):
        # Airflow 3.3.2 also calls on_kill when another triggerer took the trigger over: the task still
        # waits, so its request must stay open for the reviewer's answer.
        request = make_request()

        self._killed(monkeypatch, request, store_url, "deferred")

        assert store.get_request(request.request_id).status is RequestStatus.PENDING
        logged = caplog.text + capsys.readouterr().out
        assert f"Request {request.request_id}: its task still waits" in logged

    @pytest.mark.parametrize("failure", [ConnectionError("supervisor gone"), None])
    def test_on_kill_keeps_the_request_when_the_task_state_is_unknown(
        self, monkeypatch, store, store_url, shared_store, make_request, caplog, capsys, failure
    ):
        request = make_request()
        if failure is None:  # no task instance handed to the trigger
            monkeypatch.setattr(trigger_module, "task_instance_state", lambda *a: pytest.fail("asked"))
            asyncio.run(trigger_for(request, store_url).on_kill())
        else:
            self._killed(monkeypatch, request, store_url, failure)

        assert store.get_request(request.request_id).status is RequestStatus.PENDING
        logged = caplog.text + capsys.readouterr().out
        assert "the task's state could not be read" in logged

    def test_on_kill_survives_a_store_outage(
        self, monkeypatch, store_url, shared_store, make_request, caplog, capsys
    ):
        request = make_request()

        def down(*args, **kwargs):
            raise StoreUnavailableError("Decision store is unavailable: OperationalError")

        monkeypatch.setattr(shared_store, "cancel_request", down)
        self._killed(monkeypatch, request, store_url, "failed")
        logged = caplog.text + capsys.readouterr().out
        assert f"Request {request.request_id}: could not cancel it" in logged

    def test_cleanup_never_cancels(self, store, store_url, shared_store, make_request):
        # cleanup() also runs when a trigger moves to another triggerer: the request must stay pending.
        request = make_request()
        trigger = trigger_for(request, store_url)

        asyncio.run(trigger.cleanup())

        assert store.get_request(request.request_id).status is RequestStatus.PENDING

    def test_store_url_none_reads_the_config(self, monkeypatch, store, store_url, shared_store, make_request):
        monkeypatch.setenv("AIRFLOW__INSTAGRAM_HIL__STORE_URL", store_url)
        request = make_request()
        trigger = InstagramDecisionTrigger(request.request_id, request.expires_at, 0.05)
        assert trigger._store() is shared_store

    def test_failing_ticks_are_survived(
        self, monkeypatch, store, store_url, shared_store, make_request, first_event
    ):
        request = make_request()
        store.record_decision(request.request_id, option="Approve", responder_id=REVIEWER)
        real = shared_store.get_states
        failures = iter([True, True])

        def flaky(ids, **kwargs):
            if next(failures, False):
                raise StoreUnavailableError("database restarting")
            return real(ids, **kwargs)

        monkeypatch.setattr(shared_store, "get_states", flaky)
        payload = asyncio.run(first_event(trigger_for(request, store_url, poll_interval=0.02))).payload
        assert payload["status"] == "decided"

    def test_store_down_past_the_deadline_ends_in_an_error(
        self, monkeypatch, store_url, shared_store, make_request, first_event
    ):
        request = make_request(expires_in=0.2)

        def down(*args, **kwargs):
            raise StoreUnavailableError("Decision store is unavailable: OperationalError")

        monkeypatch.setattr(shared_store, "get_states", down)
        monkeypatch.setattr(shared_store, "expire_request", down)
        monkeypatch.setattr(trigger_module, "EXPIRE_RETRY_SECONDS", 0.3)
        payload = asyncio.run(first_event(trigger_for(request, store_url, poll_interval=0.05))).payload
        assert payload["status"] == "error"
        assert "could not be updated" in payload["error"]

    def test_cleanup_leaves_the_poller(self, store_url, shared_store, make_request):
        request = make_request()
        trigger = trigger_for(request, store_url, poll_interval=0.05)

        async def scenario():
            task = asyncio.ensure_future(trigger.run().__anext__())
            poller = StorePoller.for_store(shared_store)
            await wait_until(lambda: request.request_id in poller.waiting_ids)
            await trigger.cleanup()
            assert request.request_id not in poller.waiting_ids
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await wait_until(lambda: not poller.running, timeout=1.0)

        asyncio.run(scenario())


class TestEndFromTrigger:
    """An approved outcome ends the task in the triggerer; everything else goes back to the worker.

    The real triggerer pushes the XCom through the Task SDK (``tests/sandbox/test_services.py`` reads it
    downstream); here ``XCom.set`` records what it was given.
    """

    @pytest.fixture(autouse=True)
    def pushed(self, monkeypatch):
        calls = []
        monkeypatch.setattr(trigger_module.XCom, "set", lambda **kwargs: calls.append(kwargs))
        return calls

    def _ending(self, request, store_url, **kwargs):
        trigger = InstagramDecisionTrigger(
            request_id=request.request_id,
            timeout_at=request.expires_at,
            poll_interval=0.05,
            store_url=store_url,
            end_from_trigger=True,
            reject_options=["Reject"],
            **kwargs,
        )
        trigger.task_instance = types.SimpleNamespace(
            dag_id=request.dag_id, task_id=request.task_id, run_id=request.run_id, map_index=request.map_index
        )
        return trigger

    def test_outside_a_triggerer_the_worker_resumes(
        self, store, store_url, shared_store, make_request, first_event, pushed
    ):
        request = make_request()
        store.record_decision(request.request_id, option="Approve", responder_id=REVIEWER)
        trigger = self._ending(request, store_url)
        trigger.task_instance = None

        event = asyncio.run(first_event(trigger))

        assert not isinstance(event, TaskSuccessEvent)
        assert pushed == []

    def test_a_failed_push_resumes_the_worker(
        self, monkeypatch, store, store_url, shared_store, make_request, first_event
    ):
        request = make_request()
        store.record_decision(request.request_id, option="Approve", responder_id=REVIEWER)

        def refuse(**kwargs):
            raise RuntimeError("supervisor gone")

        monkeypatch.setattr(trigger_module.XCom, "set", refuse)
        event = asyncio.run(first_event(self._ending(request, store_url)))

        assert not isinstance(event, TaskSuccessEvent)
        assert event.payload["chosen_option"] == "Approve"

    def test_approval_ends_the_task_with_its_result(
        self, store, store_url, shared_store, make_request, first_event, pushed
    ):
        request = make_request()
        store.record_decision(request.request_id, option="Approve", responder_id=REVIEWER, mid="m1")

        event = asyncio.run(first_event(self._ending(request, store_url)))

        assert isinstance(event, TaskSuccessEvent)
        assert event.xcoms is None
        (push,) = pushed
        assert {k: push[k] for k in ("key", "dag_id", "task_id", "run_id", "map_index")} == {
            "key": "return_value",
            "dag_id": request.dag_id,
            "task_id": request.task_id,
            "run_id": request.run_id,
            "map_index": request.map_index,
        }
        result = push["value"]
        assert (result["request_id"], result["chosen_option"], result["approved"]) == (
            request.request_id,
            "Approve",
            True,
        )
        assert (result["responded_by"], result["timed_out"]) == (REVIEWER, False)
        assert [r["option"] for r in result["responses"]] == ["Approve"]

    def test_approving_default_at_the_timeout_ends_the_task(
        self, store, store_url, shared_store, make_request, first_event, pushed
    ):
        request = make_request(expires_in=0.2, default_option="Approve")

        event = asyncio.run(first_event(self._ending(request, store_url)))

        assert isinstance(event, TaskSuccessEvent)
        assert pushed[0]["value"]["timed_out"] is True
        assert pushed[0]["value"]["responded_by"] is None

    def test_without_push_no_xcom(self, store, store_url, shared_store, make_request, first_event, pushed):
        request = make_request()
        store.record_decision(request.request_id, option="Approve", responder_id=REVIEWER)

        event = asyncio.run(first_event(self._ending(request, store_url, push_result=False)))

        assert isinstance(event, TaskSuccessEvent)
        assert pushed == []

    @pytest.mark.parametrize(
        ("option", "expires_in", "default"),
        [
            pytest.param("Reject", 60.0, None, id="rejection-skips-downstream-on-a-worker"),
            pytest.param(None, 0.2, None, id="timeout-without-default-fails-on-a-worker"),
            pytest.param(None, 0.2, "Reject", id="rejecting-default"),
        ],
    )
    def test_other_outcomes_resume_the_worker(
        self, store, store_url, shared_store, make_request, first_event, option, expires_in, default
    ):
        request = make_request(expires_in=expires_in, default_option=default)
        if option is not None:
            store.record_decision(request.request_id, option=option, responder_id=REVIEWER)

        event = asyncio.run(first_event(self._ending(request, store_url)))

        assert not isinstance(event, TaskSuccessEvent)
        assert event.payload["status"] in ("decided", "timed_out")

    def test_a_task_that_moved_on_to_a_newer_try_is_not_ended(
        self, store, store_url, shared_store, make_request, first_event
    ):
        request = make_request()
        store.record_decision(request.request_id, option="Approve", responder_id=REVIEWER)
        newer = _register_newer_try(store, request)
        store.record_decision(newer, option="Approve", responder_id=REVIEWER)

        event = asyncio.run(first_event(self._ending(request, store_url)))

        # Only the newer try's own trigger ends it; this one hands the newer try's decision to a worker,
        # which checks it against the try it resumes.
        assert not isinstance(event, TaskSuccessEvent)
        assert (event.payload["request_id"], event.payload["chosen_option"]) == (newer, "Approve")


class TestTimeoutDecisionRace:
    @pytest.mark.parametrize("default_option", [None, "Reject"], ids=["no-default", "default-reject"])
    def test_exactly_one_outcome_consistent_with_the_store(
        self, store, store_url, shared_store, make_request, first_event, default_option
    ):
        rng = random.Random(20261125)
        outcomes = set()
        for _ in range(15):
            request = make_request(expires_in=0.15, default_option=default_option)

            async def scenario(request=request):
                waiting = asyncio.ensure_future(
                    first_event(trigger_for(request, store_url, poll_interval=0.02))
                )
                await asyncio.sleep(rng.uniform(0.1, 0.2))
                tap = await asyncio.to_thread(
                    store.record_decision, request.request_id, option="Approve", responder_id=REVIEWER
                )
                return tap, (await waiting).payload

            tap, payload = asyncio.run(scenario())
            stored = store.get_request(request.request_id)
            assert stored.status is not RequestStatus.PENDING
            assert payload["chosen_option"] == stored.chosen_option
            assert payload["timed_out"] == stored.timed_out
            if tap.outcome is Outcome.RECORDED:
                assert payload["status"] == "decided"
                assert stored.chosen_option == "Approve"
                assert not stored.timed_out
            else:
                assert tap.outcome in {Outcome.EXPIRED, Outcome.ALREADY_DECIDED}
                assert payload["status"] == "timed_out"
                assert stored.timed_out
                assert stored.chosen_option == default_option
            outcomes.add(tap.outcome)
        assert Outcome.RECORDED in outcomes  # the race really was run from both sides
        assert outcomes - {Outcome.RECORDED}


def _register_newer_try(store, request, *, expires_in: float | None = None) -> str:
    """Register try ``request.try_number + 1`` of the same task instance; return its request id."""
    expires_at = (
        request.expires_at
        if expires_in is None
        else datetime.now(timezone.utc) + timedelta(seconds=expires_in)
    )
    newer, created = store.register_request(
        dag_id=request.dag_id,
        run_id=request.run_id,
        task_id=request.task_id,
        map_index=request.map_index,
        try_number=request.try_number + 1,
        recipients=[REVIEWER],
        options=["Approve", "Reject"],
        expires_at=expires_at,
    )
    assert created
    return newer.request_id
