"""Wall time of every bundled scenario (`scenarios/*.toml`), each run in full as `cosigner-ha run` does.

    .venv/bin/python benchmarks/bench_scenarios.py [--repeat N] [--only NAME[,NAME]] [--json]

Target: each runs in well under 30 s of wall time. Reference, measured in the same run: the setup of a
world (SaaS, nodes, attestation, pairing through the owner's approval) with nothing to do afterwards, on
the default scenario's topology; a scenario's wall time minus it is what its transactions and faults cost.
The first run of a scenario builds its RSA keys (callback JWTs), later runs in the same process reuse
them; the figure is the best of `--repeat` runs after one warm-up, so it is the steady cost.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from cosigner_ha.cluster.bundled import SCENARIOS
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import Scenario, load_scenario

TARGET = 30.0


def best_of(scenario: Scenario, repeat: int) -> tuple[float, int, float]:
    """(best wall seconds, transactions, simulated seconds) after one warm-up run."""
    report = run_scenario(scenario).report
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        report = run_scenario(scenario).report
        best = min(best, time.perf_counter() - started)
    return best, report.transactions_total, report.simulated_seconds


def setup_only(scenario: Scenario) -> Scenario:
    """The same world with no workload, no fault and one simulated second to run."""
    info = dataclasses.replace(scenario.scenario, duration=1.0)
    return dataclasses.replace(scenario, scenario=info, workloads=(), faults=())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = sorted(p.stem for p in SCENARIOS.glob("*.toml"))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    reference, _, _ = best_of(
        setup_only(load_scenario(SCENARIOS / "active-active-passive.toml")), args.repeat
    )
    rows = []
    for name in names:
        scenario = load_scenario(SCENARIOS / f"{name}.toml")
        wall, transactions, simulated = best_of(scenario, args.repeat)
        rows.append(
            {
                "scenario": name,
                "simulated_seconds": round(simulated),
                "transactions": transactions,
                "wall_seconds": round(wall, 3),
                "simulated_per_wall": round(simulated / wall),
                "of_target": round(wall / TARGET, 3),
                "over_setup": round(wall / reference, 1),
            }
        )
    if args.json:
        print(json.dumps({"setup_reference_seconds": round(reference, 3), "scenarios": rows}, indent=2))
        return 0
    print(f"reference: a world's setup alone (active-active-passive topology): {reference * 1000:.0f} ms")
    print(
        f"{'scenario':<26}{'simulated':>10}{'txs':>6}{'wall s':>9}{'sim/wall':>10}{'of 30 s':>9}{'x setup':>9}"
    )
    for r in rows:
        print(
            f"{r['scenario']:<26}{r['simulated_seconds']:>10}{r['transactions']:>6}{r['wall_seconds']:>9.2f}"
            f"{r['simulated_per_wall']:>10}{r['of_target']:>9.1%}{r['over_setup']:>9.1f}"
        )
    slowest = max(rows, key=lambda r: r["wall_seconds"])
    ok = slowest["wall_seconds"] < TARGET
    print(
        f"slowest: {slowest['scenario']} {slowest['wall_seconds']:.2f} s ({'within' if ok else 'over'} 30 s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
