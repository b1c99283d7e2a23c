"""The runtime against the simulation: start-up and pairing of a 3-node cluster, and signing latency.

1. Start-up and pairing: `RuntimeCluster` on `active-active-passive` (3 SGX node processes and `saas serve`)
   at `--pair-scale` (default 60: the owner's 60 s approval of each pairing takes 1 s): seconds until the
   SaaS answers, until every node is paired (`node setup` processes, side by side), until all are online.
2. Signing latency, the same scenario both ways in one run: `benchmarks/scenarios/runtime-latency.toml`
   (two SGX nodes, a transfer every 3 s for 2 minutes) with `cosigner-ha run --json` in simulation, then
   with `cosigner-ha run --runtime --time-scale N --json` (default 1: real time) on processes; each
   report's `latency_seconds` (submission to COMPLETED as the SaaS records it, nearest-rank percentiles,
   in scenario seconds) and the ratio runtime / simulation.

    .venv/bin/python benchmarks/bench_runtime.py                  # ~3 min (2 minutes of real time)

Figures: docs/performance.md, section "Runtime".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from cosigner_ha.cluster.bundled import find_scenario
from cosigner_ha.cluster.runtime.cluster import RuntimeCluster


def startup(scale: float) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        RuntimeCluster(find_scenario("active-active-passive"), Path(tmp), time_scale=scale) as cluster,
    ):
        cluster.start()
        t = cluster.times
        print(f"3-node cluster at time scale {scale:g}:")
        print(f"  saas serve ready           {t.saas_ready:7.2f} s")
        print(f"  every node paired          {t.paired:7.2f} s")
        print(f"  every node started, online {t.online:7.2f} s")


LATENCY_SCENARIO = Path(__file__).parent / "scenarios" / "runtime-latency.toml"


def run_report(*options: str) -> dict[str, Any]:
    """`cosigner-ha run` on the latency scenario with `options`; its `--json` report."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        command = [sys.executable, "-m", "cosigner_ha.cli", "run", str(LATENCY_SCENARIO), "--json", str(out)]
        done = subprocess.run(
            [*command, *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"cosigner-ha run {' '.join(options)} exited {done.returncode}: {done.stderr}")
        report: dict[str, Any] = json.loads(out.read_text())
        return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair-scale", type=float, default=60.0)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args()
    startup(args.pair_scale)
    sim = run_report()
    real = run_report("--runtime", "--time-scale", repr(args.time_scale))
    s, r = sim["latency_seconds"], real["latency_seconds"]
    count = real["transactions"]["total"]
    print(f"signing latency, {LATENCY_SCENARIO.name} ({count} transactions each way):")
    print(f"  simulation                      p50 {s['p50']:.3f} s  p99 {s['p99']:.3f} s")
    print(f"  runtime at time scale {args.time_scale:<9g} p50 {r['p50']:.3f} s  p99 {r['p99']:.3f} s")
    print(f"  ratio runtime / simulation      p50 {r['p50'] / s['p50']:.2f}x  p99 {r['p99'] / s['p99']:.2f}x")
    print(f"  runtime report passed: {real['passed']}; wall {real['wall_seconds']:.1f} s")


if __name__ == "__main__":
    main()
