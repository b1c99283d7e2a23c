"""What a simulated run keeps per transaction, by source line: the memory that grows with a run's length.

Runs the busy desk (`benchmarks/scenarios/busy-desk.toml`, its crash moved to 3 m for 2 m) for a short and
a long duration, each in a fresh process under `tracemalloc`, takes a snapshot of the live memory when the
run has drained (the world still up, after a full collection) and prints the difference per allocating
line divided by the difference in transactions: bytes a transaction, what stays flat cancels out.

    .venv/bin/python benchmarks/memory_growth.py                 # 10 m against 40 m, the top 30 lines
    .venv/bin/python benchmarks/memory_growth.py --short 10m --long 30m --top 50

tracemalloc slows a run about fourfold: the default takes some five minutes of CPU.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenarios" / "busy-desk.toml"
FRAMES = 12


def shortened(duration: str, workdir: Path) -> Path:
    text = SCENARIO.read_text()
    for old, new in (
        ('duration = "1h"', f'duration = "{duration}"'),
        ('at = "20m"', 'at = "3m"'),
        ('for = "5m"', 'for = "2m"'),
    ):
        if old not in text:
            raise SystemExit(f"memory_growth: cannot find {old!r} in {SCENARIO}")
        text = text.replace(old, new, 1)
    out = workdir / f"busy-desk-{duration}.toml"
    out.write_text(text)
    return out


def snapshot_run(scenario: Path, out: Path) -> None:
    """In this process: run `scenario` and dump the live memory once it has drained, with its count of
    transactions beside it."""
    import cosigner_ha.cluster.runner as runner
    from cosigner_ha.cluster.scenario.errors import ScenarioError
    from cosigner_ha.cluster.scenario.loader import load_scenario

    drain = runner._drain

    async def drained(world: Any, end: float) -> None:
        await drain(world, end)
        gc.collect()
        tracemalloc.take_snapshot().dump(str(out))
        out.with_suffix(".count").write_text(str(len(world.saas.transactions)))

    runner._drain = drained
    try:
        loaded = load_scenario(scenario)
    except ScenarioError as exc:  # a duration that ends before the crash at 3 m (the shortest is 4 m)
        raise SystemExit(f"memory_growth: {exc}") from None
    tracemalloc.start(FRAMES)
    runner.run_scenario(loaded)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", default="10m")
    parser.add_argument("--long", default="40m")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--snapshot", nargs=2, metavar=("SCENARIO", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.snapshot:
        snapshot_run(Path(args.snapshot[0]), Path(args.snapshot[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        runs = []
        for duration in (args.short, args.long):
            out = workdir / f"{duration}.snapshot"
            runs.append(
                (
                    subprocess.Popen(
                        [sys.executable, __file__, "--snapshot", str(shortened(duration, workdir)), str(out)]
                    ),
                    out,
                )
            )
        if [process.wait() for process, _ in runs] != [0, 0]:  # both ended before the files go
            raise SystemExit("memory_growth: a run failed (see above)")
        (_, short), (_, long) = runs
        n_short = int(short.with_suffix(".count").read_text())
        n_long = int(long.with_suffix(".count").read_text())
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        before = tracemalloc.Snapshot.load(str(short)).filter_traces(ignore)
        after = tracemalloc.Snapshot.load(str(long)).filter_traces(ignore)
    extra = n_long - n_short
    stats = after.compare_to(before, "lineno")
    total = sum(s.size_diff for s in stats)
    print(f"{args.short}: {n_short:,} transactions, {args.long}: {n_long:,}")
    print(f"live memory grows {total / extra:,.0f} bytes a transaction; the top {args.top} lines:")
    root = str(HERE.parent) + "/"
    for s in stats[: args.top]:
        frame = s.traceback[0]
        print(
            f"{s.size_diff / extra:8.0f} B/tx {s.count_diff / extra:6.2f} objects/tx  {frame.filename.replace(root, '')}:{frame.lineno}"
        )


if __name__ == "__main__":
    main()
