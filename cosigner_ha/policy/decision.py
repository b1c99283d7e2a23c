"""What the policy decides for one transaction, in the shape `policy eval` prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PENDING_SIGNATURE = "PENDING_SIGNATURE"
PENDING_AUTHORIZATION = "PENDING_AUTHORIZATION"
BLOCKED = "BLOCKED"
FAILED = "FAILED"
BLOCKED_BY_POLICY = "BLOCKED_BY_POLICY"
SIGNER_NOT_FOUND = "SIGNER_NOT_FOUND"


@dataclass(frozen=True, slots=True)
class ApprovalGroup:
    """Resolved members (groups expanded) and how many of them must approve."""

    members: tuple[str, ...]
    threshold: int

    def to_json(self) -> dict[str, Any]:
        return {"members": list(self.members), "threshold": self.threshold}


@dataclass(frozen=True, slots=True)
class ApprovalSpec:
    """A 2-TIER rule's approvers. AND: every group reaches its threshold; OR: at least one does."""

    groups: tuple[ApprovalGroup, ...]
    logic: str = "AND"
    allow_operator_as_authorizer: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "logic": self.logic,
            "allow_operator_as_authorizer": self.allow_operator_as_authorizer,
            "groups": [g.to_json() for g in self.groups],
        }


@dataclass(frozen=True, slots=True)
class Decision:
    rule: int | None
    action: str | None
    status: str
    sub_status: str | None
    designated_signers: tuple[str, ...]
    approvers: ApprovalSpec | None

    @property
    def counts(self) -> bool:
        """Whether the transaction goes on toward signing and so counts toward amount-over-time totals."""
        return self.status in (PENDING_SIGNATURE, PENDING_AUTHORIZATION)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "action": self.action,
            "status": self.status,
            "sub_status": self.sub_status,
            "designated_signers": list(self.designated_signers),
            "approvers": None if self.approvers is None else self.approvers.to_json(),
        }


NO_MATCH = Decision(None, None, BLOCKED, BLOCKED_BY_POLICY, (), None)
