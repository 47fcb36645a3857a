"""Decision policies: the rule itself, and reviewers answering at once from several processes."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_instagram_hil.store import DecisionPolicy, DecisionStore, Outcome, RequestStatus
from airflow_provider_instagram_hil.store.policy import PolicyKind, decide

from .store_support import run_processes

OPTIONS = ("Approve", "Ship later", "Reject", "Escalate")
REJECTS = ("Reject", "Escalate")


def _verdict(policy: DecisionPolicy, reviewers: int, chosen: list[str]):
    return decide(policy, OPTIONS, REJECTS, reviewers, chosen)


class TestDecide:
    def test_first_takes_the_first_answer(self):
        assert _verdict(DecisionPolicy(), 3, ["Reject"]).option == "Reject"
        assert _verdict(DecisionPolicy(), 3, []).option is None

    @pytest.mark.parametrize(
        ("chosen", "option", "missing"),
        [
            pytest.param(["Approve"], None, 2, id="one-of-three"),
            pytest.param(["Approve", "Approve"], None, 1, id="two-of-three"),
            pytest.param(["Approve", "Approve", "Approve"], "Approve", 0, id="all-approve"),
            pytest.param(["Approve", "Reject"], "Reject", 0, id="a-reject-closes"),
            pytest.param(["Escalate"], "Escalate", 0, id="any-reject-option-closes"),
            pytest.param(["Ship later", "Approve", "Ship later"], "Ship later", 0, id="most-chosen-approval"),
            pytest.param(["Ship later", "Approve", "Approve"], "Approve", 0, id="most-chosen-other-way"),
        ],
    )
    def test_all(self, chosen, option, missing):
        verdict = _verdict(DecisionPolicy(PolicyKind.ALL), 3, chosen)

        assert (verdict.option, verdict.approvals_missing) == (option, missing)

    @pytest.mark.parametrize(
        ("veto", "chosen", "option", "missing"),
        [
            pytest.param(False, ["Approve"], None, 1, id="one-of-two"),
            pytest.param(False, ["Approve", "Reject", "Approve"], "Approve", 0, id="reaches-two"),
            pytest.param(False, ["Reject", "Reject"], None, 2, id="two-rejects-two-still-possible"),
            pytest.param(False, ["Reject", "Reject", "Escalate"], "Reject", 0, id="out-of-reach"),
            pytest.param(True, ["Approve", "Escalate"], "Escalate", 0, id="veto"),
            pytest.param(True, ["Approve", "Approve", "Reject"], "Approve", 0, id="approved-before-veto"),
        ],
    )
    def test_quorum_of_two_among_four(self, veto, chosen, option, missing):
        verdict = _verdict(DecisionPolicy(PolicyKind.QUORUM, 2, veto), 4, chosen)

        assert (verdict.option, verdict.approvals_missing) == (option, missing)

    def test_ties_go_to_the_earlier_option(self):
        verdict = _verdict(DecisionPolicy(PolicyKind.ALL), 2, ["Ship later", "Approve"])

        assert verdict.option == "Approve"


class TestBuild:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            pytest.param(("majority",), "must be one of 'first', 'all', 'quorum'", id="unknown"),
            pytest.param(("quorum",), "needs min_approvals", id="quorum-without-count"),
            pytest.param(("quorum", 0), "positive integer", id="quorum-zero"),
            pytest.param(("quorum", True), "positive integer", id="quorum-bool"),
            pytest.param(("all", 2), "only applies to decision_policy 'quorum'", id="count-without-quorum"),
            pytest.param(("first", None, True), "veto_on_reject only applies", id="veto-with-first"),
            pytest.param(("all", None, True), "already closes at the first rejection", id="veto-with-all"),
        ],
    )
    def test_errors_name_the_parameter(self, args, message):
        with pytest.raises(ValueError, match=message):
            DecisionPolicy.build(*args)

    def test_describe(self):
        assert DecisionPolicy.build("quorum", 2, veto=True).describe() == "quorum of 2 with veto"
        assert DecisionPolicy.build("all").describe() == "all"


# -- several processes answering the same request at once ----------------------------------------------


def _answer(url, request_id, reviewer, option, barrier, results):
    store = DecisionStore(url)
    try:
        store.ensure_schema()
        barrier.wait(timeout=60)
        result = store.record_decision(request_id, option=option, responder_id=reviewer, mid=f"m-{reviewer}")
        results.put((reviewer, result.outcome.value, result.closed))
    except Exception as exc:
        results.put((reviewer, f"error: {type(exc).__name__}: {exc}", False))
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("policy", "answers", "final", "recorded"),
    [
        pytest.param(
            DecisionPolicy(),
            {"r1": "Approve", "r2": "Reject", "r3": "Ship later", "r4": "Approve"},
            None,  # any one of them, chosen by the race
            1,
            id="first",
        ),
        pytest.param(
            DecisionPolicy(PolicyKind.ALL),
            {"r1": "Approve", "r2": "Approve", "r3": "Approve", "r4": "Approve"},
            "Approve",
            4,
            id="all-approve",
        ),
        pytest.param(
            DecisionPolicy(PolicyKind.ALL),
            {"r1": "Approve", "r2": "Approve", "r3": "Reject", "r4": "Approve"},
            "Reject",
            None,  # the approvals before the rejection are recorded, those after are late
            id="all-one-rejects",
        ),
        pytest.param(
            DecisionPolicy(PolicyKind.QUORUM, 2),
            {"r1": "Approve", "r2": "Approve", "r3": "Approve", "r4": "Approve"},
            "Approve",
            2,
            id="quorum-two-of-four",
        ),
        pytest.param(
            DecisionPolicy(PolicyKind.QUORUM, 3),
            {"r1": "Approve", "r2": "Reject", "r3": "Reject", "r4": "Approve"},
            "Reject",
            None,
            id="quorum-out-of-reach",
        ),
    ],
)
def test_concurrent_reviewers_close_the_request_exactly_once(
    store, store_url, policy, answers, final, recorded
):
    request, _ = store.register_request(
        dag_id="policy",
        run_id=f"run-{policy.describe()}",
        task_id="approve",
        recipients=list(answers),
        options=list(OPTIONS),
        reject_options=list(REJECTS),
        policy=policy,
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )

    results = run_processes(
        _answer, [(store_url, request.request_id, who, option) for who, option in answers.items()]
    )

    assert [r for r in results if r[1].startswith("error")] == []
    closers = [who for who, _outcome, closed in results if closed]
    assert len(closers) == 1, results
    outcomes = Counter(outcome for _who, outcome, _closed in results)
    assert set(outcomes) <= {Outcome.RECORDED.value, Outcome.ALREADY_DECIDED.value}
    if recorded is not None:
        assert outcomes[Outcome.RECORDED.value] == recorded
    done = store.get_request(request.request_id)
    assert done.status is RequestStatus.DECIDED
    assert done.responded_by == closers[0]
    assert done.chosen_option == (final or answers[closers[0]])
    # Exactly the recorded answers are stored, and the closing one is the last of them.
    stored = [response.responder_id for response in done.responses]
    assert sorted(stored) == sorted(who for who, outcome, _ in results if outcome == Outcome.RECORDED.value)
    assert stored[-1] == closers[0]
    assert store.maintenance.integrity_problems() == []
