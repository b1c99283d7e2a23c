"""Bounded work: what a run of a scenario will cost, estimated from the file before anything runs, and the
limits beyond which `run`, `explore`, `sweep` and `up` refuse it (`--no-limits` lifts them).

A simulated run encodes, hashes and checks every trace event (its report is folded from them), and its
wall time grows with the transactions it signs and the long polls its nodes make. A file that asks for
`count = 9223372036854775807`, `duration = "100000d"`, `rate = "1000/s"` for hours or
`long_poll_interval = "1ms"` would otherwise run for days or until memory runs out; with these limits it is
refused at once, with the estimate and the flag that runs it anyway. The limits sit well above the
bundled scenarios and the product's own figures (a handful of co-signers, 30 s long polls); the costs per
transaction and per poll are measured (docs/scenarios.md, "Limits").
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from cosigner_ha.cluster.runner import DRAIN_MARGIN
from cosigner_ha.cluster.scenario import Scenario
from cosigner_ha.cluster.scenario.durations import format_duration
from cosigner_ha.inputs import shorten

#: The command-line flag that lifts every limit.
NO_LIMITS_FLAG = "--no-limits"

#: Trace events a transaction adds on average (submission, policy, probes, rounds, nonces, status,
#: logs): 21 measured on the bundled scenarios, rounded up.
EVENTS_PER_TRANSACTION = 25
#: Trace events an idle long poll adds on average (token refreshes, now and then a log line).
EVENTS_PER_POLL = 0.2
#: Trace events a node adds at setup (boot, attestation, pairing) and a fault adds (the fault, what it
#: touches, its end).
EVENTS_PER_NODE = 60
EVENTS_PER_FAULT = 30


@dataclass(frozen=True, slots=True)
class Limits:
    """The documented limits (docs/scenarios.md, "Limits")."""

    nodes: int = 100
    transactions: int = 50_000
    events: int = 2_000_000
    node_days: float = 1000.0
    polls: int = 2_000_000
    min_long_poll_interval: float = 1.0


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class WorkEstimate:
    """What one run will do, at most or on average: transactions submitted (the mean of Poisson arrivals,
    every batch whole), trace events, node-seconds simulated (every node, through the longest drain) and
    long polls (one per node per `long_poll_interval` while it is idle)."""

    transactions: float
    events: float
    simulated_seconds: float
    node_seconds: float
    polls: float

    def describe(self) -> str:
        return (
            f"about {_count(self.transactions)} transactions, {_count(self.events)} trace events, "
            f"{_count(self.node_seconds / 86400)} node-days simulated "
            f"({format_duration(round(self.simulated_seconds, 3))} at most), {_count(self.polls)} long polls"
        )


class LimitError(ValueError):
    """The scenario asks for more work than the limits allow: what, where, the estimate and the way out."""

    def __init__(self, origin: str, problems: list[str], estimate: WorkEstimate | None) -> None:
        self.origin = origin
        self.problems = problems
        self.estimate = estimate
        lines = [f"{origin}: the run is too large to start:"]
        lines += [f"  {p}" for p in problems]
        if estimate is not None:
            lines.append(f"  estimate: {estimate.describe()}")
        lines.append(
            f"  the limits are documented in docs/scenarios.md (Limits); {NO_LIMITS_FLAG} runs it anyway"
        )
        super().__init__("\n".join(lines))


def _count(value: float) -> str:
    if not math.isfinite(value):
        return "unbounded"
    if value >= 1e12:
        return f"{value:.2g}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _workload_transactions(scenario: Scenario) -> list[float]:
    """The transactions each workload submits: a batch's count, a rate's mean over its window."""
    duration = scenario.scenario.duration
    out: list[float] = []
    for workload in scenario.workloads:
        if workload.at is not None or workload.rate is None:
            out.append(float(workload.count))
            continue
        stop = duration if workload.stop is None else min(duration, workload.stop)
        out.append(max(0.0, stop - workload.start) * workload.rate.per_second)
    return out


def estimate(scenario: Scenario) -> WorkEstimate:
    """The work of one run of `scenario`, from the file alone."""
    s = scenario.saas
    nodes = len(scenario.nodes)
    transactions = sum(_workload_transactions(scenario))
    simulated = scenario.scenario.duration + s.authorization_timeout + s.signing_timeout + DRAIN_MARGIN
    node_seconds = nodes * simulated
    polls = node_seconds / s.long_poll_interval if s.long_poll_interval > 0 else math.inf
    events = (
        transactions * EVENTS_PER_TRANSACTION
        + polls * EVENTS_PER_POLL
        + nodes * EVENTS_PER_NODE
        + len(scenario.faults) * EVENTS_PER_FAULT
    )
    return WorkEstimate(transactions, events, simulated, node_seconds, polls)


def _biggest(scenario: Scenario) -> str:
    """The workload that submits the most, as the file says it."""
    counts = _workload_transactions(scenario)
    i = max(range(len(counts)), key=counts.__getitem__)
    workload = scenario.workloads[i]
    if workload.at is not None or workload.rate is None:
        how = f"count = {shorten(workload.count)}"
    else:
        window = format_duration(round(counts[i] / workload.rate.per_second, 3))
        how = f"rate = {str(workload.rate)!r} for {window}"
    return f"workload[{i}] {workload.name!r} ({how}) submits about {_count(counts[i])} transactions"


def problems(scenario: Scenario, limits: Limits = DEFAULT_LIMITS, *, timeline: bool = True) -> list[str]:
    """Each limit the scenario goes beyond, naming the key that takes it there; `timeline` False checks
    only what does not depend on the run's length (`up` without its timeline)."""
    found: list[str] = []
    s = scenario.saas
    if len(scenario.nodes) > limits.nodes:
        found.append(f"[[nodes]]: {len(scenario.nodes)} nodes, more than the limit of {limits.nodes}")
    if s.long_poll_interval < limits.min_long_poll_interval:
        found.append(
            f"saas.long_poll_interval = {format_duration(s.long_poll_interval)}: shorter than the limit of "
            f"{format_duration(limits.min_long_poll_interval)} (the product's is 30s; below a second a run "
            "spends its time polling)"
        )
    if not timeline:
        return found
    work = estimate(scenario)
    if work.transactions > limits.transactions:
        found.append(
            f"{_biggest(scenario)}; {_count(work.transactions)} in all, more than the limit of "
            f"{_count(limits.transactions)}"
        )
    days = work.node_seconds / 86400
    if days > limits.node_days or work.polls > limits.polls:
        drain = format_duration(s.authorization_timeout + s.signing_timeout + DRAIN_MARGIN)
        over = []
        if days > limits.node_days:
            over.append(f"{_count(days)} node-days (limit {_count(limits.node_days)})")
        if work.polls > limits.polls:
            over.append(
                f"{_count(work.polls)} long polls at saas.long_poll_interval = "
                f"{format_duration(s.long_poll_interval)} (limit {_count(limits.polls)})"
            )
        found.append(
            f"scenario.duration = {format_duration(scenario.scenario.duration)} (plus a drain of up to "
            f"{drain}: the SaaS's authorization and signing timeouts and 10m) × {len(scenario.nodes)} "
            f"node(s): {' and '.join(over)}"
        )
    if work.events > limits.events and not found:
        found.append(
            f"about {_count(work.events)} trace events (each encoded, hashed and checked), more than the "
            f"limit of {_count(limits.events)}"
        )
    return found


def check_limits(
    scenario: Scenario,
    limits: Limits | None = DEFAULT_LIMITS,
    *,
    timeline: bool = True,
    origin: str | None = None,
) -> WorkEstimate:
    """The run's estimate; LimitError when it goes beyond `limits` (None: no limits, `--no-limits`)."""
    work = estimate(scenario)
    if limits is None:
        return work
    found = problems(scenario, limits, timeline=timeline)
    if found:
        raise LimitError(origin or scenario.origin, found, work if timeline else None)
    return work


def add_flag(parser: argparse.ArgumentParser) -> None:
    """`--no-limits` on a command's parser."""
    parser.add_argument(
        NO_LIMITS_FLAG,
        dest="no_limits",
        action="store_true",
        help="run a scenario beyond the documented work limits (docs/scenarios.md, Limits): "
        "it may run for hours and use much memory",
    )


def limits_of(args: argparse.Namespace) -> Limits | None:
    """The limits a command applies: none with `--no-limits` (a namespace built without the flag, as
    a caller of a command's `run` may build one, keeps them)."""
    return None if getattr(args, "no_limits", False) else DEFAULT_LIMITS
