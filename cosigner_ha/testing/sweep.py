"""One scenario, many seeds: the distribution of what the cluster did, and the seeds that failed.

Each seed is a complete `run_scenario`, so a seed's trace hash and verdict in a sweep are those of
`cosigner-ha run SCENARIO --seed N`, on any engine. Workers return a `SeedResult` (a few hundred bytes);
the summary is computed here from those.

Seeds go to the engine in chunks. The first seed runs alone and times a run; the rest go in chunks of at
least `CHUNK_SECONDS` of work each, so the engine's per-task cost (a few milliseconds on Dask) stays under
1% of it, and in at least `CHUNKS_PER_WORKER` chunks per worker, so a slow seed does not leave the other
workers idle at the end.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from cosigner_ha.cluster.report import RunReport
from cosigner_ha.cluster.report.model import latency_stats
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import Scenario
from cosigner_ha.testing.engine import Engine

#: A chunk carries at least this much estimated work (seconds), so per-task overhead stays under 1%.
CHUNK_SECONDS = 2.0
#: ... and there are at least this many chunks per worker, for load balance at the end of the sweep.
CHUNKS_PER_WORKER = 4
#: The most seeds one sweep takes.
MAX_SEEDS = 1_000_000
SEED_MAX = 2**63 - 1

_RANGE = re.compile(r"^\s*(\d+)\s*\.\.\s*(\d+)\s*$")


class SeedsError(ValueError):
    """`--seeds` is not a seed, a range `A..B` or a comma-separated list of them."""


def parse_seeds(text: str) -> list[int]:
    """`1..1000` (inclusive), `7`, or a comma-separated list of both: the seeds, in order, each once."""
    seeds: dict[int, None] = {}
    for part in text.split(","):
        if match := _RANGE.match(part):
            low, high = int(match[1]), int(match[2])
            if low > high:
                raise SeedsError(f"--seeds {part.strip()!r}: the range is empty ({low} > {high})")
            if high > SEED_MAX:
                raise SeedsError(f"--seeds {part.strip()!r}: seeds go up to {SEED_MAX}")
            if high - low + 1 + len(seeds) > MAX_SEEDS:
                raise SeedsError(f"--seeds {text!r}: more than {MAX_SEEDS:,} seeds in one sweep")
            seeds.update(dict.fromkeys(range(low, high + 1)))
        elif part.strip().isdigit():
            seed = int(part)
            if seed > SEED_MAX:
                raise SeedsError(f"--seeds: {seed} is above the largest seed, {SEED_MAX}")
            seeds[seed] = None
        else:
            raise SeedsError(
                f"--seeds {text!r}: expected a seed (7), a range (1..1000) or a comma-separated list of them; "
                f"{part.strip()!r} is neither"
            )
    if not seeds:
        raise SeedsError("--seeds: no seeds given")
    return list(seeds)


@dataclasses.dataclass(frozen=True, slots=True)
class SeedResult:
    """What a worker sends back for one seed: enough for the summary and to replay it, nothing large."""

    seed: int
    passed: bool
    trace_hash: str
    failed_checks: tuple[str, ...]
    transactions: Mapping[str, int]  # by status
    latency_p50: float | None
    latency_p99: float | None
    failover_gaps: tuple[float | None, ...]  # None: the lost node's work was never taken over
    wall_seconds: float

    @property
    def completion_ratio(self) -> float | None:
        """Completed over all transactions; None when there were none."""
        total = sum(self.transactions.values())
        return self.transactions.get("COMPLETED", 0) / total if total else None

    @property
    def worst_failover(self) -> float | None:
        gaps = [g for g in self.failover_gaps if g is not None]
        return max(gaps) if gaps else None

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "passed": self.passed,
            "trace_hash": self.trace_hash,
            "failed_checks": list(self.failed_checks),
            "transactions": dict(self.transactions),
            "latency_seconds": {"p50": self.latency_p50, "p99": self.latency_p99},
            "failovers": list(self.failover_gaps),
            "wall_seconds": round(self.wall_seconds, 3),
        }


def seed_result(report: RunReport, wall_seconds: float) -> SeedResult:
    return SeedResult(
        seed=report.seed,
        passed=report.passed,
        trace_hash=report.trace_hash,
        failed_checks=tuple(report.failed_checks()),
        transactions=dict(report.by_status),
        latency_p50=report.latency.p50,
        latency_p99=report.latency.p99,
        failover_gaps=tuple(f.gap_seconds for f in report.failovers),
        wall_seconds=wall_seconds,
    )


def run_seeds(scenario: Scenario, seeds: list[int]) -> list[SeedResult]:
    """Run `scenario` once per seed (on a worker, or here); module level so that workers can import it."""
    out = []
    for seed in seeds:
        started = time.perf_counter()
        report = run_scenario(scenario, seed=seed).report
        out.append(seed_result(report, time.perf_counter() - started))
    return out


def chunk(seeds: Sequence[int], *, seconds_per_seed: float, workers: int) -> list[list[int]]:
    """Split `seeds` into chunks of at least `CHUNK_SECONDS` of work, at least `CHUNKS_PER_WORKER` per worker."""
    if not seeds:
        return []
    by_work = max(1, math.ceil(CHUNK_SECONDS / max(seconds_per_seed, 1e-6)))
    by_balance = max(1, len(seeds) // (workers * CHUNKS_PER_WORKER))
    size = min(by_work, by_balance) if len(seeds) > workers * CHUNKS_PER_WORKER else 1
    size = max(size, 1)
    return [list(seeds[i : i + size]) for i in range(0, len(seeds), size)]


@dataclasses.dataclass(frozen=True, slots=True)
class Distribution:
    """min, nearest-rank p50/p90/p99, max of a figure over the seeds that have it; `n` of them."""

    n: int
    min: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        stats = latency_stats(values)
        return cls(len(values), min(values) if values else None, stats.p50, stats.p90, stats.p99, stats.max)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class SweepResult:
    scenario: str
    scenario_path: str
    engine: str
    workers: int
    seeds: tuple[SeedResult, ...]  # in seed order
    wall_seconds: float

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.seeds)

    @property
    def failed(self) -> tuple[SeedResult, ...]:
        return tuple(r for r in self.seeds if not r.passed)

    def check_failures(self) -> dict[str, int]:
        """For each check that failed somewhere, in how many seeds."""
        counts: dict[str, int] = {}
        for r in self.seeds:
            for name in r.failed_checks:
                counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def distributions(self) -> dict[str, Distribution]:
        """Per seed: the worst failover gap (seeds with a failover taken over), the p99 signing latency, the
        completion ratio."""
        gaps = [g for r in self.seeds if (g := r.worst_failover) is not None]
        p99 = [r.latency_p99 for r in self.seeds if r.latency_p99 is not None]
        ratios = [c for r in self.seeds if (c := r.completion_ratio) is not None]
        return {
            "failover_gap_seconds": Distribution.of(gaps),
            "latency_p99_seconds": Distribution.of(p99),
            "completion_ratio": Distribution.of(ratios),
        }

    def untaken_failovers(self) -> int:
        """Seeds in which a lost node's work was never taken over by another."""
        return sum(any(g is None for g in r.failover_gaps) for r in self.seeds)

    def replay_command(self, seed: int) -> str:
        return f"cosigner-ha run {self.scenario_path} --seed {seed}"

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "engine": self.engine,
            "seeds": [r.to_json() for r in self.seeds],
            "summary": {
                "runs": len(self.seeds),
                "passed": self.passed,
                "failed": len(self.failed),
                "checks": self.check_failures(),
                "failovers_not_taken_over": self.untaken_failovers(),
                "distributions": {k: d.to_json() for k, d in self.distributions().items()},
                "workers": self.workers,
                "wall_seconds": round(self.wall_seconds, 3),
                "seed_seconds": round(sum(r.wall_seconds for r in self.seeds), 3),
                "replay": {str(r.seed): self.replay_command(r.seed) for r in self.failed},
            },
        }


def sweep(
    scenario: Scenario,
    seeds: Sequence[int],
    engine: Engine,
    *,
    scenario_path: str,
    on_result: Callable[[SeedResult], None] = lambda r: None,
) -> SweepResult:
    """Run every seed on `engine`; `on_result` sees each seed's result as it arrives (progress)."""
    started = time.perf_counter()
    results: dict[int, SeedResult] = {}
    # One seed per worker first, all at once; the first to finish times a run, and the rest go out in chunks
    # sized from it while the other first seeds are still running, so no worker waits.
    head, rest = list(seeds[: engine.workers]), list(seeds[engine.workers :])

    def take(batch: list[SeedResult]) -> None:
        for r in batch:
            results[r.seed] = r
            on_result(r)

    first = engine.map_chunks(run_seeds, scenario, [[s] for s in head])
    later: Iterator[list[SeedResult]] = iter(())
    for batch in first:
        take(batch)
        if rest:
            sized = chunk(rest, seconds_per_seed=batch[0].wall_seconds, workers=engine.workers)
            later = engine.map_chunks(run_seeds, scenario, sized)
        break
    for batch in itertools.chain(first, later):
        take(batch)
    ordered = tuple(results[s] for s in seeds)
    return SweepResult(
        scenario=scenario.scenario.name,
        scenario_path=scenario_path,
        engine=engine.name,
        workers=engine.workers,
        seeds=ordered,
        wall_seconds=time.perf_counter() - started,
    )
