"""One model for a Transaction Authorization Policy, whichever form (native or Fireblocks JSON) it came from.

Every `None` below means "any". Names are workspace names: the loaders resolve Fireblocks ids through the
directory, and keep an id as given when the directory does not know it (validation then reports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

OPERATIONS = (
    "TRANSFER",
    "CONTRACT_CALL",
    "APPROVE",
    "MINT",
    "BURN",
    "SUPPLY",
    "REDEEM",
    "STAKE",
    "RAW",
    "TYPED_MESSAGE",
    "PROGRAM_CALL",
)
#: Operations whose amount is not value moved (an ERC-20 `transfer()` is a CONTRACT_CALL of 0 ETH): with
#: amount_match "exceed", an amount of 0 still matches a rule whose minimum is 0. A TRANSFER of nothing
#: does not ("greater than $0", the seed's HA page), unless amount_match is "at-least".
ZERO_VALUE_OPERATIONS = frozenset(OPERATIONS) - {"TRANSFER"}
ACTIONS = ("ALLOW", "BLOCK", "2-TIER")
CURRENCIES = ("USD", "EUR", "NATIVE")
PEER_TYPES = (
    "EXCHANGE",
    "UNMANAGED",
    "VAULT",
    "NETWORK_CONNECTION",
    "COMPOUND",
    "FIAT_ACCOUNT",
    "ONE_TIME_ADDRESS",
)
PEER_SUBTYPES = ("EXTERNAL", "INTERNAL", "CONTRACT", "EXCHANGETEST")
ADDRESS_TYPES = ("whitelisted", "one-time")
LOGICS = ("AND", "OR")

Form = Literal["native", "fireblocks", "v2"]
#: Whether an amount equal to a non-zero minimum matches (docs/policy.md, "Choices"): "exceed" (strictly
#: above, the documented wording) or "at-least". See ZERO_VALUE_OPERATIONS for a minimum of 0.
AMOUNT_MATCHES = ("exceed", "at-least")


@dataclass(frozen=True, slots=True)
class PeerPattern:
    """One source or destination pattern: Fireblocks' `[id, type, subType]` tuple; None is `*`."""

    type: str | None = None
    id: str | None = None
    subtype: str | None = None

    def covers(self, other: PeerPattern) -> bool:
        """Whether every peer this pattern's `other` matches is matched by this one too."""
        return (
            (self.type is None or self.type == other.type)
            and (self.id is None or self.id == other.id)
            and (self.subtype is None or self.subtype == other.subtype)
        )

    def __str__(self) -> str:
        return f"[{self.id or '*'}, {self.type or '*'}, {self.subtype or '*'}]"


@dataclass(frozen=True, slots=True)
class Initiators:
    """Who may initiate: `wildcard` is "anyone"; a rule naming users beside the wildcard is invalid."""

    wildcard: bool = True
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    @property
    def named(self) -> bool:
        return bool(self.users or self.groups or self.services)


@dataclass(frozen=True, slots=True)
class AmountRange:
    """The rule applies when the amount (or windowed total) is > `min` (>= with "at-least", any amount when
    `min` is 0) and, if `max` is given, <= `max`."""

    min: Decimal = Decimal(0)
    max: Decimal | None = None
    currency: str = "USD"

    @property
    def unbounded(self) -> bool:
        """Min 0 and no max: every amount qualifies (0 included), in any currency, without a price."""
        return self.min == 0 and self.max is None


@dataclass(frozen=True, slots=True)
class Window:
    """Amount over time: a rolling window of `seconds`; totals kept apart per entity on each `per_*`."""

    seconds: float
    per_initiator: bool = False
    per_source: bool = False
    per_destination: bool = False


@dataclass(frozen=True, slots=True)
class ApproverGroup:
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    threshold: int = 1


@dataclass(frozen=True, slots=True)
class Approvers:
    groups: tuple[ApproverGroup, ...]
    logic: str = "AND"
    allow_operator_as_authorizer: bool = False


@dataclass(frozen=True, slots=True)
class Signers:
    """Designated signers as written; none means the initiator signs."""

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def named(self) -> bool:
        return bool(self.users or self.groups)


@dataclass(frozen=True, slots=True)
class RawMessageSigning:
    """Kept for RAW rules; transactions in this simulator carry no algorithm or path, so it never filters."""

    algorithm: str
    derivation_path: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    form: Form
    action: str | None
    operations: tuple[str, ...] | None = None
    asset: str | None = None
    initiators: Initiators = Initiators()
    source: tuple[PeerPattern, ...] | None = None
    destination: tuple[PeerPattern, ...] | None = None
    address_type: str | None = None
    amount: AmountRange = AmountRange()
    window: Window | None = None
    approvers: Approvers | None = None
    signers: Signers = Signers()
    description: str | None = None
    # What validation needs to see as written:
    missing: tuple[str, ...] = ()  # required fields that were absent (names as in the rule's form)
    apply_for_approve: bool = False
    apply_for_typed_message: bool = False
    raw_message_signing: RawMessageSigning | None = None
    rule_id: str | None = None  # a v2 rule's `id` (must be unique)

    def field_name(self, canonical: str) -> str:
        """The name of a field as the rule's own form spells it, for messages."""
        if self.form == "native":
            return canonical
        if self.form == "v2":
            if canonical == "amount.max" and self.window is not None:
                return "amountOverTime.range.max"
            return _V2_FIELDS.get(canonical, canonical)
        return _FIREBLOCKS_FIELDS.get(canonical, canonical)


# native key path -> the Fireblocks v1 field that holds the same thing
_FIREBLOCKS_FIELDS = {
    "initiator": "operators",
    "source": "src",
    "destination": "dst",
    "amount.max": "amount",
    "amount.currency": "amountCurrency",
    "over.window": "periodSec",
    "approvers": "authorizationGroups",
    "designated_signers": "designatedSigners",
}

# native key path -> the v2 (`PolicyRule`) field that holds the same thing
_V2_FIELDS = {
    "amount.max": "amount.range.max",
    "amount.currency": "amount.currency",
    "over.window": "amountOverTime.timePeriod.seconds",
    "approvers": "verdict.approvers",
    "designated_signers": "verdict.designatedSigners",
}


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[Rule, ...]
    origin: str
    form: Form = "native"
    amount_match: str = "exceed"  # one of AMOUNT_MATCHES, per workspace
