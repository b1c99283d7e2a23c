"""Whether the CPU cost of a signed transaction grows with the length of a run, or in its outages.

Runs the bundled default scenario (`scenarios/active-active-passive.toml`: a zone outage at 30 m for 30 m,
a region outage at 2 h for 45 m during which only the SGX standby signs) at one transaction a second, as
`bench_cluster.py --day` does, for each duration given, each in a fresh process; faults and expectation
windows beyond a run's end are dropped, windows that reach past it end with it. Prints the CPU a signed
transaction costs by run length, by simulated slice and by phase (normal, each outage, after recovery).

CPU time on a shared machine moves by 10 to 20% from one slice to the next, so beside it each slice
carries the deterministic work it did: trio task steps and trace events per signed transaction (the same
on every run of a seed). A cost that grows with the run shows in the late slices' steps, not only their CPU.

    .venv/bin/python benchmarks/cpu_growth.py                    # 1 h, 2 h and 4 h, 5-minute slices
    .venv/bin/python benchmarks/cpu_growth.py 4h --slice 5m      # one run, finer slices

The default takes about two and a half minutes of CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent / "cosigner_ha" / "scenarios" / "active-active-passive.toml"


def shortened(data: dict[str, Any], duration: str) -> dict[str, Any]:
    """The default scenario at 1/s for `duration`, without what would lie beyond its end."""
    from cosigner_ha.cluster.scenario.durations import parse_duration

    end = parse_duration(duration)
    data["scenario"]["duration"] = duration
    for workload in data["workload"]:
        workload["rate"] = "1/s"
    data["faults"] = [f for f in data.get("faults", []) if parse_duration(f["at"]) < end]
    windows = []
    for window in data.get("expect", {}).get("window", []):
        if parse_duration(window["from"]) < end:
            if parse_duration(window["to"]) > end:
                window["to"] = duration
            windows.append(window)
    if "expect" in data:
        data["expect"]["window"] = windows
    return data


def child(duration: str, slice_seconds: float) -> None:
    """In this process: one run, a JSON line of its slices and totals on stdout."""
    import trio

    from cosigner_ha.cluster import runner
    from cosigner_ha.cluster.scenario.loader import scenario_from_dict
    from cosigner_ha.env import Event, Trace

    data = shortened(tomllib.loads(DEFAULT.read_text()), duration)
    scenario = scenario_from_dict(data, f"{DEFAULT.name} ({duration} at 1/s)", base_dir=DEFAULT.parent)
    slices: list[dict[str, float]] = []
    now: dict[str, float] = {"steps": 0, "signed": 0, "events": 0}

    class Steps(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            now["steps"] += 1

    @contextlib.contextmanager
    def sliced(trace: Trace, *_: Any, **__: Any) -> Iterator[None]:
        origin: list[float] = []
        boundary = [slice_seconds]
        cpu = [0.0]

        def on_event(event: Event) -> None:
            if not origin:
                if event.kind != "scenario_start":
                    return
                origin.append(event.t)
                cpu[0] = time.process_time()
                trio.lowlevel.add_instrument(Steps())
            t = event.t - origin[0]
            while t >= boundary[0]:
                spent = time.process_time()
                slices.append({"from": boundary[0] - slice_seconds, "cpu": spent - cpu[0], **now})
                cpu[0] = spent
                now.update(steps=0, signed=0, events=0)
                boundary[0] += slice_seconds
            now["events"] += 1
            now["signed"] += event.kind == "signed"

        trace.subscribe(on_event)
        yield

    runner.simulated_time_progress = sliced  # type: ignore[assignment]
    cpu = time.process_time()
    report = runner.run_scenario(scenario).report
    cpu = time.process_time() - cpu
    faults = [(f.at, f.at + (f.for_ or 0.0), f.site or f.node or "") for f in scenario.faults]
    print(
        json.dumps(
            {
                "duration": duration,
                "cpu": cpu,
                "signed": sum(report.signed_by.values()),
                "transactions": report.transactions_total,
                "passed": report.passed,
                "trace_hash": report.trace_hash,
                "slices": slices,
                "faults": faults,
            }
        )
    )


def phase(start: float, faults: list[list[Any]]) -> str:
    for at, until, what in faults:
        if at <= start < until:
            return f"outage {what} ({at / 60:g}-{until / 60:g} m)"
    return (
        "after an outage (none under way)"
        if any(until <= start for _, until, _ in faults)
        else "before any outage"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("durations", nargs="*", default=["1h", "2h", "4h"], help="run lengths (default 1h 2h 4h)")
    p.add_argument("--slice", default="5m", help="simulated time a slice covers (default 5m)")
    p.add_argument("--slices", action="store_true", help="print every slice of every run")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    from cosigner_ha.cluster.scenario.durations import parse_duration

    slice_seconds = parse_duration(args.slice)
    if args.child:
        child(args.child, slice_seconds)
        return
    runs = []
    for duration in args.durations:
        out = subprocess.run(
            [sys.executable, __file__, "--child", duration, "--slice", args.slice],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        run = json.loads(out.strip().splitlines()[-1])
        runs.append(run)
        print(
            f"{duration:>4}: {run['cpu']:7.1f} s CPU, {run['signed']:,} signed of {run['transactions']:,}, "
            f"passed={run['passed']}, {1000 * run['cpu'] / run['signed']:.2f} ms CPU per signed tx, "
            f"trace {run['trace_hash'][:12]}",
            flush=True,
        )
    print(f"\nby phase (all runs, slices of {args.slice} by the phase they start in):")
    phases: dict[str, list[float]] = {}
    for run in runs:
        for s in run["slices"]:
            acc = phases.setdefault(phase(s["from"], run["faults"]), [0.0, 0, 0, 0])
            for i, key in enumerate(("cpu", "signed", "steps", "events")):
                acc[i] += s[key]
    for name, (cpu, signed, steps, events) in phases.items():
        print(
            f"  {name:<40} {1000 * cpu / signed:5.2f} ms/tx  {steps / signed:5.1f} task steps/tx  "
            f"{events / signed:5.1f} events/tx  ({signed:,} tx)"
        )
    if args.slices:
        for run in runs:
            print(f"\n{run['duration']} by slice:")
            for s in run["slices"]:
                n = max(s["signed"], 1)
                print(
                    f"  {s['from'] / 60:5.0f} m  {s['cpu']:6.2f} s  {s['signed']:5.0f} tx  "
                    f"{1000 * s['cpu'] / n:5.2f} ms/tx  {s['steps'] / n:5.1f} steps/tx  {s['events'] / n:5.1f} ev/tx"
                    f"  {phase(s['from'], run['faults'])}"
                )


if __name__ == "__main__":
    main()
