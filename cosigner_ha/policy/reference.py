"""The plain evaluator: the documented semantics as a loop over rules and over the history, nothing cached.

It is the oracle the fast `PolicyEngine` is tested against (and measured against in the benchmark), so
it shares only the model, the directory and the exact money units with it, never the matching code.
"""

from __future__ import annotations

from .decision import (
    BLOCKED,
    BLOCKED_BY_POLICY,
    FAILED,
    NO_MATCH,
    PENDING_AUTHORIZATION,
    PENDING_SIGNATURE,
    SIGNER_NOT_FOUND,
    ApprovalGroup,
    ApprovalSpec,
    Decision,
)
from .directory import Directory
from .errors import PriceError
from .model import ZERO_VALUE_OPERATIONS, PeerPattern, Policy, Rule
from .money import to_units
from .transaction import Peer, Transaction


class ReferenceEngine:
    def __init__(self, policy: Policy, directory: Directory) -> None:
        self.policy = policy
        self.directory = directory
        self.history: list[Transaction] = []  # every transaction that went on toward signing

    def decide(self, tx: Transaction) -> Decision:
        for rule in self.policy.rules:
            if in_scope(rule, tx, self.directory) and self._amount_applies(rule, tx):
                return self._decision(rule, tx)
        return NO_MATCH

    def record(self, tx: Transaction, decision: Decision) -> None:
        if decision.status not in (BLOCKED, FAILED):
            self.history.append(tx)

    def _value(self, tx: Transaction, currency: str) -> int:
        multiplier = self.directory.multiplier(tx.asset, currency)
        if multiplier is None:
            raise PriceError(f"no {currency} price for {tx.asset!r}", origin=self.directory.origin)
        return tx.units * multiplier

    def _amount_applies(self, rule: Rule, tx: Transaction) -> bool:
        amount = rule.amount
        at_least = self.policy.amount_match == "at-least"
        zero_ok = tx.operation in ZERO_VALUE_OPERATIONS
        if rule.window is None and amount.min == 0 and amount.max is None:
            return tx.units > 0 or at_least or zero_ok  # in any currency, whatever the price
        scale = self.directory.scale(amount.currency)
        value = self._value(tx, amount.currency)
        if rule.window is not None:
            w = rule.window
            for past in self.history:
                if not (tx.at - w.seconds < past.at <= tx.at) or not in_scope(rule, past, self.directory):
                    continue
                if w.per_initiator and past.initiator != tx.initiator:
                    continue
                if w.per_source and past.source != tx.source:
                    continue
                if w.per_destination and past.destination != tx.destination:
                    continue
                if amount.currency == "NATIVE" and past.asset != tx.asset:
                    continue
                value += self._value(past, amount.currency)
        low = to_units(amount.min) * scale
        high = None if amount.max is None else to_units(amount.max) * scale
        exceeded = value > low or (zero_ok and value == 0 and low == 0)
        above = value >= low if at_least else exceeded
        return above and (high is None or value <= high)

    def _members(self, users: tuple[str, ...], groups: tuple[str, ...]) -> list[str]:
        names: list[str] = []
        for name in users:
            if name not in names:
                names.append(name)
        for group in groups:
            members = self.directory.members(group)
            for name in (group,) if members is None else members:
                if name not in names:
                    names.append(name)
        return names

    def _decision(self, rule: Rule, tx: Transaction) -> Decision:
        if rule.action == "BLOCK":
            return Decision(rule.index, "BLOCK", BLOCKED, BLOCKED_BY_POLICY, (), None)
        if rule.signers.named:
            signers = tuple(self._members(rule.signers.users, rule.signers.groups))
            from_exchange_or_fiat = tx.source_peer.type in ("EXCHANGE", "FIAT_ACCOUNT")
            if from_exchange_or_fiat and (rule.signers.groups or len(signers) > 1):
                return Decision(rule.index, rule.action, FAILED, SIGNER_NOT_FOUND, signers, None)
        else:
            signers = (tx.initiator,)
            if self.directory.can_sign(tx.initiator) is False:
                return Decision(rule.index, rule.action, FAILED, SIGNER_NOT_FOUND, signers, None)
        approvers = None
        if rule.action == "2-TIER":
            assert rule.approvers is not None
            approvers = ApprovalSpec(
                tuple(
                    ApprovalGroup(tuple(self._members(g.users, g.groups)), g.threshold)
                    for g in rule.approvers.groups
                ),
                rule.approvers.logic,
                rule.approvers.allow_operator_as_authorizer,
            )
            return Decision(rule.index, rule.action, PENDING_AUTHORIZATION, None, signers, approvers)
        return Decision(rule.index, rule.action, PENDING_SIGNATURE, None, signers, None)


def in_scope(rule: Rule, tx: Transaction, directory: Directory) -> bool:
    """Every condition of the rule but the amount."""
    if rule.operations is not None and tx.operation not in rule.operations:
        return False
    if rule.asset is not None and tx.asset != rule.asset:
        return False
    who = rule.initiators
    if not who.wildcard:
        allowed = list(who.users) + list(who.services)
        for group in who.groups:
            members = directory.members(group)
            allowed.extend((group,) if members is None else members)
        if tx.initiator not in allowed:
            return False
    if not _matches(rule.source, tx.source_peer) or not _matches(rule.destination, tx.destination_peer):
        return False
    return rule.address_type is None or rule.address_type == tx.address


def _matches(patterns: tuple[PeerPattern, ...] | None, peer: Peer) -> bool:
    if patterns is None:
        return True
    return any(
        p.type in (None, peer.type) and p.id in (None, peer.id) and p.subtype in (None, peer.subtype)
        for p in patterns
    )
