"""From a run's trace to its report: transactions, latencies, signers, failovers, invariants, expectations.

Everything here reads events only, so a saved `--trace` file can be re-analysed without re-running.
Times in the report are simulated seconds from `scenario_start` (the instant setup and pairing ended).

`RunFold` reads the events one at a time, as a run writes them (`Trace.consume`), and keeps only what the
report needs: every transaction in a few bytes (`TxTable`), the invariants' folds (`Checks`), and the few
events about faults and node states. `analyse` is the same fold over a sequence (a runtime's merged trace).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

from cosigner_ha.cluster.impact import fault_impacts, losses
from cosigner_ha.cluster.invariants import Checks
from cosigner_ha.cluster.outcomes import by_rule, by_workload, failure_causes, fault_detail, notices
from cosigner_ha.cluster.report import (
    Check,
    Failover,
    FaultError,
    FaultImpact,
    FaultSpan,
    NodeLane,
    RunReport,
    SignatureMark,
    TxPoint,
    latency_stats,
)
from cosigner_ha.cluster.report.workspaces import TxOfWorkspace, workspace_figures
from cosigner_ha.cluster.scenario import Expect, ExpectOutcome, Fault, Scenario
from cosigner_ha.cluster.scenario.durations import format_duration
from cosigner_ha.cluster.scenario.keys import FAULTS_WITH_FOR
from cosigner_ha.cluster.tx_table import SIGNABLE, TxTable, workload_of
from cosigner_ha.env import Event

__all__ = ["SIGNABLE", "RunFold", "analyse", "workload_of"]


def fault_spans(events: Sequence[Event], t0: float, faults: Sequence[Fault] = ()) -> list[FaultSpan]:
    """The faults as they happened; an instant one (no `for`: policy, pair, unpair, restart) ends where it
    starts, and `faults` (the scenario's, by index) gives each label its mode and amount."""
    spans: dict[int, FaultSpan] = {}
    for e in events:
        if e.kind == "fault":
            f = e.fields
            at = e.t - t0
            instant = f["action"] not in FAULTS_WITH_FOR
            index = f["index"]
            detail = fault_detail(faults[index]) if 0 <= index < len(faults) else ""
            target = f["target"]
            spans[index] = FaultSpan(
                at, at if instant else None, f["action"], target, tuple(f["nodes"]), detail
            )
        elif e.kind == "fault_end" and e.fields["index"] in spans:
            s = spans[e.fields["index"]]
            spans[e.fields["index"]] = dataclasses.replace(s, end=e.t - t0)
    return [spans[i] for i in sorted(spans)]


def fault_errors(events: Sequence[Event], t0: float) -> list[FaultError]:
    """The faults the cluster refused at run time, in trace order, labelled as the timeline labels them."""
    labels: dict[int, str] = {}
    out = []
    for e in events:
        f = e.fields
        if e.kind == "fault":
            labels[f["index"]] = FaultSpan(0.0, None, f["action"], f["target"], ()).label
        if e.kind != "fault_error":
            continue
        index = int(f["index"])
        out.append(
            FaultError(
                at=round(e.t - t0, 6),
                index=index,
                label=labels.get(index, str(f.get("action", ""))),
                api_user=f.get("api_user"),
                code=str(f.get("code", "")),
                reason=str(f.get("reason", "")),
            )
        )
    return out


#: Faults that leave the process running but cut it off: down on the timeline while they last.
CUT_OFF_ACTIONS = ("pause", "partition")


def down_intervals(
    events: Sequence[Event], spans: Sequence[FaultSpan], node: str, t0: float, end: float
) -> tuple[tuple[float, float], ...]:
    """When the node could not sign: its process not running (from `node_state`), or cut off by a fault."""
    raw: list[tuple[float, float]] = []
    since: float | None = None
    for e in events:
        if e.kind == "node_state" and e.fields.get("node") == node and e.t >= t0:
            if e.fields["state"] == "running":
                if since is not None:
                    raw.append((since - t0, e.t - t0))
                since = None
            elif since is None:
                since = e.t
    if since is not None:
        raw.append((since - t0, end - t0))
    for s in spans:
        if node in s.nodes and s.action in CUT_OFF_ACTIONS:
            raw.append((s.start, end - t0 if s.end is None else s.end))
    merged: list[tuple[float, float]] = []
    for start, stop in sorted(r for r in raw if r[1] > r[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return tuple(merged)


def failovers(
    signatures: Sequence[SignatureMark], spans: Sequence[FaultSpan], points: Sequence[TxPoint] = ()
) -> list[Failover]:
    """The losses that delayed a real transaction, as failovers: `gap_seconds` is the fault's unavailability.

    A loss with nothing to sign while it lasted (idle, or the last quiet seconds of a run) is no failover;
    one during which signing went on elsewhere has the short gap of a normal signature.
    """
    return [_failover(i, signatures) for i in losses(fault_impacts(spans, points, signatures))]


def _failover(impact: FaultImpact, signatures: Sequence[SignatureMark]) -> Failover:
    before = [s.node for s in signatures if s.t <= impact.at and s.node in impact.nodes]
    return Failover(
        at=impact.at,
        from_node=before[-1] if before else "+".join(impact.nodes),
        to_node=impact.resumed_by,
        gap_seconds=impact.unavailable_seconds,
    )


def _outcome(
    index: int, outcome: ExpectOutcome, points: Sequence[TxPoint], workloads: Sequence[str | None]
) -> tuple[str, Check]:
    wanted = outcome.status.value + (f"/{outcome.sub_status}" if outcome.sub_status else "")
    scope = f"workload {outcome.workload}" if outcome.workload else "the run"
    label = f"outcome[{index}] {outcome.workload or 'all'}: {wanted}"
    chosen = [p for p, w in zip(points, workloads, strict=True) if outcome.workload in (None, w)]

    def ended_so(p: TxPoint) -> bool:
        return p.status == outcome.status.value and outcome.sub_status in (None, p.sub_status)

    matching = [p for p in chosen if ended_so(p)]
    others = Counter(
        f"{p.status}/{p.sub_status}" if p.sub_status else p.status for p in chosen if not ended_so(p)
    )
    rest = ", ".join(f"{n} {what}" for what, n in sorted(others.items()))
    if outcome.count is not None:
        return label, Check(
            len(matching) == outcome.count,
            f"{len(matching)} of the {len(chosen)} transaction(s) of {scope} ended {wanted} "
            f"(expected exactly {outcome.count})" + (f"; the others: {rest}" if rest else ""),
        )
    if not chosen:
        return label, Check(False, f"{scope} submitted no transaction (expected all to end {wanted})")
    return label, Check(
        not others,
        f"all {len(chosen)} transaction(s) of {scope} ended {wanted}"
        if not others
        else f"{len(matching)} of the {len(chosen)} transaction(s) of {scope} ended {wanted} "
        f"(expected all); the others: {rest}",
    )


def _max_failover(limit: float, lost: Sequence[FaultImpact]) -> Check:
    """The worst loss: from a transaction waiting to the next signature; a loss nobody recovered fails."""
    if not lost:
        return Check(True, "no loss of a node delayed a transaction")
    worst = max(lost, key=lambda i: float("inf") if i.unavailable_seconds is None else i.unavailable_seconds)
    gap = worst.unavailable_seconds
    waiting = worst.in_flight + worst.arrived
    return Check(
        gap is not None and gap <= limit,
        f"{len(lost)} loss(es) delayed transactions; worst: {worst.label} at "
        f"{format_duration(round(worst.at, 3))}, {waiting} waiting, "
        + ("nobody signed again" if gap is None else f"{worst.outcome} after {gap:.1f} s")
        + f" (limit {format_duration(limit)})",
    )


#: The expectations a scenario that names none of its own is held to (docs/scenarios.md, "Default
#: expectations"): besides the safety checks, which are on unless turned off, nearly every transaction
#: the policy let through must complete.
DEFAULT_EXPECT = Expect(
    all_terminal=False, no_double_sign=False, no_nonce_reuse=False, min_completed_ratio=0.99
)
DEFAULT_SUFFIX = " (default)"


def names_expectations(expect: Expect) -> bool:
    """Whether a scenario states any expectation of its own besides the safety checks."""
    return (
        expect.min_completed_ratio is not None
        or expect.max_signing_latency_p99 is not None
        or expect.max_failover is not None
        or bool(expect.windows)
        or bool(expect.outcomes)
    )


def _min_completed_ratio(
    limit: float, points: Sequence[TxPoint], let_through: int, *, stated: bool = True
) -> Check:
    """Completed over the transactions the policy let through (an ALLOW or 2-TIER rule): a policy block or
    a SIGNER_NOT_FOUND decision is the policy's answer, not a loss. With none let through, a ratio the
    scenario states fails rather than pass on nothing; the default one holds (the verdict's notices say
    that nothing was signed)."""
    completed = sum(1 for p in points if p.status == "COMPLETED")
    if not let_through:
        return Check(not stated, "the policy let no transaction through to signing: nothing to complete")
    ratio = completed / let_through
    lost = Counter(
        p.cause or p.status
        for p in points
        if p.ended_badly and p.cause not in ("policy-block", "signer-not-found")
    )
    open_ = sum(1 for p in points if p.t_terminal is None and p.status != "BLOCKED")
    rest = [f"{n} {what}" for what, n in sorted(lost.items(), key=lambda i: (-i[1], i[0]))]
    rest += [f"{open_} never ended"] if open_ else []
    return Check(
        ratio >= limit,
        f"{completed} of {let_through} transaction(s) the policy let through completed "
        f"({ratio:.2%}; expected at least {limit:.2%})"
        + (f"; not completed: {', '.join(rest)}" if rest else ""),
    )


def _max_p99(limit: float, points: Sequence[TxPoint], p99: float | None) -> Check:
    """p99 over completed transactions only: a failed, rejected or cancelled one has no signing latency, so
    it is left out and counted in the detail (`min_completed_ratio` is the check that counts it)."""
    completed = sum(1 for p in points if p.latency is not None)
    unsigned = sum(1 for p in points if p.ended_badly and p.status != "BLOCKED")
    left_out = f"; {unsigned} failed, rejected or cancelled not counted" if unsigned else ""
    if p99 is None:
        return Check(False, "no completed transaction: no signing latency to measure" + left_out)
    return Check(
        p99 <= limit,
        f"p99 {format_duration(round(p99, 3))} over {completed} completed (limit {format_duration(limit)})"
        + left_out,
    )


def _expectations(
    expect: Expect,
    invariants: dict[str, Check],
    points: Sequence[TxPoint],
    workloads: Sequence[str | None],
    decided_signable: int,
    p99: float | None,
    lost: Sequence[FaultImpact],
    signatures: Sequence[SignatureMark],
) -> dict[str, Check]:
    out: dict[str, Check] = {}
    if expect.all_terminal:
        out["all_terminal"] = invariants["all_terminal"]
    if expect.no_double_sign:
        out["no_double_sign"] = invariants["at_most_one_signature"]
    if expect.no_nonce_reuse:
        out["no_nonce_reuse"] = invariants["no_nonce_reuse"]
    if expect.min_completed_ratio is not None:
        out["min_completed_ratio"] = _min_completed_ratio(
            expect.min_completed_ratio, points, decided_signable, stated=expect is not DEFAULT_EXPECT
        )
    if expect.max_signing_latency_p99 is not None:
        out["max_signing_latency_p99"] = _max_p99(expect.max_signing_latency_p99, points, p99)
    if expect.max_failover is not None:
        out["max_failover"] = _max_failover(expect.max_failover, lost)
    for i, window in enumerate(expect.windows):
        inside = [s for s in signatures if window.from_ <= s.t < window.to]
        wrong = sorted({s.node for s in inside if s.node not in window.signed_by})
        label = f"window[{i}] {format_duration(window.from_)}-{format_duration(window.to)}"
        if not inside:
            out[label] = Check(
                False, f"no signature in the window (expected signers: {', '.join(window.signed_by)})"
            )
        else:
            out[label] = Check(
                not wrong,
                f"{len(inside)} signature(s), by {', '.join(sorted({s.node for s in inside}))}"
                + (f"; not allowed: {', '.join(wrong)}" if wrong else ""),
            )
    for i, outcome in enumerate(expect.outcomes):
        label, check = _outcome(i, outcome, points, workloads)
        out[label] = check
    return out


#: The events the report reads beside the transactions and the invariants: few in any run.
RARE_KINDS = frozenset({"scenario_start", "fault", "fault_end", "fault_error", "node_state"})


class RunFold:
    """The analysis as a fold: `feed` every event in trace order, then `report` once.

    Tens of events a transaction pass through here, so `feed` looks the kind up once, in one table of
    everything that reads it (the transaction table, the invariants' folds, the rare events); an event
    nobody reads (a node's log line, a probe's reply) only moves the end of the run."""

    def __init__(self) -> None:
        self.table = TxTable()
        self.checks = Checks()
        self.rare: list[Event] = []
        self.start: float | None = None  # the first `scenario_start`
        self.last: float | None = None  # the latest time of any event
        on: dict[str, list[Callable[[Event], None]]] = defaultdict(list)
        for kind, handler in self.table.handlers().items():
            on[kind].append(handler)
        for kind, feeds in self.checks.handlers().items():
            on[kind].extend(feeds)
        for kind in RARE_KINDS:
            on[kind].append(self._rare)
        self._on = {kind: tuple(handlers) for kind, handlers in on.items()}

    def feed(self, e: Event) -> None:
        t, last = e.t, self.last
        if last is None or t > last:
            self.last = t
        handlers = self._on.get(e.kind)
        if handlers is not None:
            for handler in handlers:
                handler(e)

    def _rare(self, e: Event) -> None:
        self.rare.append(e)
        if self.start is None and e.kind == "scenario_start":
            self.start = e.t

    def report(self, scenario: Scenario, *, seed: int, trace_hash: str, wall_seconds: float) -> RunReport:
        return _report(self, scenario, seed=seed, trace_hash=trace_hash, wall_seconds=wall_seconds)


def analyse(
    scenario: Scenario, events: Iterable[Event], *, seed: int, trace_hash: str, wall_seconds: float
) -> RunReport:
    fold = RunFold()
    for e in events:
        fold.feed(e)
    return fold.report(scenario, seed=seed, trace_hash=trace_hash, wall_seconds=wall_seconds)


def _report(
    fold: RunFold, scenario: Scenario, *, seed: int, trace_hash: str, wall_seconds: float
) -> RunReport:
    t0 = 0.0 if fold.start is None else fold.start
    end = t0 if fold.last is None else fold.last
    events = fold.rare
    table = fold.table
    signatures = table.signatures(t0)
    kept = table.points(t0)
    points = list(kept)  # once, for the many passes below; the report keeps the compact rows
    decided_signable = table.decided_signable
    workloads = [p.workload for p in points]
    spans = fault_spans(events, t0, scenario.faults)
    down = {node.name: down_intervals(events, spans, node.name, t0, end) for node in scenario.nodes}
    marks = list(signatures)
    impacts = fault_impacts(spans, points, marks, down)
    lost = losses(impacts)
    verdicts = fold.checks.verdicts()
    invariants = {name: Check(v.ok, v.detail) for name, v in verdicts.items()}
    stats = latency_stats(p.latency for p in points if p.latency is not None)
    expectations = _expectations(
        scenario.expect, invariants, points, workloads, decided_signable, stats.p99, lost, marks
    )
    if not names_expectations(scenario.expect):
        defaults = _expectations(
            DEFAULT_EXPECT, invariants, points, workloads, decided_signable, stats.p99, lost, marks
        )
        expectations.update((name + DEFAULT_SUFFIX, check) for name, check in defaults.items())
    found_failovers = [_failover(i, marks) for i in lost]
    lanes = [
        NodeLane(
            node.name,
            str(node.enclave),
            node.site,
            node.standby,
            down[node.name],
        )
        for node in scenario.nodes
    ]
    of_workspace = (
        TxOfWorkspace(table.workspace(row), p.status, p.latency, p.node) for row, p in enumerate(points)
    )
    return RunReport(
        scenario=scenario.scenario.name,
        seed=seed,
        trace_hash=trace_hash,
        simulated_seconds=round(end - t0, 6),
        wall_seconds=round(wall_seconds, 3),
        transactions_total=len(points),
        by_status=dict(sorted(Counter(p.status for p in points).items())),
        by_sub_status=dict(sorted(Counter(p.sub_status for p in points if p.sub_status).items())),
        latency=stats,
        signed_by={n.name: sum(1 for s in marks if s.node == n.name) for n in scenario.nodes},
        failovers=tuple(found_failovers),
        invariants=invariants,
        expectations=expectations,
        passed=all(c.ok for c in invariants.values()) and all(c.ok for c in expectations.values()),
        lanes=tuple(lanes),
        faults=tuple(spans),
        signatures=signatures,
        transactions=kept,
        impacts=tuple(impacts),
        workspaces=workspace_figures(scenario.workspace_names(), of_workspace)
        if scenario.multi_workspace
        else (),
        failures=failure_causes(points),
        workloads=by_workload(scenario, points),
        rules=by_rule(points),
        notices=notices(scenario, points, len(marks)),
        fault_errors=tuple(fault_errors(events, t0)),
    )
