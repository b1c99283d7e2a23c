"""Tracks the answers of a 2-TIER rule's approvers, so the SaaS simulator can feed them one by one."""

from __future__ import annotations

from typing import Literal

from .decision import ApprovalSpec

Outcome = Literal["PENDING", "APPROVED", "REJECTED"]


class ApprovalTracker:
    """Each eligible approver answers once; the first rejection before approval ends it REJECTED.

    Eligible: a member of some group, and not the initiator unless the rule allows the operator as
    authorizer. An answer from anyone else is a bug in the caller, so it raises ValueError.
    """

    def __init__(self, spec: ApprovalSpec, initiator: str) -> None:
        self.spec = spec
        self.initiator = initiator
        self._answers: dict[str, bool] = {}
        self._outcome: Outcome = "PENDING"

    @property
    def outcome(self) -> Outcome:
        return self._outcome

    @property
    def eligible(self) -> tuple[str, ...]:
        """Who may answer, in the order the rule lists them."""
        names: dict[str, None] = {}
        for group in self.spec.groups:
            for member in group.members:
                if member != self.initiator or self.spec.allow_operator_as_authorizer:
                    names.setdefault(member)
        return tuple(names)

    @property
    def awaiting(self) -> tuple[str, ...]:
        """Eligible approvers who have not answered yet (empty once the outcome is final)."""
        if self._outcome != "PENDING":
            return ()
        return tuple(name for name in self.eligible if name not in self._answers)

    def approve(self, user: str) -> Outcome:
        return self._answer(user, True)

    def reject(self, user: str) -> Outcome:
        return self._answer(user, False)

    def _answer(self, user: str, approved: bool) -> Outcome:
        if user not in self.eligible:
            why = (
                "is the initiator and the rule does not allow the operator as authorizer"
                if user == self.initiator
                else "is not an approver of this rule"
            )
            raise ValueError(f"{user!r} {why}")
        previous = self._answers.get(user)
        if previous is not None:
            if previous != approved:
                raise ValueError(
                    f"{user!r} already {'approved' if previous else 'rejected'}; answers are final"
                )
            return self._outcome
        self._answers[user] = approved
        if self._outcome == "PENDING":
            if not approved:
                self._outcome = "REJECTED"
            elif self._satisfied():
                self._outcome = "APPROVED"
        return self._outcome

    def _satisfied(self) -> bool:
        met = [
            sum(1 for m in dict.fromkeys(group.members) if self._answers.get(m) is True) >= group.threshold
            for group in self.spec.groups
        ]
        return all(met) if self.spec.logic == "AND" else any(met)
