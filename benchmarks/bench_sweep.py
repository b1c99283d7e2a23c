"""Sweep throughput on Dask against the local engine, in one run.

    .venv/bin/python benchmarks/bench_sweep.py [--scenario NAME] [--seeds N] [--json FILE]

Runs the same N seeds of a scenario of about one second per seed three ways: `--engine local` (the
reference, this process), Dask with 1 worker and Dask with 2 workers (LocalCluster, worker processes).
Prints seeds per minute for each, the speed-up of 2 workers over local and the efficiency per worker
(speed-up / workers; the target is at least 0.85 on a 2-core machine), and Dask's overhead: the sweep's
wall time against the sum of the seeds' own run times. Cluster start-up is timed apart from the sweep.
Every run's trace hashes are compared: the engines must agree seed for seed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cosigner_ha.cluster import bundled
from cosigner_ha.cluster.bundled import find_scenario
from cosigner_ha.testing.engine import open_engine
from cosigner_ha.testing.sweep import SweepResult, sweep


def timed(kind: str, workers: int | None, scenario: Any, seeds: list[int]) -> tuple[SweepResult, float]:
    started = time.perf_counter()
    with open_engine(kind, workers=workers) as engine:
        ready = time.perf_counter()
        result = sweep(scenario, seeds, engine, scenario_path="bench")
    return result, ready - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="seed-method-1")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    scenario = bundled.load(find_scenario(args.scenario))
    seeds = list(range(1, args.seeds + 1))
    load = os.getloadavg()[0]

    runs: dict[str, tuple[SweepResult, float]] = {}
    for label, kind, workers in (("local", "local", None), ("dask-1", "dask", 1), ("dask-2", "dask", 2)):
        runs[label] = timed(kind, workers, scenario, seeds)
        result, startup = runs[label]
        print(
            f"{label:7s} {len(seeds) / result.wall_seconds * 60:7.1f} seeds/min  sweep {result.wall_seconds:6.2f} s"
            f"  (start-up {startup:4.1f} s, seeds' own time {sum(r.wall_seconds for r in result.seeds):6.2f} s)"
        )
    hashes = {label: [r.trace_hash for r in res.seeds] for label, (res, _) in runs.items()}
    agree = len({tuple(h) for h in hashes.values()}) == 1
    local, one, two = (runs[k][0] for k in ("local", "dask-1", "dask-2"))
    speedup = local.wall_seconds / two.wall_seconds
    figures = {
        "scenario": args.scenario,
        "seeds": len(seeds),
        "seconds_per_seed": sum(r.wall_seconds for r in local.seeds) / len(seeds),
        "seeds_per_minute": {k: len(seeds) / r.wall_seconds * 60 for k, (r, _) in runs.items()},
        "startup_seconds": {k: s for k, (_, s) in runs.items()},
        "speedup_2_workers_vs_local": speedup,
        "efficiency_per_worker": speedup / 2,
        "dask_1_overhead": one.wall_seconds / sum(r.wall_seconds for r in one.seeds),
        "dask_2_overhead": 2 * two.wall_seconds / sum(r.wall_seconds for r in two.seeds),
        "hashes_agree": agree,
        "load_average_at_start": load,
        "cpus": os.cpu_count(),
    }
    print(
        f"speed-up of 2 workers over local: {speedup:.2f}x, efficiency per worker {speedup / 2:.2f} "
        f"(target >= 0.85)"
    )
    print(
        f"Dask overhead (sweep wall x workers / sum of seeds' run times): 1 worker {figures['dask_1_overhead']:.3f}, "
        f"2 workers {figures['dask_2_overhead']:.3f}"
    )
    print(
        f"trace hashes agree across engines: {agree}; load average at start {load:.2f} on {os.cpu_count()} cores"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
