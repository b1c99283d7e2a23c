"""The runtime against the simulation: start-up and pairing of a 3-node cluster, and signing latency.

1. Start-up and pairing: `RuntimeCluster` on `active-active-passive` (2 Nitro and 1 SGX node processes,
   `cloud serve`, `owner serve`, `callback serve`, their links and `saas serve`) at `--pair-scale`
   (default 60: the owner's 60 s approval of each pairing takes 1 s): seconds until the SaaS and every link
   answer, until every node is paired, until all are online. With `--against REV` the same start-up also
   runs on commit REV (installed apart, `benchmarks/against.py`), `--rounds` times each side alternately in
   fresh processes, with the medians and the ratio this tree / REV; the load average is printed, since
   start-up is CPU-bound Python start-ups on a shared machine.
2. Signing latency, the same scenario both ways in one run: `benchmarks/scenarios/runtime-latency.toml`
   (two SGX nodes, a transfer every 3 s for 2 minutes) with `cosigner-ha run --json` in simulation, then
   with `cosigner-ha run --runtime --time-scale N --json` (default 1: real time) on processes; each
   report's `latency_seconds` (submission to COMPLETED as the SaaS records it, nearest-rank percentiles,
   in scenario seconds) and the ratio runtime / simulation.

    .venv/bin/python benchmarks/bench_runtime.py                  # ~3 min (2 minutes of real time)
    .venv/bin/python benchmarks/bench_runtime.py --startup-only --against 2c3d7f9 --rounds 3   # ~3 min

Figures: docs/performance.md, section "Runtime".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import against  # benchmarks/against.py, beside this script

#: Run in a fresh interpreter of either environment: one 3-node start-up, its stage times as JSON.
STARTUP_DRIVER = """
import json, sys, tempfile
from pathlib import Path
from cosigner_ha.cluster.bundled import find_scenario
from cosigner_ha.cluster.runtime.cluster import RuntimeCluster
with tempfile.TemporaryDirectory() as tmp:
    with RuntimeCluster(find_scenario("active-active-passive"), Path(tmp), time_scale=float(sys.argv[1])) as c:
        c.start()
        t = c.times
print(json.dumps({"saas_ready": t.saas_ready, "paired": t.paired, "online": t.online}))
"""
STAGES = (
    ("saas_ready", "saas serve and every link ready"),
    ("paired", "every node paired"),
    ("online", "every node started, online"),
)


def startup_once(python: Path, scale: float, cwd: Path) -> dict[str, float]:
    out = subprocess.run(
        [str(python), "-c", STARTUP_DRIVER, repr(scale)], check=True, capture_output=True, text=True, cwd=cwd
    ).stdout
    times: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return times


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def startup(scale: float, rounds: int = 1, rev: str | None = None) -> None:
    """The 3-node start-up `rounds` times in fresh processes (with `rev`, alternately with commit REV's)."""
    with against.temporary_workdir() as tmp:
        workdir = Path(tmp)
        sides = {"this tree": Path(sys.executable)}
        if rev is not None:
            root = Path(__file__).resolve().parent.parent
            sides[rev] = against.prepare(root, rev, workdir / "against")
        print(f"3-node active-active-passive start-up at time scale {scale:g}, load average {_load()}:")
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in sides}
        for i in range(rounds):
            for label, python in sides.items():
                times = startup_once(python, scale, workdir)
                runs[label].append(times)
                figures = "  ".join(f"{times[key]:6.2f}" for key, _ in STAGES)
                print(f"  round {i + 1} {label:<10} {figures} s   (load {_load()})", flush=True)
        medians = {
            label: {key: statistics.median(r[key] for r in got) for key, _ in STAGES}
            for label, got in runs.items()
        }
        for key, text in STAGES:
            line = "  ".join(f"{label} {m[key]:6.2f} s" for label, m in medians.items())
            ratio = f"  ratio {medians['this tree'][key] / medians[rev][key]:.2f}x" if rev else ""
            print(f"  median {text:<32} {line}{ratio}")
        print(f"  load average after: {_load()}")


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
    parser.add_argument("--startup-only", action="store_true", help="only the start-up figures")
    parser.add_argument("--against", metavar="REV", help="also time the start-up of commit REV")
    parser.add_argument("--rounds", type=int, default=1, help="start-ups per side (medians)")
    args = parser.parse_args()
    startup(args.pair_scale, args.rounds, args.against)
    if args.startup_only:
        return
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
