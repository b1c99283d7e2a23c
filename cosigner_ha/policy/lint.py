"""Findings a reviewer wants before publishing: validation errors, and warnings that do not block.

Reachability is judged soundly but not completely: a rule is called shadowed only when, for each of its
source patterns, one earlier rule alone accepts every transaction it would accept. A rule hidden by a
combination of several earlier rules in another dimension is not reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .directory import Directory
from .model import PeerPattern, Policy, Rule
from .resolve import expand
from .validation import validate

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str  # "error" blocks publishing, "warning" does not
    code: str
    rule: int | None
    field: str | None
    message: str
    policy: str | None = None  # which policy, when a scenario has several (`faults[2]`); None: the first

    def to_dict(self) -> dict[str, Any]:
        out = {
            "severity": self.severity,
            "code": self.code,
            "rule": self.rule,
            "field": self.field,
            "message": self.message,
        }
        if self.policy is not None:
            out["policy"] = self.policy
        return out


def lint(
    policy: Policy, directory: Directory, topology: Mapping[str, Sequence[str]] | None = None
) -> list[Finding]:
    """Errors and warnings sorted by rule, errors first. `topology` maps node name -> API users it serves."""
    findings = [
        Finding(ERROR, e.code_name, check.index, e.field, e.message)
        for check in validate(policy, directory).results
        for e in check.errors
    ]
    rules = policy.rules
    for rule in rules:
        earlier = rules[: rule.index]
        shadow = _shadowed_by(rule, earlier, directory)
        if shadow is not None:
            by = ", ".join(str(i) for i in shadow)
            single = [i for i in shadow if rules[i].window is None]
            if rule.window is not None and single:
                findings.append(
                    Finding(
                        WARNING,
                        "AOT_SHADOWED_BY_SINGLE_TX",
                        rule.index,
                        None,
                        f"amount-over-time rule {rule.index} is below single-transaction rule "
                        f"{', '.join(map(str, single))}, which takes every transaction it would total, "
                        "so its limit never applies; put amount-over-time rules above single-transaction "
                        "rules",
                    )
                )
            else:
                findings.append(
                    Finding(
                        WARNING,
                        "SHADOWED_RULE",
                        rule.index,
                        None,
                        f"rule {rule.index} is never reached: rule {by} above it matches every transaction "
                        "that it would match",
                    )
                )
            continue
        findings.extend(_rule_warnings(rule, earlier, directory, topology))
    if not rules or not _catch_all(rules[-1]):
        findings.append(
            Finding(
                WARNING,
                "NO_CATCH_ALL",
                rules[-1].index if rules else None,
                None,
                "the policy does not end with a catch-all rule (any initiator, source, destination and "
                "asset, minimum 0): a transaction no rule matches is BLOCKED_BY_POLICY without saying so; "
                "end with an explicit rule",
            )
        )
    return sorted(findings, key=lambda f: (f.rule is None, f.rule or 0, f.severity != ERROR))


def _rule_warnings(
    rule: Rule, earlier: Sequence[Rule], directory: Directory, topology: Mapping[str, Sequence[str]] | None
) -> list[Finding]:
    found = []
    name = rule.field_name
    signers = expand(directory, rule.signers.users, rule.signers.groups)
    if rule.action != "BLOCK" and (rule.signers.groups or len(signers) > 1):
        kinds = _exchange_fiat_reach(rule, earlier, directory)
        if kinds:
            found.append(
                Finding(
                    WARNING,
                    "EXCHANGE_FIAT_MULTIPLE_SIGNERS",
                    rule.index,
                    name("designated_signers"),
                    f"transactions from {' or '.join(kinds)} accounts reach this rule, which names "
                    f"{'a group' if rule.signers.groups else 'several signers'}: they fail (FAILED / "
                    "SIGNER_NOT_FOUND); name a single API user for such sources, or put a group-free rule "
                    "for them above",
                )
            )
    if rule.action != "2-TIER" and rule.approvers is not None:
        found.append(
            Finding(
                WARNING,
                "APPROVERS_IGNORED",
                rule.index,
                name("approvers"),
                f"approvers have no effect on a {rule.action} rule",
            )
        )
    if rule.action == "BLOCK" and rule.signers.named:
        found.append(
            Finding(
                WARNING,
                "SIGNERS_IGNORED",
                rule.index,
                name("designated_signers"),
                "designated signers have no effect on a BLOCK rule",
            )
        )
    if rule.amount.currency == "NATIVE" and rule.asset is None and rule.amount.min > 0:
        found.append(
            Finding(
                WARNING,
                "NATIVE_AMOUNT_ANY_ASSET",
                rule.index,
                name("amount.currency"),
                f"a NATIVE threshold of {rule.amount.min} on any asset compares each asset in its own units "
                "(1 BTC and 1 USDC alike); prefer USD or EUR, or one rule per asset",
            )
        )
    if rule.action != "BLOCK" and not rule.signers.named:
        cannot = [
            n
            for n in expand(directory, rule.initiators.users, rule.initiators.groups)
            if directory.can_sign(n) is False
        ]
        if cannot:
            found.append(
                Finding(
                    WARNING,
                    "INITIATOR_CANNOT_SIGN",
                    rule.index,
                    name("designated_signers"),
                    f"no designated signers, so the initiator signs, but {', '.join(cannot)} cannot sign: "
                    "their transactions fail (FAILED / SIGNER_NOT_FOUND)",
                )
            )
    if topology is not None and rule.action != "BLOCK" and rule.signers.named:
        found.extend(_topology_warnings(rule, signers, directory, topology))
    return found


def _topology_warnings(
    rule: Rule, signers: tuple[str, ...], directory: Directory, topology: Mapping[str, Sequence[str]]
) -> list[Finding]:
    found = []
    field = rule.field_name("designated_signers")
    serving: dict[str, None] = {}
    for signer in signers:
        if directory.is_api_user(signer) is False:
            continue  # console users sign on their own devices, not on co-signer nodes
        nodes = [node for node, users in topology.items() if signer in users]
        serving.update(dict.fromkeys(nodes))
        if not nodes:
            found.append(
                Finding(
                    WARNING,
                    "SIGNER_NOT_SERVED",
                    rule.index,
                    field,
                    f"no co-signer node serves designated API user {signer!r}: it can never sign this rule's "
                    "transactions",
                )
            )
    if len(serving) == 1:
        (node,) = serving
        exchange_or_fiat = rule.source is not None and all(
            p.type in ("EXCHANGE", "FIAT_ACCOUNT") for p in rule.source
        )
        if exchange_or_fiat:
            # More API users here is exactly what makes these transactions fail (tap-policy.md section 3).
            advice = (
                "exchange and fiat sources take exactly one designated API user, so adding API users would "
                "make them fail (SIGNER_NOT_FOUND); for availability keep that node quick to recover (a "
                "standby host, a backup to restore), or move funds through a vault, whose rules may name a "
                "group of API users on several nodes"
            )
        else:
            advice = "pair another node's API user and designate it too"
        found.append(
            Finding(
                WARNING,
                "NO_HIGH_AVAILABILITY",
                rule.index,
                field,
                f"only node {node!r} serves this rule's designated signers: when it is down, matching "
                f"transactions wait until the signing timeout; {advice}",
            )
        )
    return found


def _catch_all(rule: Rule) -> bool:
    return (
        rule.initiators.wildcard
        and not rule.initiators.named
        and rule.asset is None
        and rule.source is None
        and rule.destination is None
        and rule.address_type is None
        and rule.amount.min == 0
        and rule.amount.max is None
    )


def _exchange_fiat_reach(rule: Rule, earlier: Sequence[Rule], directory: Directory) -> list[str]:
    """Which of exchange/fiat sources can reach `rule` past the rules above it."""
    reach: list[str] = []
    for peer_type, label in (("EXCHANGE", "exchange"), ("FIAT_ACCOUNT", "fiat")):
        patterns = []
        for p in rule.source or (PeerPattern(),):
            if p.subtype is not None or p.type not in (None, peer_type):
                continue
            if (
                p.type is None
                and p.id is not None
                and directory.strict
                and not directory.knows_account(peer_type, p.id)
            ):
                continue
            patterns.append(PeerPattern(peer_type, p.id, None))
        if any(_covered(replace(rule, source=(p,)), earlier, directory) is None for p in patterns):
            reach.append(label)
    return reach


def _shadowed_by(rule: Rule, earlier: Sequence[Rule], directory: Directory) -> list[int] | None:
    """The earlier rules that together hide `rule` (one per source pattern), or None when it is reachable."""
    covering: dict[int, None] = {}
    for pattern in rule.source or (None,):
        part = rule if pattern is None else replace(rule, source=(pattern,))
        by = _covered(part, earlier, directory)
        if by is None:
            return None
        covering[by] = None
    return sorted(covering)


def _covered(rule: Rule, earlier: Sequence[Rule], directory: Directory) -> int | None:
    for other in earlier:
        if _scope_covers(other, rule, directory) and _amount_covers(other, rule):
            return other.index
    return None


def _scope_covers(a: Rule, b: Rule, directory: Directory) -> bool:
    if a.operations is not None and (b.operations is None or not set(b.operations) <= set(a.operations)):
        return False
    if a.asset is not None and a.asset != b.asset:
        return False
    if a.address_type is not None and a.address_type != b.address_type:
        return False
    if not a.initiators.wildcard:
        if b.initiators.wildcard:
            return False
        mine = {*expand(directory, a.initiators.users, a.initiators.groups), *a.initiators.services}
        theirs = {*expand(directory, b.initiators.users, b.initiators.groups), *b.initiators.services}
        if not theirs <= mine:
            return False
    return _patterns_cover(a.source, b.source) and _patterns_cover(a.destination, b.destination)


def _patterns_cover(a: tuple[PeerPattern, ...] | None, b: tuple[PeerPattern, ...] | None) -> bool:
    if a is None:
        return True
    if b is None:
        return False
    return all(any(pa.covers(pb) for pa in a) for pb in b)


def _amount_covers(a: Rule, b: Rule) -> bool:
    """Whether `a` applies to every transaction (amount > 0) that `b` would apply to, scope aside."""
    x, y = a.amount, b.amount
    if a.window is None:
        if x.unbounded:
            return True
        return (
            b.window is None
            and x.currency == y.currency
            and y.min >= x.min
            and (x.max is None or (y.max is not None and y.max <= x.max))
        )
    # a totals over time; its total includes everything b's does when a's window and grouping are no narrower
    if x.max is not None or x.currency != y.currency or y.min < x.min:
        return False
    if b.window is None:
        return True
    wa, wb = a.window, b.window
    return (
        wa.seconds >= wb.seconds
        and (not wa.per_initiator or wb.per_initiator)
        and (not wa.per_source or wb.per_source)
        and (not wa.per_destination or wb.per_destination)
    )
