"""The per-event path of a simulated run on its own: a run's events replayed through `Trace.record` (canonical
line, hash, file) and the streamed analysis (`RunFold`: transaction table, invariants, rare events).

A run records about 29 events a signed transaction; what each costs beside the simulation is this path.
The events come from one run of the busy desk cut to ten minutes (this tree, kept in memory), written to a
pickle; each side then replays them in fresh processes, the sides alternating, and reports per event:

  floor    the canonical line and its hash alone (what the file and the trace hash cannot do without)
  record   `Trace.record` with no consumer (the line, the hash, a file sink, the `Event`)
  fold     `Trace.record` feeding a `RunFold`, as `run_scenario` does (invariant checks included)

and how `fold` splits: `record`, the folds (`unverified`, the same with the Ed25519 verification of each
`signed` event left out, less `record`) and that verification (`fold` less `unverified`).

With `--against REV` the same replay runs on commit REV too (installed as `bench_cluster.py --against`
installs it) and the ratio of the `fold` medians is the speed-up of this path. Both sides must give the
same trace hash and the same verdicts, or the benchmark stops.

    .venv/bin/python benchmarks/bench_trace_events.py                       # this tree, ratio to the floor
    .venv/bin/python benchmarks/bench_trace_events.py --against 0e94299     # this tree against a commit

Figures: docs/performance.md, section "The per-event path".
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import against  # noqa: E402  (benchmarks/against.py, beside this script)
from bench_cluster import BUSY_DESK, quick_busy_desk  # noqa: E402

from cosigner_ha.cluster import runner  # noqa: E402
from cosigner_ha.cluster.scenario import load_scenario  # noqa: E402

#: Run in a fresh interpreter of either environment: the three measures over the pickled events, `passes`
#: times each, the best pass of each (CPU time), as one JSON line.
DRIVER = """
import hashlib, io, json, os, pickle, sys, time
from cosigner_ha.env.trace import Trace, canonical
from cosigner_ha.cluster.analysis import RunFold
events = pickle.loads(open(sys.argv[1], "rb").read())
passes = int(sys.argv[2])
now = [0.0]
clock = lambda: now[0]

def floor():
    sha = hashlib.sha256()
    for t, kind, fields in events:
        sha.update((canonical({"t": t, "kind": kind, **fields}) + "\\n").encode("ascii"))
    return None

def replay(fold):
    with open(os.devnull, "w") as sink:
        trace = Trace(clock, {"scenario": "bench"}, sink=sink, keep=False)
        if fold is not None:
            trace.consume(fold.feed)
        record = trace.record
        for t, kind, fields in events:
            now[0] = t
            record(kind, **fields)
    return trace.hash

from cosigner_ha.cluster import invariants
verify = invariants.SignaturesVerify.feed

def unverified():
    invariants.SignaturesVerify.feed = lambda self, e: None  # before RunFold binds its handlers
    try:
        return replay(RunFold())
    finally:
        invariants.SignaturesVerify.feed = verify

best = {"floor": [], "record": [], "fold": [], "unverified": []}
for _ in range(passes):
    for name, run in (("floor", floor), ("record", lambda: replay(None)), ("fold", lambda: replay(RunFold())),
                      ("unverified", unverified)):
        cpu = time.process_time()
        run()
        best[name].append(time.process_time() - cpu)
fold = RunFold()
digest = replay(fold)
verdicts = {name: [v.ok, v.detail] for name, v in fold.checks.verdicts().items()}
n = len(events)
print(json.dumps({**{k: min(v) / n * 1e6 for k, v in best.items()}, "events": n, "trace_hash": digest,
                  "verdicts": verdicts, "rows": len(fold.table)}))
"""


def recorded_events(scenario: Path, out: Path) -> int:
    """One run of `scenario` with this tree, its events kept and pickled as (t, kind, fields)."""
    result = runner.run_scenario(load_scenario(scenario), keep_events=True)
    assert result.events is not None
    events = [(e.t, e.kind, dict(e.fields)) for e in result.events]
    out.write_bytes(pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL))
    return len(events)


def replayed(python: Path, events: Path, passes: int, cwd: Path) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), "-c", DRIVER, str(events), str(passes)],
        check=True,
        capture_output=True,
        text=True,
        cwd=cwd,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--against", metavar="REV", help="also replay on commit REV, side by side")
    parser.add_argument(
        "--rounds", type=int, default=5, help="fresh processes per side (median of their bests)"
    )
    parser.add_argument("--passes", type=int, default=3, help="passes over the events in each process (best)")
    parser.add_argument("--scenario", type=Path, default=BUSY_DESK, help="a 1 h file, cut to ten minutes")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    with against.temporary_workdir() as tmp:
        workdir = Path(tmp)
        events = workdir / "events.pickle"
        n = recorded_events(quick_busy_desk(args.scenario.resolve(), workdir), events)
        print(f"{n:,} events of {args.scenario.name} cut to ten minutes; {args.rounds} processes a side")
        sides = {"this tree": Path(sys.executable)}
        if args.against:
            print(f"installing {args.against} into a temporary environment ...")
            sides = {args.against: against.prepare(ROOT, args.against, workdir), **sides}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
        for i in range(args.rounds):
            for name in list(sides) if i % 2 == 0 else list(sides)[::-1]:
                r = replayed(sides[name], events, args.passes, workdir)
                runs[name].append(r)
                print(
                    f"  round {i + 1} {name:>10}: floor {r['floor']:5.2f}, record {r['record']:5.2f}, "
                    f"fold {r['fold']:5.2f} us an event CPU; trace {r['trace_hash'][:12]}"
                )
    rows: dict[str, dict[str, Any]] = {}
    for name, rs in runs.items():
        if len({r["trace_hash"] for r in rs}) != 1 or len({json.dumps(r["verdicts"]) for r in rs}) != 1:
            raise SystemExit(f"{name}: the same events gave different traces or verdicts")
        rows[name] = {k: round(statistics.median(r[k] for r in rs), 2) for k in ("floor", "record", "fold")}
        unverified = statistics.median(r["unverified"] for r in rs)
        rows[name]["of which folds"] = round(unverified - rows[name]["record"], 2)
        rows[name]["of which Ed25519"] = round(rows[name]["fold"] - unverified, 2)
        rows[name]["fold/floor"] = round(rows[name]["fold"] / rows[name]["floor"], 2)
        rows[name]["ms per run (fold)"] = round(rows[name]["fold"] * n / 1000, 1)
    print()
    print(f"{'median us an event (CPU)':28}" + "".join(f"{name:>14}" for name in rows))
    for key in rows["this tree"]:
        print(f"{key:28}" + "".join(f"{row[key]:>14}" for row in rows.values()))
    figures: dict[str, Any] = {"events": n, "sides": rows}
    if args.against:
        ref, cur = runs[args.against], runs["this tree"]
        if ref[0]["trace_hash"] != cur[0]["trace_hash"] or ref[0]["verdicts"] != cur[0]["verdicts"]:
            raise SystemExit("the two sides wrote different traces or reached different verdicts")
        ratio = rows[args.against]["fold"] / rows["this tree"]["fold"]
        figures["speedup_fold"] = round(ratio, 3)
        print(f"speed-up of the per-event path (fold), {args.against} / this tree: {ratio:.2f}x")
        print("trace hashes and verdicts: identical")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
