"""What one run produced, as the runner fills it in and the renderers (terminal, JSON, HTML) read it.

The summary figures are exactly the `--json` report of DESIGN.md section 5 (`RunReport.to_json`); the
lanes, fault spans, signature marks and transaction points are only for drawing and stay out of the JSON.
Times are simulated seconds from the start of the run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosigner_ha.env.files import write_text_atomic

if TYPE_CHECKING:
    from cosigner_ha.cluster.report.workspaces import WorkspaceFigures

#: The percentiles a report gives, in `LatencyStats` field order.
PERCENTILES = (50, 90, 99)

#: The keys of the `--json` report (DESIGN.md section 5), in the order `to_json` writes them.
JSON_KEYS = (
    "scenario",
    "seed",
    "trace_hash",
    "simulated_seconds",
    "wall_seconds",
    "transactions",
    "latency_seconds",
    "signed_by",
    "workloads",
    "rules",
    "faults",
    "failovers",
    "fault_impacts",
    "fault_errors",
    "invariants",
    "expectations",
    "notices",
    "verdict",
    "passed",
)


@dataclass(frozen=True)
class LatencyStats:
    """Signing latency percentiles in seconds (submission to released signature); None without data."""

    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None

    def to_json(self) -> dict[str, float | None]:
        return {"p50": self.p50, "p90": self.p90, "p99": self.p99, "max": self.max}


@dataclass(frozen=True)
class Failover:
    """The signing node was lost at `at`; `to_node` signed next, `gap_seconds` later (None: nobody did)."""

    at: float
    from_node: str
    to_node: str | None
    gap_seconds: float | None


@dataclass(frozen=True)
class FaultImpact:
    """What one fault cost the transactions that needed signing (cluster/impact.py computes it).

    `in_flight` were open at the fault, `arrived` came after it until signing resumed; `unavailable_seconds`
    runs from the first of them waiting to the next released signature (None: nothing waited, see `idle`,
    or nobody signed again). `added_latency_*` is against the median latency of untouched transactions.
    """

    index: int
    at: float
    end: float | None
    action: str
    label: str
    nodes: tuple[str, ...]
    in_flight: int
    arrived: int
    waited_from: float | None
    unavailable_seconds: float | None
    resumed_by: str | None
    self_recovered: bool
    took_over: bool
    added_latency_max: float | None
    added_latency_mean: float | None
    failed: int
    cancelled: int
    rejected: int
    moved: int

    @property
    def idle(self) -> bool:
        """Nothing needed signing while the fault lasted: it cost nothing."""
        return self.in_flight + self.arrived == 0

    @property
    def outcome(self) -> str:
        """Who took over, or that the node recovered by itself, in words."""
        if self.idle:
            return "nothing waited"
        if self.resumed_by is None:
            return "nobody signed again"
        if self.self_recovered:
            return f"{self.resumed_by} recovered by itself"
        if self.took_over:
            return f"{self.resumed_by} took over"
        return f"{self.resumed_by} kept signing"

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "end": self.end,
            "fault": self.label,
            "nodes": list(self.nodes),
            "in_flight": self.in_flight,
            "arrived": self.arrived,
            "unavailable_seconds": self.unavailable_seconds,
            "resumed_by": self.resumed_by,
            "outcome": self.outcome,
            "added_latency_max": self.added_latency_max,
            "added_latency_mean": self.added_latency_mean,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "rejected": self.rejected,
            "moved": self.moved,
        }


@dataclass(frozen=True)
class FaultError:
    """A fault whose action the cluster refused at run time (`fault_error` in the trace): what an operator
    would have seen on the console or the command line. The run went on without it."""

    at: float
    index: int
    label: str
    api_user: str | None
    code: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "index": self.index,
            "fault": self.label,
            "api_user": self.api_user,
            "code": self.code,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Check:
    """One invariant or expectation: whether it held, and what was seen (for people)."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class FaultSpan:
    """A fault from the scenario's timeline as it happened; `end` None means it lasted to the end."""

    start: float
    end: float | None
    action: str
    target: str
    nodes: tuple[str, ...]

    detail: str = ""  # the mode and amount: "timeout", "+5m", "BLOCK above 1000 USD"

    @property
    def instant(self) -> bool:
        """A fault that takes no time (policy, pair, unpair, restart): a moment, not a span."""
        return self.end is not None and self.end <= self.start

    @property
    def label(self) -> str:
        """ "crash nitro-a", "callback risk: timeout", "clock-skew nitro-a +5m"."""
        if self.action == "callback" and self.target.startswith("callback"):
            return f"{self.target}: {self.detail}" if self.detail else self.target
        base = f"{self.action} {self.target}" if self.target else self.action
        return f"{base} {self.detail}" if self.detail else base

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.start,
            "end": self.end,
            "instant": self.instant,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "label": self.label,
            "nodes": list(self.nodes),
        }


@dataclass(frozen=True)
class SignatureMark:
    """A released signature: when, by which node, for which transaction and API user."""

    t: float
    node: str
    tx: str
    api_user: str


@dataclass(frozen=True)
class TxPoint:
    """One transaction's course; `latency` is submission to signature, for completed ones; `cause` why it
    ended otherwise (saas_sim/causes.py), `rule` the policy rule that matched (None: the catch-all)."""

    t_submitted: float
    t_terminal: float | None
    status: str
    sub_status: str | None
    latency: float | None
    node: str | None
    tx: str = ""
    cause: str | None = None
    reason: str = ""
    workload: str | None = None
    rule: int | None = None

    @property
    def ended_badly(self) -> bool:
        """Failed, rejected, cancelled or blocked: a transaction that ended without a signature."""
        return self.status in ("FAILED", "REJECTED", "CANCELLED", "BLOCKED")


@dataclass(frozen=True)
class FailureCause:
    """Transactions that ended the same way for the same reason: `cause` beside Fireblocks' sub-status;
    `rule` for policy blocks (None: the catch-all); `example` is the first one's reason, for people."""

    status: str
    sub_status: str | None
    cause: str
    count: int
    example: str
    rule: int | None = None

    @property
    def label(self) -> str:
        """ "FAILED/TIMEOUT callback-timeout", "BLOCKED/BLOCKED_BY_POLICY policy-block (rule 3)"."""
        what = f"{self.status}/{self.sub_status}" if self.sub_status else self.status
        return f"{what} {self.cause_label}"

    @property
    def cause_label(self) -> str:
        if self.cause != "policy-block":
            return self.cause
        return f"{self.cause} ({rule_label(self.rule)})"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "sub_status": self.sub_status,
            "cause": self.cause,
            "rule": self.rule,
            "count": self.count,
            "example": self.example,
        }


def rule_label(rule: int | None) -> str:
    """How reports name a policy rule: "rule 3", or "catch-all" when none matched."""
    return "catch-all" if rule is None else f"rule {rule}"


@dataclass(frozen=True)
class Breakdown:
    """The transactions of one workload or one policy rule: how they ended, why, and how fast."""

    total: int
    by_status: Mapping[str, int]
    causes: Mapping[str, int]
    latency: LatencyStats
    signed_by: Mapping[str, int]

    @property
    def completed(self) -> int:
        return self.by_status.get("COMPLETED", 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_status": dict(self.by_status),
            "causes": dict(self.causes),
            "latency_seconds": {"p50": self.latency.p50, "p99": self.latency.p99, "max": self.latency.max},
            "signed_by": dict(self.signed_by),
        }


@dataclass(frozen=True)
class NodeLane:
    """A node's row on the timeline; `down` holds the (start, end) intervals it was crashed, paused or cut off."""

    name: str
    enclave: str
    site: str
    standby: bool
    down: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class RunReport:
    scenario: str
    seed: int
    trace_hash: str
    simulated_seconds: float
    wall_seconds: float
    transactions_total: int
    by_status: Mapping[str, int]
    by_sub_status: Mapping[str, int]
    latency: LatencyStats
    signed_by: Mapping[str, int]
    failovers: tuple[Failover, ...]
    invariants: Mapping[str, Check]
    expectations: Mapping[str, Check]
    passed: bool
    # for drawing, not in the JSON report:
    lanes: tuple[NodeLane, ...] = ()
    faults: tuple[FaultSpan, ...] = ()
    #: Read-only sequences: a simulated run's are compact rows (cluster/tx_table.py), not tuples.
    signatures: Sequence[SignatureMark] = ()
    transactions: Sequence[TxPoint] = ()
    impacts: tuple[FaultImpact, ...] = ()
    #: With several workspaces: each one's figures (`--json` key "workspaces"); empty otherwise.
    workspaces: tuple[WorkspaceFigures, ...] = ()
    # in the JSON report too:
    failures: tuple[FailureCause, ...] = ()
    workloads: Mapping[str, Breakdown] = field(default_factory=dict)
    rules: Mapping[str, Breakdown] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    fault_errors: tuple[FaultError, ...] = ()
    #: "runtime" for a run on real processes (`run --runtime`): a `--json` key after `JSON_KEYS`; None in
    #: simulation, whose report has exactly `JSON_KEYS`.
    mode: str | None = None

    @property
    def speedup(self) -> float | None:
        """Simulated seconds per wall-clock second; None when the wall time is too small to divide by."""
        if self.wall_seconds <= 0:
            return None
        return self.simulated_seconds / self.wall_seconds

    @property
    def by_cause(self) -> dict[str, int]:
        """Transactions that ended without a signature, counted by cause (most first, then by name)."""
        counts: dict[str, int] = {}
        for f in self.failures:
            counts[f.cause] = counts.get(f.cause, 0) + f.count
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    @property
    def verdict(self) -> str:
        """The one line every output ends with: PASSED or FAILED, what failed, and what the run did not do
        that no check asked about (nothing signed, a workload never signed)."""
        failed = self.failed_checks()
        count = len(self.invariants) + len(self.expectations)
        if self.passed and not failed:
            line = f"PASSED: all {count} invariants and expectations held"
        elif not failed:
            line = "FAILED: the run did not pass (no single check failed; see the runner's messages)"
        else:
            line = f"FAILED: {len(failed)} of {count} checks failed: {', '.join(failed)}"
        if self.notices:
            line += "; but " + "; ".join(self.notices)
        return line

    def failed_checks(self) -> list[str]:
        """Names of the invariants, then expectations, that did not hold, in report order."""
        return [
            name for checks in (self.invariants, self.expectations) for name, c in checks.items() if not c.ok
        ]

    def node_names(self) -> list[str]:
        """Every node the report mentions: lanes in order, then signers and failover nodes without a lane."""
        names = dict.fromkeys(lane.name for lane in self.lanes)
        names.update(dict.fromkeys(sorted(n for n in self.signed_by if n not in names)))
        extra = {f.from_node for f in self.failovers} | {f.to_node for f in self.failovers if f.to_node}
        extra |= {s.node for s in self.signatures}
        names.update(dict.fromkeys(sorted(n for n in extra if n not in names)))
        return list(names)

    def to_json(self) -> dict[str, Any]:
        """The `--json` report of DESIGN.md section 5, exactly those keys (`JSON_KEYS`), as plain data."""
        data: dict[str, Any] = {
            "scenario": self.scenario,
            "seed": self.seed,
            "trace_hash": self.trace_hash,
            "simulated_seconds": self.simulated_seconds,
            "wall_seconds": self.wall_seconds,
            "transactions": {
                "total": self.transactions_total,
                "by_status": dict(self.by_status),
                "by_sub_status": dict(self.by_sub_status),
                "by_cause": dict(self.by_cause),
                "failures": [f.to_json() for f in self.failures],
            },
            "latency_seconds": self.latency.to_json(),
            "signed_by": dict(self.signed_by),
            "workloads": {name: b.to_json() for name, b in self.workloads.items()},
            "rules": {name: b.to_json() for name, b in self.rules.items()},
            "faults": [f.to_json() for f in self.faults],
            "failovers": [
                {"at": f.at, "from": f.from_node, "to": f.to_node, "gap_seconds": f.gap_seconds}
                for f in self.failovers
            ],
            "fault_impacts": [i.to_json() for i in self.impacts],
            "fault_errors": [e.to_json() for e in self.fault_errors],
            "invariants": {name: {"ok": c.ok, "detail": c.detail} for name, c in self.invariants.items()},
            "expectations": {name: {"ok": c.ok, "detail": c.detail} for name, c in self.expectations.items()},
            "notices": list(self.notices),
            "verdict": self.verdict,
            "passed": self.passed,
        }
        if self.workspaces:  # only for several workspaces: one-workspace reports keep their keys
            data["workspaces"] = [w.to_json() for w in self.workspaces]
        if self.mode is not None:
            data["mode"] = self.mode
        _check_finite(data, "")
        return data


def _check_finite(value: object, path: str) -> None:
    """JSON has no NaN or infinity: refuse them here, naming the key, rather than write a file nobody reads."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"report value {path or '(top)'} is {value}; a JSON report holds finite numbers only"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_finite(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, f"{path}[{i}]")


def report_json_text(report: RunReport) -> str:
    """The report as the `--json` file holds it: indented, keys in `JSON_KEYS` order, newline at the end."""
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write the `--json` report atomically (temporary file, then rename): never a half-written file."""
    return write_text_atomic(path, report_json_text(report))


def latency_stats(values: Iterable[float]) -> LatencyStats:
    """p50, p90, p99 and max of `values` by the **nearest-rank** method; all None when there are none.

    The p-th percentile is the smallest value v such that at least p% of the values are <= v, that is
    the value of rank ceil(p/100 * n) in ascending order. It is always one of the values (no
    interpolation), so a reported p99 of "2m" is a latency some transaction actually had.
    """
    data = list(values)
    try:  # fast path: plain numbers; anything odd is found again below, with its position
        ordered = sorted(map(float, data))
    except (TypeError, ValueError):
        ordered = []
    plain = (
        bool(ordered) and ordered[0] >= 0 and math.isfinite(ordered[-1]) and not any(map(math.isnan, ordered))
    )
    if len(ordered) != len(data) or (ordered and not plain):
        ordered = sorted(_checked(data))
    n = len(ordered)
    if n == 0:
        return LatencyStats(None, None, None, None)
    # ceil(p * n / 100) in integers: exact, whatever n is.
    p50, p90, p99 = (ordered[-(-p * n // 100) - 1] for p in PERCENTILES)
    return LatencyStats(p50, p90, p99, ordered[-1])


def _checked(values: Iterable[float]) -> Iterable[float]:
    for i, value in enumerate(values):
        if not isinstance(value, int | float):
            raise TypeError(f"latency {i} is {value!r}; expected a number of seconds")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"latency {i} is {value}; expected a finite number of seconds >= 0")
        yield float(value)
