"""High-availability analysis of a scenario without running it (`cosigner-ha analyze`).

For each policy rule that designates signers, which API users may sign it, which nodes serve them, and
whether it can still be signed after losing any one node, zone, region or provider. The topology is the
one at the start of the run (before any `pair` / `unpair` fault). A node is a failure domain of its own;
zones, regions and providers are the distinct site prefixes 3, 2 and 1 components long, and a node whose
site is shorter than the level (`"onprem/dc1"` has no zone) counts its whole site as its domain at the
deeper levels: the smallest thing known to fail with it.

A rule stays signable after a loss when a node serving one of its designated API users survives it;
standby nodes count (the SaaS uses them when no active node answers), and the analysis says where only
a standby would be left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cosigner_ha.cluster.capacity_check import RuleLoad, SharedLoad, rule_loads, shared_loads
from cosigner_ha.cluster.scenario import (
    FaultAction,
    FireblocksPolicy,
    InlinePolicy,
    Scenario,
    load_scenario,
    scenario_to_dict,
)
from cosigner_ha.cluster.scenario.tenants import tenant_scenario
from cosigner_ha.policy import Directory, Finding, Policy, Rule, lint, load_policy
from cosigner_ha.policy.resolve import expand

Level = Literal["node", "zone", "region", "provider"]
#: Failure-domain levels, smallest first, with the number of site components a domain has at each.
LEVELS: tuple[tuple[Level, int | None], ...] = (("node", None), ("zone", 3), ("region", 2), ("provider", 1))

Status = Literal["ok", "fails-by-design", "unsignable", "console-signers"]
EXCHANGE_FIAT = ("EXCHANGE", "FIAT_ACCOUNT")


@dataclass(frozen=True)
class NodeInfo:
    """A node behind a rule, with the rule's API users it serves."""

    name: str
    site: str
    standby: bool
    api_users: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "site": self.site,
            "standby": self.standby,
            "api_users": list(self.api_users),
        }


@dataclass(frozen=True)
class LevelOutcome:
    """What losing each failure domain of one level does to a rule."""

    level: Level
    breaking: tuple[str, ...]  # domains whose loss leaves no node serving the rule
    standby_only: tuple[str, ...]  # domains whose loss leaves only standby nodes serving it

    @property
    def ok(self) -> bool:
        return not self.breaking

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "breaking": list(self.breaking), "standby_only": list(self.standby_only)}


@dataclass(frozen=True)
class RuleAnalysis:
    index: int
    action: str
    description: str | None
    status: Status
    detail: str
    designated_signers: tuple[str, ...]  # as resolved: users, then group members, no repeats
    signers: Mapping[str, tuple[str, ...]]  # designated API user -> nodes serving it (file order)
    nodes: tuple[NodeInfo, ...]
    outcomes: tuple[LevelOutcome, ...]  # empty unless the rule is signable by co-signer nodes
    notes: tuple[str, ...] = ()

    @property
    def signable(self) -> bool:
        """Whether the rule can be signed with every node up."""
        return self.status in ("ok", "console-signers")

    def outcome(self, level: Level) -> LevelOutcome | None:
        return next((o for o in self.outcomes if o.level == level), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.index,
            "action": self.action,
            "description": self.description,
            "status": self.status,
            "signable": self.signable,
            "detail": self.detail,
            "notes": list(self.notes),
            "designated_signers": list(self.designated_signers),
            "signers": [{"api_user": user, "nodes": list(nodes)} for user, nodes in self.signers.items()],
            "nodes": [node.to_json() for node in self.nodes],
            "survives": {o.level: o.to_json() for o in self.outcomes} if self.outcomes else None,
        }


@dataclass(frozen=True)
class SkippedRule:
    """A rule with nothing to analyse: a BLOCK rule, or one whose initiator signs."""

    index: int
    action: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.index, "action": self.action, "reason": self.reason}


@dataclass(frozen=True)
class Analysis:
    scenario: str
    origin: str
    policy_source: Literal["inline", "fireblocks", "default"]
    domains: Mapping[Level, tuple[str, ...]]
    rules: tuple[RuleAnalysis, ...]
    skipped: tuple[SkippedRule, ...]
    findings: tuple[Finding, ...] = field(default=())
    loads: tuple[RuleLoad, ...] = field(default=())  # offered rate against co-signer capacity, per rule
    #: With [[workspaces]]: each workspace's own analysis (its policy, rules and load), in file order;
    #: the fields above are then the first workspace's.
    workspaces: tuple[tuple[str, Analysis], ...] = field(default=())
    #: With [[workspaces]]: the combined load on each co-signer shared by several of them.
    shared: tuple[SharedLoad, ...] = field(default=())

    @property
    def overloaded(self) -> tuple[RuleLoad, ...]:
        """Rules whose active co-signers cannot carry the workloads' peak rate."""
        return tuple(load for load in self.loads if not load.ok)

    @property
    def lint_errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def unsignable(self) -> tuple[RuleAnalysis, ...]:
        """Rules that cannot be signed even with every node up."""
        return tuple(r for r in self.rules if not r.signable)

    @property
    def ok(self) -> bool:
        """Every analysed rule signable with everything up, and no lint error (exit status 0)."""
        if self.workspaces:
            return all(part.ok for _, part in self.workspaces) and all(load.ok for load in self.shared)
        return not self.unsignable and not self.lint_errors and not self.overloaded

    def to_json(self) -> dict[str, Any]:
        if self.workspaces:
            return {
                "scenario": self.scenario,
                "file": self.origin,
                "workspaces": [{"workspace": name, **part.to_json()} for name, part in self.workspaces],
                "shared_capacity": [load.to_json() for load in self.shared],
                "ok": self.ok,
            }
        return {
            "scenario": self.scenario,
            "file": self.origin,
            "policy": self.policy_source,
            "failure_domains": {level: list(names) for level, names in self.domains.items()},
            "rules": [r.to_json() for r in self.rules],
            "skipped": [s.to_json() for s in self.skipped],
            "findings": [f.to_dict() for f in self.findings],
            "lint_errors": self.lint_errors,
            "unsignable_rules": [r.index for r in self.unsignable],
            "capacity": [load.to_json() for load in self.loads],
            "overloaded_rules": [load.rule for load in self.overloaded],
            "ok": self.ok,
        }


# -- building the policy ------------------------------------------------------------------------------


def default_policy_rules(scenario: Scenario) -> list[dict[str, Any]]:
    """The policy a scenario without `[policy]` runs (docs/scenarios.md): one ALLOW rule, everything else
    `*`, designated signers every API user some node serves at the start, in node then pairing order."""
    paired = dict.fromkeys(user for node in scenario.nodes for user in node.api_users)
    return [{"action": "ALLOW", "designated_signers": {"users": list(paired)}}]


def scenario_policy(
    scenario: Scenario, directory: Directory
) -> tuple[Policy, Literal["inline", "fireblocks", "default"]]:
    """The scenario's policy as `cosigner_ha.policy` loads it; PolicyError when it does not load."""
    spec = scenario.policy
    if spec is not None:
        loaded = spec_policy(spec, directory, f"{scenario.origin} [policy]")
        return loaded, "inline" if isinstance(spec, InlinePolicy) else "fireblocks"
    return load_policy(
        {"rules": default_policy_rules(scenario)}, directory, origin=f"{scenario.origin} (default policy)"
    ), "default"


def spec_policy(spec: InlinePolicy | FireblocksPolicy, directory: Directory, origin: str) -> Policy:
    """A policy of the scenario (its `[policy]`, or what a `policy` fault publishes) as the SaaS loads it."""
    match = {} if spec.amount_match == "exceed" else {"amount_match": spec.amount_match}
    if isinstance(spec, InlinePolicy):
        return load_policy({"rules": spec.rule_dicts(), **match}, directory, origin=origin)
    return load_policy({"fireblocks_json": str(spec.path), **match}, directory, origin=origin)


def fault_policy_findings(
    scenario: Scenario, directory: Directory, topology: Mapping[str, Sequence[str]]
) -> list[Finding]:
    """Lint of every policy a `policy` fault publishes, each finding naming its fault (`faults[i]`)."""
    found: list[Finding] = []
    for index, fault in enumerate(scenario.faults):
        if fault.action == FaultAction.POLICY and fault.policy is not None:
            where = f"faults[{index}]"
            policy = spec_policy(fault.policy, directory, f"{scenario.origin} {where}")
            found.extend(dataclasses.replace(f, policy=where) for f in lint(policy, directory, topology))
    return found


# -- analysis -----------------------------------------------------------------------------------------


def analyze_file(path: str | Path) -> Analysis:
    """Load and analyse a scenario file; ScenarioError or PolicyError when it cannot be read."""
    return analyze(load_scenario(path))


def analyze(scenario: Scenario) -> Analysis:
    """The HA analysis; of each workspace in turn when the scenario has several (`Analysis.workspaces`)."""
    if scenario.workspaces:
        parts = tuple(
            (name, _analyze_one(tenant_scenario(scenario, name))) for name in scenario.workspace_names()
        )
        shared = shared_loads(scenario.nodes, [(name, part.loads) for name, part in parts])
        return dataclasses.replace(parts[0][1], workspaces=parts, shared=shared)
    return _analyze_one(scenario)


def _analyze_one(scenario: Scenario) -> Analysis:
    directory = Directory.from_scenario(scenario_to_dict(scenario), origin=scenario.origin)
    policy, source = scenario_policy(scenario, directory)
    topology = {name: list(users) for name, users in scenario.api_users_by_node().items()}
    findings = (*lint(policy, directory, topology), *fault_policy_findings(scenario, directory, topology))
    domains = failure_domains(scenario)
    losses = _losses(scenario, domains)
    serving = scenario.nodes_by_api_user()
    analysed: list[RuleAnalysis] = []
    skipped: list[SkippedRule] = []
    for rule in policy.rules:
        action = rule.action or "?"
        if rule.action == "BLOCK":
            skipped.append(SkippedRule(rule.index, action, "BLOCK: its transactions are never signed"))
        elif rule.action not in ("ALLOW", "2-TIER"):
            skipped.append(SkippedRule(rule.index, action, "no valid action (see the lint findings)"))
        elif not rule.signers.named and source != "default":
            skipped.append(
                SkippedRule(
                    rule.index,
                    action,
                    "no designated signers: each transaction is signed by its initiator (see INITIATOR_CANNOT_SIGN)",
                )
            )
        else:
            notes = tuple(
                f.message
                for f in findings
                if f.policy is None and f.rule == rule.index and f.code == "EXCHANGE_FIAT_MULTIPLE_SIGNERS"
            )
            analysed.append(_analyse_rule(rule, scenario, directory, serving, losses, notes))
    behind = {
        r.index: [n for n in scenario.nodes if n.name in {info.name for info in r.nodes}]
        for r in analysed
        if r.status == "ok"
    }
    return Analysis(
        scenario=scenario.name,
        origin=scenario.origin,
        policy_source=source,
        domains=domains,
        rules=tuple(analysed),
        skipped=tuple(skipped),
        findings=findings,
        loads=rule_loads(scenario, policy, directory, behind),
    )


def failure_domains(scenario: Scenario) -> dict[Level, tuple[str, ...]]:
    """Level -> the domains taken away one at a time: node names, then site prefixes (file order)."""
    return {
        level: tuple(n.name for n in scenario.nodes) if depth is None else scenario.site_prefixes(depth)
        for level, depth in LEVELS
    }


Losses = Mapping[Level, tuple[tuple[str, frozenset[str]], ...]]


def _losses(scenario: Scenario, domains: Mapping[Level, tuple[str, ...]]) -> Losses:
    """Level -> (domain, the names of the nodes lost with it), computed once for every rule."""
    return {
        level: tuple(
            (domain, frozenset({domain} if depth is None else (n.name for n in scenario.nodes_under(domain))))
            for domain in domains[level]
        )
        for level, depth in LEVELS
    }


def _analyse_rule(
    rule: Rule,
    scenario: Scenario,
    directory: Directory,
    serving: Mapping[str, tuple[str, ...]],
    losses: Losses,
    notes: tuple[str, ...],
) -> RuleAnalysis:
    designated = expand(directory, rule.signers.users, rule.signers.groups)
    api_users = [name for name in designated if directory.is_api_user(name)]
    signers = {user: tuple(serving.get(user, ())) for user in api_users}
    can_sign = [user for user in api_users if directory.can_sign(user)]
    behind: dict[str, list[str]] = {}
    for user in can_sign:
        for node in signers[user]:
            behind.setdefault(node, []).append(user)
    nodes = tuple(
        NodeInfo(node.name, node.site, node.standby, tuple(behind[node.name]))
        for node in scenario.nodes
        if node.name in behind
    )

    def result(status: Status, detail: str, outcomes: tuple[LevelOutcome, ...] = ()) -> RuleAnalysis:
        return RuleAnalysis(
            rule.index,
            rule.action or "?",
            rule.description,
            status,
            detail,
            designated,
            signers,
            nodes,
            outcomes,
            notes if status == "ok" else (),  # a rule that fails outright needs no further note
        )

    if not designated:
        return result(
            "unsignable",
            "no API user is paired with a node at the start, so the default policy has no signer",
        )
    unknown = [name for name in designated if directory.is_api_user(name) is None]
    if not api_users and unknown:
        return result("unsignable", f"designated signers unknown to the workspace: {', '.join(unknown)}")
    if not api_users:
        return result(
            "console-signers", "console users sign on their own devices: no co-signer node is involved"
        )
    if _only_exchange_fiat(rule) and (rule.signers.groups or len(designated) > 1):
        named = "a group" if rule.signers.groups else f"{len(designated)} signers"
        return result(
            "fails-by-design",
            f"its source is an exchange or fiat account and it names {named}: every transaction fails "
            "(FAILED / SIGNER_NOT_FOUND); name a single API user",
        )
    if not can_sign:
        return result("unsignable", f"no designated API user can sign (roles of {', '.join(api_users)})")
    if not nodes:
        return result("unsignable", f"no node serves {', '.join(can_sign)}: nobody can sign its transactions")
    outcomes = tuple(_outcome(level, losses[level], nodes) for level, _ in LEVELS)
    notes = (*notes, *_shared_handler(scenario, [u for n in nodes for u in n.api_users], len(nodes)))
    active = sum(1 for n in nodes if not n.standby)
    detail = (
        f"{len(nodes)} node{'s' if len(nodes) != 1 else ''} ({active} active, {len(nodes) - active} standby)"
    )
    return result("ok", detail, outcomes)


def _shared_handler(scenario: Scenario, signing_users: Sequence[str], nodes: int) -> tuple[str, ...]:
    """A callback handler every API user that can sign the rule goes through, when several nodes do: the
    nodes are redundant, the handler is not (its outage fails every transaction of the rule)."""
    handlers = {u.callback for u in scenario.api_users if u.name in signing_users}
    if nodes < 2 or len(handlers) != 1 or None in handlers:
        return ()
    (name,) = handlers
    spec = next((c for c in scenario.callbacks if c.name == name), None)
    where = getattr(spec, "site", None)  # URL handlers have no simulated site
    site = f" at site {where}" if where else ""
    return (
        f"callback handler {name}{site} serves every API user that signs this rule: a single point of failure "
        f"the {nodes} nodes do not remove (its outage fails every transaction); run one per site, or several",
    )


def _only_exchange_fiat(rule: Rule) -> bool:
    """Whether every transaction the rule takes comes from an exchange or fiat account."""
    return rule.source is not None and all(p.type in EXCHANGE_FIAT for p in rule.source)


def _outcome(
    level: Level, losses: Sequence[tuple[str, frozenset[str]]], nodes: Sequence[NodeInfo]
) -> LevelOutcome:
    breaking: list[str] = []
    standby_only: list[str] = []
    any_active = any(not n.standby for n in nodes)
    for domain, lost in losses:
        left = [n for n in nodes if n.name not in lost]
        if not left:
            breaking.append(domain)
        elif any_active and all(n.standby for n in left):
            standby_only.append(domain)
    return LevelOutcome(level, tuple(breaking), tuple(standby_only))
