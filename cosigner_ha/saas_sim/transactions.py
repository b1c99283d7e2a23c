"""Transactions: the record the SaaS keeps, and the status machine every change goes through.

Statuses and sub-statuses are the Fireblocks ones (cosigner-protocol.md section 5). The machine is small
on purpose: a transaction moves forward only, along `TRANSITIONS`, and a terminal status never changes,
so "a signature is released at most once" reduces to "COMPLETED is entered at most once".
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, overload

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


class StatusHistory(Sequence[StatusChange]):
    """A transaction's status changes, oldest first: a read-only sequence of `StatusChange`, equal to the
    tuple of them.

    Held as one flat tuple (at, status, sub_status, reason, at, ...), because a run keeps every
    transaction's history: three changes cost about 180 bytes so against 260 as three objects in a tuple.
    Reading builds the `StatusChange` values; they are frozen, so a copy cannot be changed by mistake."""

    __slots__ = ("_flat",)
    _FIELDS = 4

    def __init__(self, changes: Iterable[StatusChange] = ()) -> None:
        self._flat: tuple[Any, ...] = tuple(
            value for c in changes for value in (c.at, c.status, c.sub_status, c.reason)
        )

    def added(self, change: StatusChange) -> StatusHistory:
        """This history with `change` after the others (a new one: histories never change)."""
        new = StatusHistory()
        new._flat = (*self._flat, change.at, change.status, change.sub_status, change.reason)
        return new

    def __len__(self) -> int:
        return len(self._flat) // self._FIELDS

    @overload
    def __getitem__(self, index: int) -> StatusChange: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[StatusChange, ...]: ...
    def __getitem__(self, index: int | slice) -> StatusChange | tuple[StatusChange, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("status history index out of range")
        k = index * self._FIELDS
        return StatusChange(*self._flat[k : k + self._FIELDS])

    def __iter__(self) -> Iterator[StatusChange]:
        flat, size = self._flat, self._FIELDS
        return (StatusChange(*flat[k : k + size]) for k in range(0, len(flat), size))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StatusHistory):
            return self._flat == other._flat
        if isinstance(other, tuple | list):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


NO_HISTORY = StatusHistory()


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
    # history, approvals and attempts are immutable, replaced as they grow (a few times a transaction): a
    # run keeps every record, and an empty tuple costs nothing where an empty list costs 56 bytes
    history: Sequence[StatusChange] = NO_HISTORY
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
        change = StatusChange(at, status, sub_status, shared_text(reason))
        history = self.history if isinstance(self.history, StatusHistory) else StatusHistory(self.history)
        self.history = history.added(change)
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
