"""A transaction as the policy engine sees it, and the `kind:id` account notation of the scenario format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from .errors import PolicyError
from .model import ADDRESS_TYPES, OPERATIONS
from .money import to_decimal, to_units


class Peer(NamedTuple):
    """A concrete account in Fireblocks' terms: (type, id, subtype)."""

    type: str
    id: str
    subtype: str | None


# scenario kind -> (Fireblocks peer type, subtype): whitelisted wallets are UNMANAGED with subtype
# EXTERNAL, INTERNAL or CONTRACT (tap-policy.md section 1.1), network connections NETWORK_CONNECTION.
ACCOUNT_KINDS: dict[str, tuple[str, str | None]] = {
    "vault": ("VAULT", None),
    "exchange": ("EXCHANGE", None),
    "fiat": ("FIAT_ACCOUNT", None),
    "wallet": ("UNMANAGED", "EXTERNAL"),
    "internal": ("UNMANAGED", "INTERNAL"),
    "contract": ("UNMANAGED", "CONTRACT"),
    "network": ("NETWORK_CONNECTION", None),
    "one-time": ("ONE_TIME_ADDRESS", None),
}
SOURCE_KINDS = ("vault", "exchange", "fiat")
DESTINATION_KINDS = tuple(ACCOUNT_KINDS)
EXCHANGE_OR_FIAT = frozenset({"EXCHANGE", "FIAT_ACCOUNT"})


def parse_account(text: object, kinds: tuple[str, ...]) -> Peer:
    """`vault:hot` -> Peer("VAULT", "hot", None); ValueError saying what is accepted."""
    if isinstance(text, str):
        kind, sep, ident = text.partition(":")
        if sep and ident and kind in kinds:
            peer_type, subtype = ACCOUNT_KINDS[kind]
            return Peer(peer_type, ident, subtype)
    expected = " | ".join(f"{k}:<id>" for k in kinds)
    raise ValueError(f"expected {expected}, got {text!r}")


@dataclass(frozen=True, slots=True)
class Transaction:
    """`amount` is in the asset's native units; `at` is seconds (only amount-over-time rules read it)."""

    initiator: str
    operation: str
    asset: str
    amount: Decimal | float
    source: str
    destination: str
    destination_address: str | None = None  # derived from `destination` when omitted
    at: float = 0.0
    units: int = field(init=False, repr=False, compare=False)
    source_peer: Peer = field(init=False, repr=False, compare=False)
    destination_peer: Peer = field(init=False, repr=False, compare=False)
    address: str = field(init=False, repr=False, compare=False)  # destination_address, derived if omitted

    def __post_init__(self) -> None:
        _check(self, "transaction")

    @classmethod
    def from_dict(cls, data: object, *, origin: str = "transaction") -> Transaction:
        """From the JSON shape of `policy eval --tx`; PolicyError naming `origin` and the field."""
        if not isinstance(data, Mapping):
            raise PolicyError(f"expected a JSON object, got {type(data).__name__}", origin=origin)
        unknown = [k for k in data if k not in _FIELDS]
        if unknown:
            raise PolicyError(
                f"unknown field; expected only {', '.join(_FIELDS)}", origin=origin, field=str(unknown[0])
            )
        for name in _REQUIRED:
            if name not in data:
                raise PolicyError("required field is missing", origin=origin, field=name)
        values: dict[str, Any] = {k: data[k] for k in _FIELDS if k in data and k != "id"}
        try:
            return cls(**values)
        except PolicyError as exc:
            raise PolicyError(exc.problem, origin=origin, field=exc.field) from None


_REQUIRED = ("initiator", "operation", "asset", "amount", "source", "destination")
_FIELDS = (*_REQUIRED, "destination_address", "at", "id")


def _check(tx: Transaction, origin: str) -> None:
    def fail(name: str, problem: str) -> PolicyError:
        return PolicyError(problem, origin=origin, field=name)

    for name in ("initiator", "asset"):
        value = getattr(tx, name)
        if not isinstance(value, str) or not value:
            raise fail(name, f"expected a non-empty string, got {value!r}")
    if tx.operation not in OPERATIONS:
        raise fail("operation", f"expected one of {', '.join(OPERATIONS)}, got {tx.operation!r}")
    try:
        amount = to_decimal(tx.amount)
    except ValueError as exc:
        raise fail("amount", str(exc)) from None
    if amount < 0:
        raise fail("amount", f"expected a non-negative amount in native units, got {tx.amount!r}")
    try:
        source = parse_account(tx.source, SOURCE_KINDS)
    except ValueError as exc:
        raise fail("source", str(exc)) from None
    try:
        destination = parse_account(tx.destination, DESTINATION_KINDS)
    except ValueError as exc:
        raise fail("destination", str(exc)) from None
    one_time = destination.type == "ONE_TIME_ADDRESS"
    address = tx.destination_address
    if address is None:
        address = "one-time" if one_time else "whitelisted"
    elif address not in ADDRESS_TYPES:
        raise fail("destination_address", f"expected 'whitelisted' or 'one-time', got {address!r}")
    elif (address == "one-time") != one_time:
        raise fail(
            "destination_address",
            f"{address!r} contradicts destination {tx.destination!r}: a one-time:<address> destination is "
            "'one-time', every other destination is 'whitelisted'",
        )
    at = tx.at
    if (
        isinstance(at, bool)
        or not isinstance(at, int | float)
        or at != at
        or at in (float("inf"), float("-inf"))
    ):
        raise fail("at", f"expected a finite number of seconds, got {at!r}")
    set_ = object.__setattr__
    set_(tx, "destination_address", address)
    set_(tx, "at", float(at))
    set_(tx, "units", to_units(amount))
    set_(tx, "source_peer", source)
    set_(tx, "destination_peer", destination)
    set_(tx, "address", address)
