"""Transaction Authorization Policies over a topology: valid by construction, or with one known defect.

A valid policy ends with a catch-all ALLOW rule signed by the `cosigners` group (or one signer), after
up to a few narrower rules: BLOCK above an amount, 2-TIER above an amount (approved by the owner), ALLOW
of one asset by one signer, an amount-over-time limit. It shrinks toward the catch-all alone.

With `include_invalid=True` some drawn policies carry exactly one defect the publish-time validator must
report (`PolicyCase.defect`: the rule index, the error code name and the field), for tests of the
validator and of everything that refuses to run a policy that would not publish.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from cosigner_ha.cluster.scenario import FrozenDict, InlinePolicy
from cosigner_ha.cluster.scenario.frozen import freeze
from cosigner_ha.testing.strategies.topology import COSIGNERS, Topology


@dataclasses.dataclass(frozen=True, slots=True)
class Defect:
    """What the validator must say about a deliberately broken policy."""

    rule_index: int
    code_name: str  # e.g. "MIXED_SIGNER_TYPES" (docs/policy.md, Validation)
    field: str  # the rule's field as the native form spells it, e.g. "designated_signers"


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyCase:
    """A drawn policy and, if it was drawn broken, its one defect."""

    rules: tuple[FrozenDict[str, Any], ...]
    defect: Defect | None = None

    @property
    def valid(self) -> bool:
        return self.defect is None

    @property
    def policy(self) -> InlinePolicy:
        """The rules as a scenario's `[policy]`."""
        return InlinePolicy(self.rules)

    def rule_dicts(self) -> list[dict[str, Any]]:
        return self.policy.rule_dicts()


#: Defects the validator reports at publish time (the scenario loader lets them through: it checks
#: names, not the policy's meaning), in shrinking order.
DEFECTS: tuple[str, ...] = (
    "MISSING_REQUIRED_FIELD",
    "INVALID_APPROVAL_THRESHOLD",
    "INVALID_AMOUNT_RANGE",
    "SIGNER_ROLE_CANNOT_SIGN",
    "MIXED_SIGNER_TYPES",
)


def _usd(draw: st.DrawFn, low: int, high: int) -> int:
    """A USD threshold in round hundreds, shrinking toward `low`."""
    return draw(st.integers(low // 100, high // 100)) * 100


def _narrow_rule(draw: st.DrawFn, topology: Topology) -> dict[str, Any]:
    signers = topology.signers
    kind = draw(st.sampled_from(["asset", "block", "two-tier", "over-time"]))
    if kind == "asset":
        asset = draw(st.sampled_from(sorted(topology.workspace.prices_usd)))
        return {
            "action": "ALLOW",
            "asset": asset,
            "designated_signers": {"users": [draw(st.sampled_from(signers))]},
        }
    if kind == "block":
        return {"action": "BLOCK", "amount": {"min": _usd(draw, 10_000, 10_000_000), "currency": "USD"}}
    if kind == "two-tier":
        return {
            "action": "2-TIER",
            "amount": {"min": _usd(draw, 1_000, 1_000_000), "currency": "USD"},
            "approvers": {"groups": [{"users": [topology.approvers[0]], "threshold": 1}], "logic": "AND"},
            "designated_signers": {"groups": [COSIGNERS]},
        }
    minutes = draw(st.integers(10, 24 * 60))
    return {
        "action": "ALLOW",
        "amount": {"min": _usd(draw, 1_000, 1_000_000), "currency": "USD"},
        "over": {"window": f"{minutes}m", "per": ["initiator"]},
        "designated_signers": {"users": [draw(st.sampled_from(signers))]},
    }


def _catch_all(draw: st.DrawFn, topology: Topology) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"action": "ALLOW", "designated_signers": {"users": [draw(st.sampled_from(topology.signers))]}}
    return {"action": "ALLOW", "designated_signers": {"groups": [COSIGNERS]}}


def _break(draw: st.DrawFn, topology: Topology, rules: list[dict[str, Any]]) -> Defect:
    """Put one defect into one rule (the rules are changed in place)."""
    index = draw(st.integers(0, len(rules) - 1))
    code = draw(st.sampled_from(DEFECTS))
    rule = rules[index]
    signer = topology.signers[0]
    approver = topology.approvers[0]
    if code in ("MISSING_REQUIRED_FIELD", "INVALID_APPROVAL_THRESHOLD"):
        rule.clear()
        rule.update({"action": "2-TIER", "designated_signers": {"groups": [COSIGNERS]}})
        if code == "INVALID_APPROVAL_THRESHOLD":  # more approvals than the group has members
            rule["approvers"] = {"groups": [{"users": [approver], "threshold": draw(st.integers(2, 5))}]}
        return Defect(index, code, "approvers")
    if code == "INVALID_AMOUNT_RANGE":  # max not above min
        low = _usd(draw, 100, 100_000)
        rule["amount"] = {"min": low, "max": low - draw(st.sampled_from([0, 100])), "currency": "USD"}
        return Defect(index, code, "amount.max")
    if code == "SIGNER_ROLE_CANNOT_SIGN":  # an EDITOR named as the signer
        rule["action"] = "ALLOW"
        rule["designated_signers"] = {"users": [topology.initiators[0]]}
        return Defect(index, code, "designated_signers")
    # MIXED_SIGNER_TYPES: a console user beside an API user among the designated signers
    rule["action"] = "ALLOW"
    rule["designated_signers"] = {"users": [approver, signer]}
    return Defect(index, code, "designated_signers")


def policies(
    topology: Topology, *, max_rules: int = 3, include_invalid: bool = False
) -> st.SearchStrategy[PolicyCase]:
    """Policies over `topology`'s users, groups and assets: up to `max_rules` rules, the last a catch-all.

    Valid by construction. `include_invalid=True` also draws broken ones, each with its `defect`.
    """
    if max_rules < 1:
        raise ValueError(f"max_rules must be at least 1, got {max_rules}")
    if not topology.signers or not topology.approvers or not topology.initiators:
        raise ValueError("policies need a topology with a signer, a console user and an initiator")

    @st.composite
    def draw_policy(draw: st.DrawFn) -> PolicyCase:
        narrow = draw(st.lists(st.just(None), max_size=max_rules - 1))
        rules = [_narrow_rule(draw, topology) for _ in narrow]
        rules.append(_catch_all(draw, topology))
        defect = _break(draw, topology, rules) if include_invalid and draw(st.booleans()) else None
        return PolicyCase(tuple(freeze(rule) for rule in rules), defect)

    return draw_policy()
