"""`cosigner-ha sweep SCENARIO --seeds 1..1000 [--engine dask|local] [--workers N] [--scheduler ADDR]
[--json FILE] [--html FILE]`.

Exit status: 0 every seed held every invariant and expectation; 1 at least one seed did not (listed with
the command that replays it); 2 the input was invalid (the scenario, `--seeds`, an option, an output path)
or the engine could not start, with the reason on standard error and nothing written. Ctrl-C stops the
workers, writes nothing and exits 130.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cosigner_ha.cluster import bundled, limits
from cosigner_ha.cluster.bundled import find_scenario, missing
from cosigner_ha.cluster.run_options import BAD_INPUT_ERRORS, InputError
from cosigner_ha.env.files import check_outputs
from cosigner_ha.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from cosigner_ha.testing import sweep_report
from cosigner_ha.testing.engine import ENGINES, EngineError, open_engine
from cosigner_ha.testing.sweep import SeedResult, SeedsError, parse_seeds, sweep

#: This command's bad inputs: every scenario-running command's, and its own.
_BAD_INPUT: tuple[type[Exception], ...] = (*BAD_INPUT_ERRORS, SeedsError, EngineError)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sweep", help="run a scenario once per seed (on Dask), with distributions and the failing seeds"
    )
    p.add_argument("scenario", metavar="SCENARIO", type=Path, help="a scenario file or a bundled one's name")
    p.add_argument("--seeds", required=True, metavar="A..B", help="seeds: a range 1..1000, a seed, or a list")
    p.add_argument("--engine", choices=ENGINES, default="dask", help="dask (default) or local (this process)")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes of the local Dask cluster")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use a running Dask cluster instead")
    p.add_argument("--json", type=Path, metavar="FILE", help="write per-seed results and the summary as JSON")
    p.add_argument("--html", type=Path, metavar="FILE", help="write a page with the distributions drawn")
    limits.add_flag(p)


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    try:
        seeds = parse_seeds(args.seeds)
        if args.workers is not None and args.workers < 1:
            raise InputError(f"--workers must be at least 1, got {args.workers}")
        if args.workers is not None and args.engine == "local":
            raise InputError("--workers needs --engine dask")
        path = find_scenario(args.scenario)
        if not path.exists():
            raise InputError(missing(path))
        check_outputs([("--json", args.json), ("--html", args.html)], [path])
        scenario = bundled.load(path)
        limits.check_limits(scenario, limits.limits_of(args), origin=str(path))
        progress = Progress(
            TextColumn("[bold]seeds"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[passed]} passed[/green] [red]{task.fields[failed]} failed[/red]"),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        counts = {"passed": 0, "failed": 0}
        with progress, open_engine(args.engine, workers=args.workers, scheduler=args.scheduler) as engine:
            task = progress.add_task("seeds", total=len(seeds), passed=0, failed=0)

            def seen(r: SeedResult) -> None:
                counts["passed" if r.passed else "failed"] += 1
                progress.update(task, advance=1, passed=counts["passed"], failed=counts["failed"])

            result = sweep(scenario, seeds, engine, scenario_path=str(args.scenario), on_result=seen)
    except _BAD_INPUT as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: the sweep was stopped; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    sweep_report.render_terminal(result, console)
    if args.json is not None:
        sweep_report.write_json(result, args.json)
        console.print(f"[dim]results written to {args.json}[/dim]")
    if args.html is not None:
        sweep_report.write_html(result, args.html)
        console.print(f"[dim]page written to {args.html}[/dim]")
    return EXIT_OK if not result.failed else EXIT_FAILED
