"""Transactions: the record the SaaS keeps, and the status machine every change goes through.

Statuses and sub-statuses are the Fireblocks ones (cosigner-protocol.md section 5). The machine is small
on purpose: a transaction moves forward only, along `TRANSITIONS`, and a terminal status never changes,
so "a signature is released at most once" reduces to "COMPLETED is entered at most once".
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from decimal import Decimal
from typing import Any

from cosigner_ha.saas_sim.errors import IllegalTransition


class Status(enum.StrEnum):
    SUBMITTED = "SUBMITTED"
    PENDING_AUTHORIZATION = "PENDING_AUTHORIZATION"
    PENDING_SIGNATURE = "PENDING_SIGNATURE"
    COMPLETED = "COMPLETED"
    BLOCKED = "BLOCKED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class SubStatus(enum.StrEnum):
    """The signing-relevant subset of the 114 Fireblocks sub-statuses (the precise reason is the `Cause`
    beside it, saas_sim/causes.py)."""

    BLOCKED_BY_POLICY = "BLOCKED_BY_POLICY"
    REJECTED_BY_USER = "REJECTED_BY_USER"
    CANCELLED_BY_USER = "CANCELLED_BY_USER"
    SIGNER_NOT_FOUND = "SIGNER_NOT_FOUND"
    AUTHORIZER_NOT_FOUND = "AUTHORIZER_NOT_FOUND"
    AUTHORIZATION_FAILED = "AUTHORIZATION_FAILED"
    SIGNING_ERROR = "SIGNING_ERROR"
    TIMEOUT = "TIMEOUT"
    CONNECTIVITY_ERROR = "CONNECTIVITY_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"


TERMINAL = (Status.COMPLETED, Status.BLOCKED, Status.REJECTED, Status.FAILED, Status.CANCELLED)

TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    Status.SUBMITTED: (
        Status.PENDING_AUTHORIZATION,
        Status.PENDING_SIGNATURE,
        Status.BLOCKED,
        Status.FAILED,
        Status.CANCELLED,
    ),
    Status.PENDING_AUTHORIZATION: (
        Status.PENDING_SIGNATURE,
        Status.REJECTED,
        Status.FAILED,
        Status.CANCELLED,
    ),
    Status.PENDING_SIGNATURE: (Status.COMPLETED, Status.REJECTED, Status.FAILED, Status.CANCELLED),
    Status.COMPLETED: (),
    Status.BLOCKED: (),
    Status.REJECTED: (),
    Status.FAILED: (),
    Status.CANCELLED: (),
}

#: Statuses from which the initiator may still cancel (a released signature cannot be taken back).
CANCELLABLE = (Status.SUBMITTED, Status.PENDING_AUTHORIZATION, Status.PENDING_SIGNATURE)


def shared_text(text: str) -> str:
    """One string object for text that repeats across records (a reason, an operation): a long run keeps
    every transaction's record, and equal words need not cost a string each. A `str` subclass (an enum
    member) is kept as it is."""
    return sys.intern(text) if type(text) is str else text


@dataclasses.dataclass(frozen=True, slots=True)
class StatusChange:
    at: float
    status: Status
    sub_status: str | None
    reason: str


@dataclasses.dataclass(slots=True)
class Attempt:
    """One dispatch of the transaction to one co-signer node."""

    session_id: str
    cosigner_id: str
    api_user: str
    started_at: float
    outcome: str = "open"  # open | completed | rejected | failed | abandoned
    reason: str = ""
    cause: str = ""  # for an attempt that did not complete: why (saas_sim/causes.py)


@dataclasses.dataclass(slots=True)
class Transaction:
    id: str
    workspace_id: str
    initiator: str
    operation: str
    asset: str
    amount: Decimal
    source: str
    destination: str
    destination_address: str  # "whitelisted" | "one-time"
    external_id: str | None
    note: str
    created_at: float
    status: Status = Status.SUBMITTED
    sub_status: str | None = None
    cause: str | None = None  # why it ended, beside the sub-status (saas_sim/causes.py); None while open
    # history, approvals and attempts are tuples, replaced as they grow (a few times a transaction): a
    # run keeps every record, and an empty tuple costs nothing where an empty list costs 56 bytes
    history: tuple[StatusChange, ...] = ()
    rule: int | None = None
    action: str | None = None  # the matched rule's action: ALLOW | BLOCK | 2-TIER
    designated_signers: tuple[str, ...] = ()
    extra_parameters: dict[str, Any] | None = None  # Fireblocks' extraParameters, as submitted
    approvals: tuple[tuple[str, str], ...] = ()
    attempts: tuple[Attempt, ...] = ()
    pending_signature_at: float | None = None
    #: The bytes the FROST signature covers (fixed when the transaction enters PENDING_SIGNATURE).
    message: bytes = b""
    signature: bytes | None = None
    signed_by: str | None = None  # co-signer id
    signed_api_user: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def finished_at(self) -> float | None:
        return self.history[-1].at if self.terminal and self.history else None

    def move(self, status: Status, *, at: float, sub_status: str | None = None, reason: str = "") -> Status:
        """Move along one arrow of `TRANSITIONS`; anything else is an `IllegalTransition` and changes nothing."""
        if status not in TRANSITIONS[self.status]:
            allowed = ", ".join(s.value for s in TRANSITIONS[self.status]) or "nothing (it is terminal)"
            raise IllegalTransition(
                f"transaction {self.id} is {self.status.value}; it can move to {allowed}, not {status.value}"
            )
        previous = self.status
        self.status = status
        self.sub_status = sub_status
        # reasons repeat ("signed by nitro-a"): one string each, not one per record
        self.history = (*self.history, StatusChange(at, status, sub_status, shared_text(reason)))
        if status is Status.PENDING_SIGNATURE:
            self.pending_signature_at = at
        return previous

    def summary(self) -> dict[str, Any]:
        """Plain data (for `GET /v1/transactions/{id}`-like views and reports)."""
        return {
            "id": self.id,
            "externalTxId": self.external_id,
            "status": self.status.value,
            "subStatus": self.sub_status,
            "initiator": self.initiator,
            "operation": self.operation,
            "asset": self.asset,
            "amount": str(self.amount),
            "source": self.source,
            "destination": self.destination,
            "destinationAddressType": self.destination_address,
            "rule": self.rule,
            "signedBy": self.signed_by,
        }
