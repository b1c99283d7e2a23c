"""The fast evaluator: rules compiled into a bitmask index, amount-over-time totals kept incrementally.

Each dimension the rules filter on (operation, asset, initiator, source, destination, address type) maps
a value to the bitmask of rules that accept it; the AND of the six masks is exactly the set of rules
whose every condition except the amount holds, and its lowest set bits are tried in order. Masks per
value are computed once and cached; the cache keys stay bounded because an account id no rule names
(a one-time address, say) is looked up as "any id".
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from .decision import (
    BLOCKED,
    BLOCKED_BY_POLICY,
    FAILED,
    NO_MATCH,
    PENDING_AUTHORIZATION,
    PENDING_SIGNATURE,
    SIGNER_NOT_FOUND,
    Decision,
)
from .directory import Directory
from .errors import PolicyError, PriceError
from .ledger import CountedHistory, WindowTotal
from .model import ZERO_VALUE_OPERATIONS, PeerPattern, Policy, Rule
from .money import to_units
from .resolve import approval_spec, expand
from .transaction import EXCHANGE_OR_FIAT, Peer, Transaction
from .validation import validate

K = TypeVar("K", bound=Hashable)
_ANY_ID = "\x00any"  # stands for every account id that no rule names


class _CompiledRule:
    """One rule with everything a decision needs precomputed."""

    __slots__ = (
        "action",
        "approvers",
        "block",
        "currency",
        "fail",
        "inclusive",
        "index",
        "max",
        "min",
        "native",
        "ok",
        "per_destination",
        "per_initiator",
        "per_source",
        "signers",
        "signs_alone",
        "status",
        "totals",
        "unbounded",
        "window",
    )

    def __init__(self, rule: Rule, directory: Directory, amount_match: str) -> None:
        self.index = rule.index
        self.action = rule.action
        amount = rule.amount
        self.currency = amount.currency
        self.native = amount.currency == "NATIVE"
        scale = directory.scale(amount.currency)
        self.min = to_units(amount.min) * scale
        self.max = None if amount.max is None else to_units(amount.max) * scale
        self.unbounded = amount.unbounded and rule.window is None
        # "exceed" (the documented wording) or "at-least" the minimum; see `zero_matches`.
        self.inclusive = amount_match == "at-least"
        window = rule.window
        self.window = None if window is None else window.seconds
        self.per_initiator = window is not None and window.per_initiator
        self.per_source = window is not None and window.per_source
        self.per_destination = window is not None and window.per_destination
        self.totals: dict[tuple[str | None, ...], WindowTotal] = {}
        self.approvers = None
        if rule.action == "2-TIER" and rule.approvers is not None:
            self.approvers = approval_spec(directory, rule.approvers)
        self.block = Decision(rule.index, rule.action, BLOCKED, BLOCKED_BY_POLICY, (), None)
        self.status = PENDING_AUTHORIZATION if rule.action == "2-TIER" else PENDING_SIGNATURE
        self.signers: tuple[str, ...] | None = None  # None: the initiator signs
        self.ok = self.fail = self.block
        self.signs_alone = True
        if rule.signers.named:
            self.signers = expand(directory, rule.signers.users, rule.signers.groups)
            # Exchange and fiat sources take exactly one API user, never a group (tap-policy.md section 3).
            self.signs_alone = not rule.signers.groups and len(self.signers) == 1
            self.ok = Decision(rule.index, rule.action, self.status, None, self.signers, self.approvers)
            self.fail = Decision(rule.index, rule.action, FAILED, SIGNER_NOT_FOUND, self.signers, None)

    def decision(self, tx: Transaction, directory: Directory) -> Decision:
        if self.action == "BLOCK":
            return self.block
        if self.signers is not None:
            if not self.signs_alone and tx.source_peer.type in EXCHANGE_OR_FIAT:
                return self.fail
            return self.ok
        signer = (tx.initiator,)
        # The initiator signs; an Editor or a Non-Signing Admin cannot, and needed a designated signer.
        if directory.can_sign(tx.initiator) is False:
            return Decision(self.index, self.action, FAILED, SIGNER_NOT_FOUND, signer, None)
        return Decision(self.index, self.action, self.status, None, signer, self.approvers)


class _Dimension(Generic[K]):
    """value -> bitmask of the rules that accept it, built lazily from a per-rule acceptance test."""

    __slots__ = ("_accepts", "_cache", "_rules")

    def __init__(self, rules: Sequence[Rule], accepts: Callable[[Rule, K], bool]) -> None:
        self._rules = rules
        self._accepts = accepts
        self._cache: dict[K, int] = {}

    def mask(self, value: K) -> int:
        found = self._cache.get(value)
        if found is None:
            found = 0
            for rule in self._rules:
                if self._accepts(rule, value):
                    found |= 1 << rule.index
            if len(self._cache) > 65536:
                self._cache.clear()
            self._cache[value] = found
        return found


def _peer_accepts(patterns: tuple[PeerPattern, ...] | None, peer: Peer) -> bool:
    if patterns is None:
        return True
    peer_type, ident, subtype = peer
    for p in patterns:
        if (
            (p.type is None or p.type == peer_type)
            and (p.id is None or p.id == ident)
            and (p.subtype is None or p.subtype == subtype)
        ):
            return True
    return False


class PolicyEngine:
    """Decides transactions against one published policy and keeps its amount-over-time ledger.

    The policy must pass `validate` against the directory (a workspace only runs a publishable policy).
    `decide` does not count the transaction; `record` adds one that goes on toward signing to the
    totals of every amount-over-time rule whose scope it falls in, whichever rule it matched. Calls come
    in time order (`at` never goes back), each transaction recorded right after it is decided.

    `history` carries the counted transactions over from the engine of the policy published before
    (`engine.history`): publishing a policy, or the same one again, does not reset the rolling totals.
    """

    def __init__(
        self, policy: Policy, directory: Directory, *, history: CountedHistory | None = None
    ) -> None:
        result = validate(policy, directory)
        if not result.ok:
            first = next(c for c in result.results if c.errors)
            raise PolicyError(
                f"the policy is not publishable ({result.error_count} validation errors); first: "
                f"{first.errors[0].message}",
                origin=policy.origin,
                rule_index=first.index,
                field=first.errors[0].field,
            )
        self.policy = policy
        self.directory = directory
        rules = policy.rules
        self._rules = [_CompiledRule(rule, directory, policy.amount_match) for rule in rules]
        self._windowed_mask = sum(1 << r.index for r in self._rules if r.window is not None)
        initiators: dict[int, frozenset[str]] = {
            r.index: frozenset(
                (*expand(directory, r.initiators.users, r.initiators.groups), *r.initiators.services)
            )
            for r in rules
            if not r.initiators.wildcard
        }
        named_ids = {p.id for r in rules for side in (r.source, r.destination) if side for p in side if p.id}
        self._named_ids = frozenset(named_ids)
        self._operation = _Dimension[str](rules, lambda r, op: r.operations is None or op in r.operations)
        self._asset = _Dimension[str](rules, lambda r, asset: r.asset is None or r.asset == asset)
        self._initiator = _Dimension[str](
            rules, lambda r, who: r.index not in initiators or who in initiators[r.index]
        )
        self._source = _Dimension[Peer](rules, lambda r, peer: _peer_accepts(r.source, peer))
        self._destination = _Dimension[Peer](rules, lambda r, peer: _peer_accepts(r.destination, peer))
        self._address = _Dimension[str](
            rules, lambda r, kind: r.address_type is None or r.address_type == kind
        )
        self._multipliers: dict[tuple[str, str], int] = {}
        self._last_at = float("-inf")
        self.history = CountedHistory() if history is None else history
        for r in self._rules:
            if r.window is not None:
                self.history.cover(r.window)
        for past in self.history.entries:  # the earlier policy's counted transactions, toward these rules
            self._count(past)
        if self.history.entries:
            self._last_at = self.history.entries[-1].at

    # -- the index ---------------------------------------------------------------------------------------

    def _peer_key(self, peer: Peer) -> Peer:
        return peer if peer.id in self._named_ids else Peer(peer.type, _ANY_ID, peer.subtype)

    def _candidates(self, tx: Transaction) -> int:
        """Bitmask of the rules whose every condition but the amount holds for `tx`."""
        return (
            self._operation.mask(tx.operation)
            & self._asset.mask(tx.asset)
            & self._initiator.mask(tx.initiator)
            & self._source.mask(self._peer_key(tx.source_peer))
            & self._destination.mask(self._peer_key(tx.destination_peer))
            & self._address.mask(tx.address)
        )

    def _multiplier(self, asset: str, currency: str) -> int:
        found = self._multipliers.get((asset, currency))
        if found is None:
            price = self.directory.multiplier(asset, currency)
            if price is None:
                raise PriceError(
                    f"a rule compares amounts in {currency} and the workspace has no {currency} price for "
                    f"asset {asset!r} (give prices_usd, and eur_usd or prices_eur for EUR)",
                    origin=self.directory.origin,
                    field=f"workspace.prices_{currency.lower()}.{asset}",
                )
            self._multipliers[(asset, currency)] = found = price
        return found

    @staticmethod
    def _total_key(rule: _CompiledRule, tx: Transaction) -> tuple[str | None, ...]:
        return (
            tx.initiator if rule.per_initiator else None,
            tx.source if rule.per_source else None,
            tx.destination if rule.per_destination else None,
            tx.asset if rule.native else None,  # native units of different assets never add up
        )

    def _advance(self, tx: Transaction) -> None:
        """Time only moves forward: expired window entries are dropped for good as soon as they are seen."""
        if tx.at < self._last_at:
            raise ValueError(
                f"transaction at {tx.at} s is earlier than one already decided or recorded at "
                f"{self._last_at} s; decide and record in time order"
            )
        self._last_at = tx.at

    # -- the API -----------------------------------------------------------------------------------------

    def decide(self, tx: Transaction) -> Decision:
        self._advance(tx)
        mask = self._candidates(tx)
        rules = self._rules
        units = tx.units
        zero_value = tx.operation in ZERO_VALUE_OPERATIONS
        while mask:
            low = mask & -mask
            rule = rules[low.bit_length() - 1]
            mask ^= low
            if rule.unbounded:
                if units > 0 or rule.inclusive or zero_value:
                    return rule.decision(tx, self.directory)
                continue
            value = units * self._multiplier(tx.asset, rule.currency)
            if rule.window is not None:
                key = self._total_key(rule, tx)
                total = rule.totals.get(key)
                if total is not None:
                    value += total.expire(tx.at - rule.window)
                    if not total.entries:
                        del rule.totals[key]  # keys come and go (one-time addresses): keep only live ones
            if rule.inclusive:
                above = value >= rule.min
            else:
                above = value > rule.min or (zero_value and value == 0 and rule.min == 0)
            if above and (rule.max is None or value <= rule.max):
                return rule.decision(tx, self.directory)
        return NO_MATCH

    def record(self, tx: Transaction, decision: Decision) -> None:
        """Count `tx` toward amount-over-time totals unless its decision stopped it (BLOCKED or FAILED)."""
        self._advance(tx)
        if not decision.counts:
            return
        self.history.add(tx)
        self._count(tx)

    def _count(self, tx: Transaction) -> None:
        mask = self._candidates(tx) & self._windowed_mask
        rules = self._rules
        while mask:
            low = mask & -mask
            rule = rules[low.bit_length() - 1]
            mask ^= low
            assert rule.window is not None
            key = self._total_key(rule, tx)
            total = rule.totals.get(key)
            if total is None:
                rule.totals[key] = total = WindowTotal()
            else:
                total.expire(tx.at - rule.window)
            total.add(tx.at, tx.units * self._multiplier(tx.asset, rule.currency))

    def decide_and_record(self, tx: Transaction) -> Decision:
        decision = self.decide(tx)
        self.record(tx, decision)
        return decision
