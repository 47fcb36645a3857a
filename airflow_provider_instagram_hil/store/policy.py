"""Decision policies: when the responses gathered so far close a request, and with which option.

- ``first`` (default): the first response decides.
- ``all``: every reviewer must approve; the first rejection closes the request as rejected.
- ``quorum``: ``min_approvals`` approvals decide; the request closes as rejected once that many can no
  longer be reached, or at the first rejection with ``veto``.

An approval is a response whose option is not in the request's ``reject_options``. When approvals name
different options, the one chosen most often wins (ties: the earlier option in the list); likewise among
rejections. The store applies a policy inside the transaction that records a response, so concurrent
responses close a request exactly once.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


class PolicyKind(str, enum.Enum):
    FIRST = "first"
    ALL = "all"
    QUORUM = "quorum"


@dataclass(frozen=True)
class DecisionPolicy:
    """How a request's responses become its decision.

    :param kind: ``first``, ``all`` or ``quorum``.
    :param min_approvals: approvals that decide a ``quorum`` request (required there, refused elsewhere).
    :param veto: with ``quorum``, any rejection closes the request as rejected.
    """

    kind: PolicyKind = PolicyKind.FIRST
    min_approvals: int | None = None
    veto: bool = False

    @classmethod
    def build(
        cls, kind: str | PolicyKind, min_approvals: int | None = None, veto: bool = False
    ) -> DecisionPolicy:
        """Validate the parts and build a policy; ``ValueError`` names the parameter that is wrong."""
        try:
            policy_kind = PolicyKind(kind)
        except ValueError:
            choices = ", ".join(repr(k.value) for k in PolicyKind)
            raise ValueError(f"decision_policy must be one of {choices}, got {kind!r}") from None
        if policy_kind is PolicyKind.QUORUM:
            if isinstance(min_approvals, bool) or not isinstance(min_approvals, int) or min_approvals < 1:
                raise ValueError(
                    f"decision_policy 'quorum' needs min_approvals, a positive integer, got {min_approvals!r}"
                )
        elif min_approvals is not None:
            raise ValueError(
                f"min_approvals only applies to decision_policy 'quorum', not {policy_kind.value!r}"
            )
        if veto and policy_kind is not PolicyKind.QUORUM:
            why = (
                "it already closes at the first rejection"
                if policy_kind is PolicyKind.ALL
                else "it takes the first answer"
            )
            raise ValueError(
                f"veto_on_reject only applies to decision_policy 'quorum', not {policy_kind.value!r}: {why}"
            )
        return cls(policy_kind, min_approvals, bool(veto))

    def check_recipients(self, count: int) -> None:
        """Refuse a policy that ``count`` reviewers can never satisfy."""
        if self.kind is PolicyKind.QUORUM and self.min_approvals is not None and self.min_approvals > count:
            raise ValueError(
                f"min_approvals is {self.min_approvals} but only {count} reviewer(s) are asked: "
                "the request could never be approved"
            )

    def check_options(self, options: Sequence[str], reject_options: Sequence[str]) -> None:
        """Refuse ``all``/``quorum`` without an approving option."""
        if self.kind is not PolicyKind.FIRST and not set(options) - set(reject_options):
            raise ValueError(
                f"decision_policy {self.kind.value!r} needs at least one option that is not a rejection"
            )

    def describe(self) -> str:
        """A short phrase for logs and messages, e.g. ``"quorum of 2"``."""
        if self.kind is PolicyKind.QUORUM:
            return f"quorum of {self.min_approvals}" + (" with veto" if self.veto else "")
        return self.kind.value


FIRST = DecisionPolicy()


@dataclass(frozen=True)
class Verdict:
    """What the responses so far mean.

    :param option: the decided option, or None while the request stays open.
    :param approvals_missing: approvals still needed to approve (0 once closed).
    """

    option: str | None
    approvals_missing: int = 0

    @property
    def closed(self) -> bool:
        return self.option is not None


def decide(
    policy: DecisionPolicy,
    options: Sequence[str],
    reject_options: Sequence[str],
    reviewers: int,
    chosen: Sequence[str],
) -> Verdict:
    """Apply ``policy`` to the options ``chosen`` so far, oldest first.

    :param options: the request's options, in order (for tie-breaks).
    :param reject_options: the options that count as a rejection.
    :param reviewers: how many people may respond.
    :param chosen: one option per response, in the order they were recorded.
    """
    if not chosen:
        return Verdict(None, _needed(policy, reviewers))
    if policy.kind is PolicyKind.FIRST:
        return Verdict(chosen[0])
    rejects = set(reject_options)
    approvals = [option for option in chosen if option not in rejects]
    rejections = [option for option in chosen if option in rejects]
    needed = _needed(policy, reviewers)
    if len(approvals) >= needed:
        return Verdict(_most_chosen(approvals, options))
    if policy.kind is PolicyKind.ALL or policy.veto:
        if rejections:
            return Verdict(_most_chosen(rejections, options))
    elif rejections and len(rejections) > reviewers - needed:
        return Verdict(_most_chosen(rejections, options))
    return Verdict(None, needed - len(approvals))


def _needed(policy: DecisionPolicy, reviewers: int) -> int:
    if policy.kind is PolicyKind.QUORUM:
        return policy.min_approvals or 1
    if policy.kind is PolicyKind.ALL:
        return max(reviewers, 1)
    return 1


def _most_chosen(chosen: Sequence[str], options: Sequence[str]) -> str:
    counts = Counter(chosen)
    order = {option: index for index, option in enumerate(options)}
    return min(counts, key=lambda option: (-counts[option], order.get(option, len(order))))
