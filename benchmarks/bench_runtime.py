"""The runtime against the simulation: start-up and pairing of a 3-node cluster, and signing latency.

1. Start-up and pairing: `RuntimeCluster` on `active-active-passive` (3 SGX node processes and `saas serve`)
   at `--pair-scale` (default 60: the owner's 60 s approval of each pairing takes 1 s): seconds until the
   SaaS answers, until every node is paired (`node setup` processes, side by side), until all are online.
2. Signing latency, the same scenario in one run: `single-cosigner` simulated (`cosigner-ha run --json`,
   its `latency_seconds`), then as processes at `--time-scale` (default 1, so pairing waits the owner's
   real 60 s) with `--n` transactions submitted one at a time through the control API, latency from submit
   to COMPLETED seen by polling every 10 ms. p50/p99 by nearest rank (`latency_stats`), and the ratio.

    .venv/bin/python benchmarks/bench_runtime.py                  # ~2 min (a real 60 s owner approval)
    .venv/bin/python benchmarks/bench_runtime.py --time-scale 60  # ~30 s

Figures: docs/performance.md, section "Runtime".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cosigner_ha.cluster.bundled import find_scenario
from cosigner_ha.cluster.report import latency_stats
from cosigner_ha.cluster.runtime.cluster import RuntimeCluster

TX = {
    "initiator": "ops",
    "asset": "ETH",
    "amount": "1",
    "source": "vault:hot",
    "destination": "wallet:partner-a",
}


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


def simulated_latency() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        subprocess.run(
            [sys.executable, "-m", "cosigner_ha.cli", "run", "single-cosigner", "--json", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        stats: dict[str, float] = json.loads(out.read_text())["latency_seconds"]
        return stats


def runtime_latency(scale: float, n: int) -> list[float]:
    latencies = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        RuntimeCluster(find_scenario("single-cosigner"), Path(tmp), time_scale=scale) as cluster,
    ):
        cluster.start()
        for _ in range(n):
            began = time.monotonic()
            tx = cluster.control.post(f"/workspaces/{cluster.workspace}/transactions", json=TX).json()
            while not tx["terminal"]:
                time.sleep(0.01)
                tx = cluster.control.get(f"/transactions/{tx['id']}").json()
            if tx["status"] != "COMPLETED":
                raise SystemExit(f"transaction {tx['id']} ended {tx['status']}")
            latencies.append(time.monotonic() - began)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair-scale", type=float, default=60.0)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    startup(args.pair_scale)
    sim = simulated_latency()
    real = latency_stats(runtime_latency(args.time_scale, args.n))
    assert real.p50 is not None and real.p99 is not None  # n >= 1 transactions completed
    print(f"signing latency, single-cosigner (runtime at time scale {args.time_scale:g}, {args.n} tx):")
    print(f"  simulation  p50 {sim['p50']:.3f} s  p99 {sim['p99']:.3f} s")
    print(f"  runtime     p50 {real.p50:.3f} s  p99 {real.p99:.3f} s")
    print(f"  ratio       p50 {real.p50 / sim['p50']:.2f}x  p99 {real.p99 / sim['p99']:.2f}x")


if __name__ == "__main__":
    main()
