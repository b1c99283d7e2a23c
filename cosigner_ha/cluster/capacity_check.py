"""Whether each rule's co-signers can carry the scenario's peak signing rate (`cosigner-ha analyze`).

A rule's offered rate is the sum of the rates of the workloads whose transactions it matches first (a
workload whose amount range straddles rules counts toward each rule it can reach: the peak, not the
average). Its capacity is the sum of `SigningCapacity.rate` over the active nodes serving its designated
API users (standby nodes sign only when no active one answers, so they add none). A rule offered more
than its capacity queues without bound: the analysis reports it. Fixed-time (`at`) workloads and
amount-over-time totals are left out: a burst is not a sustained rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cosigner_ha.cluster.scenario import Node, Scenario
from cosigner_ha.cluster.world import signing_capacity
from cosigner_ha.policy import Directory, Policy, PolicyEngine, PolicyError, PriceError
from cosigner_ha.policy.transaction import Transaction


@dataclass(frozen=True)
class RuleLoad:
    """A rule's peak offered signing rate against what its active co-signers can sign (per second)."""

    rule: int
    offered: float
    capacity: float
    workloads: tuple[str, ...]
    nodes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.offered <= self.capacity

    def detail(self) -> str:
        cap = "unbounded" if self.capacity == float("inf") else f"{self.capacity * 60:g}/min"
        return (
            f"offered {self.offered * 60:g}/min by {', '.join(self.workloads)}; its active co-signers "
            f"({', '.join(self.nodes) or 'none'}) sign at most {cap}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "ok": self.ok,
            "offered_per_minute": self.offered * 60,
            "capacity_per_minute": None if self.capacity == float("inf") else self.capacity * 60,
            "workloads": list(self.workloads),
            "nodes": list(self.nodes),
        }


def rule_loads(
    scenario: Scenario, policy: Policy, directory: Directory, nodes_by_rule: Mapping[int, Sequence[Node]]
) -> tuple[RuleLoad, ...]:
    """The load of each rule in `nodes_by_rule` that some rate workload reaches, in rule order."""
    try:
        engine = PolicyEngine(policy, directory)
    except PolicyError:
        return ()  # an unpublishable policy: the lint findings say why; there is no load to speak of
    offered: dict[int, float] = {}
    by: dict[int, list[str]] = {}
    for w in scenario.workloads:
        if w.rate is None:
            continue
        reached: set[int] = set()
        for amount in dict.fromkeys((w.amount_min, w.amount_max)):
            try:
                tx = Transaction(
                    initiator=w.initiator,
                    operation=str(w.operation),
                    asset=w.asset,
                    amount=amount,
                    source=w.source,
                    destination=w.destination,
                    destination_address=str(w.destination_address),
                )
                decision = engine.decide(tx)
            except (PolicyError, PriceError):
                break  # a workload the SaaS refuses: `run` reports it; it loads no rule
            if decision.rule is not None and decision.rule in nodes_by_rule:
                reached.add(decision.rule)
        for rule in sorted(reached):
            offered[rule] = offered.get(rule, 0.0) + w.rate.per_second
            by.setdefault(rule, []).append(w.name)
    out = []
    for rule in sorted(offered):
        active = [n for n in nodes_by_rule[rule] if not n.standby]
        capacity = sum(signing_capacity(n).rate for n in active)
        out.append(RuleLoad(rule, offered[rule], capacity, tuple(by[rule]), tuple(n.name for n in active)))
    return tuple(out)


@dataclass(frozen=True)
class SharedLoad:
    """A co-signer that serves several workspaces, with every rule it signs for across them.

    Each workspace's own check counts the co-signer's whole capacity, so two workspaces that each fit
    can still overload it together. The rules' offered rates are added up against the capacity of every
    active co-signer that serves any of them: a generous bound (the others may be busy with rules of
    their own), so a shared load over it is certainly too much.
    """

    node: str
    workspaces: tuple[str, ...]
    rules: tuple[tuple[str, int], ...]  # (workspace, rule index)
    offered: float
    capacity: float
    nodes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.offered <= self.capacity

    def detail(self) -> str:
        rules = ", ".join(f"{ws} rule {rule}" for ws, rule in self.rules)
        return (
            f"shared by {', '.join(self.workspaces)}: {rules} offer {self.offered * 60:g}/min together; "
            f"their active co-signers ({', '.join(self.nodes)}) sign at most {self.capacity * 60:g}/min"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "ok": self.ok,
            "workspaces": list(self.workspaces),
            "rules": [{"workspace": ws, "rule": rule} for ws, rule in self.rules],
            "offered_per_minute": self.offered * 60,
            "capacity_per_minute": self.capacity * 60,
            "nodes": list(self.nodes),
        }


def shared_loads(
    nodes: Sequence[Node], loads_by_workspace: Sequence[tuple[str, Sequence[RuleLoad]]]
) -> tuple[SharedLoad, ...]:
    """The combined load on each active co-signer that signs for rules of more than one workspace."""
    by_name = {n.name: n for n in nodes}
    serving: dict[str, list[tuple[str, RuleLoad]]] = {}
    for workspace, loads in loads_by_workspace:
        for load in loads:
            for node in load.nodes:
                serving.setdefault(node, []).append((workspace, load))
    out = []
    for node in by_name:
        served = serving.get(node, [])
        workspaces = tuple(dict.fromkeys(ws for ws, _ in served))
        if len(workspaces) < 2:
            continue
        union = tuple(dict.fromkeys(n for _, load in served for n in load.nodes))
        out.append(
            SharedLoad(
                node=node,
                workspaces=workspaces,
                rules=tuple((ws, load.rule) for ws, load in served),
                offered=sum(load.offered for _, load in served),
                capacity=sum(signing_capacity(by_name[n]).rate for n in union),
                nodes=union,
            )
        )
    return tuple(out)
