"""How transactions ended and why: failure causes with counts, per workload and per rule breakdowns, what a
fault was (its mode and amount), and what the run did not do that no check asked about.

Read from the report's transaction points (cluster/analysis.py fills them from the trace), so that the
terminal, `--json` and `--html` outputs count the same things.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from cosigner_ha.cluster.report import Breakdown, FailureCause, TxPoint, latency_stats, rule_label
from cosigner_ha.cluster.scenario import Fault, FaultAction, Scenario, TxStatus
from cosigner_ha.cluster.scenario.durations import format_duration


def failure_causes(points: Iterable[TxPoint]) -> tuple[FailureCause, ...]:
    """Failed, rejected, cancelled and blocked transactions grouped by status, sub-status and cause (and
    rule, for policy blocks); most frequent first."""
    groups: dict[tuple[str, str | None, str, int | None], list[TxPoint]] = {}
    for p in points:
        if not p.ended_badly:
            continue
        cause = p.cause or "unknown"
        rule = p.rule if cause == "policy-block" else None
        groups.setdefault((p.status, p.sub_status, cause, rule), []).append(p)
    found = [
        FailureCause(status, sub, cause, len(members), members[0].reason, rule)
        for (status, sub, cause, rule), members in groups.items()
    ]
    found.sort(key=lambda f: (-f.count, f.status, f.cause, -1 if f.rule is None else f.rule))
    return tuple(found)


def breakdown(points: Sequence[TxPoint]) -> Breakdown:
    return Breakdown(
        total=len(points),
        by_status=dict(sorted(Counter(p.status for p in points).items())),
        causes=dict(sorted(Counter(p.cause or "unknown" for p in points if p.ended_badly).items())),
        latency=latency_stats(p.latency for p in points if p.latency is not None),
        signed_by=dict(sorted(Counter(p.node for p in points if p.node is not None).items())),
    )


def _grouped(points: Iterable[TxPoint], key: Callable[[TxPoint], str]) -> dict[str, list[TxPoint]]:
    groups: dict[str, list[TxPoint]] = {}
    for p in points:
        groups.setdefault(key(p), []).append(p)
    return groups


def by_workload(scenario: Scenario, points: Sequence[TxPoint]) -> dict[str, Breakdown]:
    """Every workload of the scenario (in file order, those that submitted nothing too), then transactions
    of no workload (submitted through the API) as "other"."""
    groups = _grouped(points, lambda p: p.workload or "other")
    names = [w.name for w in scenario.workloads]
    names += sorted(n for n in groups if n not in names)
    return {name: breakdown(groups.get(name, [])) for name in names}


def by_rule(points: Sequence[TxPoint]) -> dict[str, Breakdown]:
    """Per policy rule that matched ("rule 3"), in rule order, then the catch-all."""
    groups: dict[int | None, list[TxPoint]] = {}
    for p in points:
        groups.setdefault(p.rule, []).append(p)
    order = sorted(groups, key=lambda r: (r is None, r or 0))
    return {rule_label(r): breakdown(groups[r]) for r in order}


def notices(scenario: Scenario, points: Sequence[TxPoint], signed: int) -> tuple[str, ...]:
    """What a PASSED must not hide: nothing submitted or signed, or a workload that never got a transaction
    signed (unless an `[[expect.outcome]]` says that workload ends another way)."""
    if not points:
        return ("no transaction was submitted",)
    if signed == 0:
        return (f"nothing was signed ({_how_ended(points)})",)
    expected_unsigned = {
        o.workload for o in scenario.expect.outcomes if o.workload and o.status is not TxStatus.COMPLETED
    }
    groups = _grouped(points, lambda p: p.workload or "")
    out: list[str] = []
    for workload in scenario.workloads:
        mine = groups.get(workload.name, [])
        if workload.name in expected_unsigned:
            continue
        if not mine:
            out.append(f"workload {workload.name} submitted nothing")
        elif not any(p.status == "COMPLETED" for p in mine):
            out.append(f"workload {workload.name} got nothing signed ({_how_ended(mine)})")
    return tuple(out)


def _how_ended(points: Sequence[TxPoint]) -> str:
    counts = Counter(f"{p.status} {p.cause}" if p.ended_badly and p.cause else p.status for p in points)
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items(), key=lambda i: (-i[1], i[0])))


def fault_detail(fault: Fault) -> str:
    """The mode and amount a fault label names: "timeout", "+5m", "+200ms ±50ms", "30% lost"."""
    action = fault.action
    if action is FaultAction.CALLBACK and fault.mode is not None:
        return str(fault.mode)
    if action is FaultAction.CLOCK_SKEW and fault.skew is not None:
        text = format_duration(fault.skew, signed=True)
        return text if text.startswith("-") else f"+{text}"
    if action is FaultAction.LATENCY and fault.amount is not None:
        text = f"+{format_duration(fault.amount)}"
        return text + (f" ±{format_duration(fault.jitter)}" if fault.jitter else "")
    if action is FaultAction.LOSS and fault.ratio is not None:
        return f"{fault.ratio:.0%} lost"
    if action is FaultAction.DISK_LOSS:
        return ("with backup" if fault.backup else "no backup") + (", new host" if fault.new_host else "")
    if action in (FaultAction.PAIR, FaultAction.UNPAIR) and fault.api_user:
        aged = f" (token {format_duration(fault.token_age)} old)" if fault.token_age else ""
        return f"{fault.api_user}{aged}"
    return ""
