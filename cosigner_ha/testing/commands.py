"""`cosigner-ha explore SCENARIO --budget N [--out FILE] [--seed S] [--max-faults K] [--shrink-budget M]
[--check all|safety]`.

`--check safety` counts only a broken safety invariant (double signing, a signature against policy or
without the callback's APPROVE or the node's share, nonce reuse, secrets opened on a tampered image, an
internal error) as a counterexample: a scenario whose liveness expectations the added faults break anyway
is then still searched for what must never happen.

Exit status: 0 no counterexample within the budget (nothing written); 1 a counterexample was found,
shrunk, written and checked to replay; 2 the input was invalid (the scenario, an option, the output
folder), with the reason on standard error and nothing written.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cosigner_ha.cluster import limits
from cosigner_ha.cluster.run_options import BAD_INPUT_ERRORS, InputError
from cosigner_ha.cluster.scenario import load_scenario
from cosigner_ha.env.files import check_outputs
from cosigner_ha.exits import EXIT_BAD_INPUT
from cosigner_ha.exits import EXIT_FAILED as EXIT_FOUND
from cosigner_ha.exits import EXIT_OK as EXIT_NOTHING_FOUND
from cosigner_ha.testing import explorer
from cosigner_ha.testing.engine import ENGINES, EngineError, open_engine
from cosigner_ha.testing.explorer import CHECKS, DEFAULT_SHRINK_BUDGET, Exploration, describe_fault

#: This command's bad inputs: every scenario-running command's, and its own.
_BAD_INPUT: tuple[type[Exception], ...] = (*BAD_INPUT_ERRORS, EngineError)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "explore",
        help="search fault schedules for one that breaks a scenario; write the shrunk counterexample",
    )
    p.add_argument("scenario", metavar="SCENARIO", type=Path, help="the scenario file to explore")
    p.add_argument("--budget", type=int, required=True, metavar="N", help="fault schedules to try")
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write the counterexample (default: SCENARIO's name + .counterexample.toml, here)",
    )
    p.add_argument("--seed", type=int, metavar="S", help="seed of the search (default: the scenario's seed)")
    p.add_argument(
        "--max-faults", type=int, default=3, metavar="K", help="faults per schedule, at most (default 3)"
    )
    p.add_argument(
        "--shrink-budget",
        type=int,
        default=DEFAULT_SHRINK_BUDGET,
        metavar="M",
        help=f"simulations spent shrinking a counterexample, at most (default {DEFAULT_SHRINK_BUDGET})",
    )
    p.add_argument(
        "--check",
        choices=CHECKS,
        default="all",
        help="what counts as breaking the scenario: every invariant and expectation (all, the default), "
        "or the safety invariants only (safety), so that a broken liveness expectation hides nothing",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="dask",
        help="where schedules are simulated: dask (in parallel, the default) or local (this process); "
        "the same seed and budget find the same counterexample on either",
    )
    p.add_argument("--workers", type=int, metavar="N", help="worker processes of the local Dask cluster")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use a running Dask cluster")
    p.add_argument(
        "--all-failures",
        action="store_true",
        help="go on through the whole budget after the first failure and list each distinct one",
    )
    limits.add_flag(p)


def _check(args: argparse.Namespace) -> Path:
    if args.budget < 1:
        raise InputError(f"--budget must be at least 1, got {args.budget}")
    if args.max_faults < 1:
        raise InputError(f"--max-faults must be at least 1, got {args.max_faults}")
    if args.shrink_budget < 0:
        raise InputError(f"--shrink-budget cannot be negative, got {args.shrink_budget}")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise InputError(f"--seed must be between 0 and 2^63-1, got {args.seed}")
    if not args.scenario.exists():
        raise InputError(f"{args.scenario}: no such scenario file")
    out: Path = args.out or Path(f"{args.scenario.stem}.counterexample.toml")
    check_outputs([("--out", out)], [args.scenario])
    return out


@contextlib.contextmanager
def _progress_bar(console: Console, budget: int, shrink_budget: int) -> Iterator[Any]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    search = progress.add_task("searching", total=budget, best="no counterexample yet")
    shrink = progress.add_task("shrinking", total=shrink_budget, best="", visible=False)

    def update(p: explorer.Progress) -> None:
        if not console.is_terminal:  # a log, not a bar: one line per schedule simulated
            done = {"search": f" {p.examples}/{budget}", "shrink": f" {p.shrink_runs}/{shrink_budget}"}.get(
                p.phase, ""
            )
            tried = "; ".join(describe_fault(f) for f in p.candidate) or "no added fault"
            verdict = f"breaks {', '.join(p.candidate_broken)}" if p.candidate_broken else "holds"
            console.print(
                f"{p.phase}{done}: {tried} -> {verdict}", markup=False, highlight=False, soft_wrap=True
            )
            return
        best = "no counterexample yet"
        if p.best is not None:
            faults = "; ".join(describe_fault(f) for f in p.best) or "no added fault"
            best = f"best: {faults} -> breaks {', '.join(p.broken)}"
        progress.update(search, completed=p.examples, best=best if p.phase == "search" else "")
        if p.phase == "shrink":
            progress.update(shrink, completed=p.shrink_runs, best=best, visible=True)

    with progress:
        yield update


def _summary(console: Console, result: Exploration, path: Path | None, source: Path) -> None:
    table = Table(title="cosigner-ha explore", show_header=False, title_justify="left")
    table.add_row("scenario", f"{source} ({result.base.name}, simulation seed {result.base.seed})")
    table.add_row("search", f"seed {result.search_seed}, budget {result.budget}")
    table.add_row(
        "simulations",
        f"{result.examples} searching, {result.shrink_runs} shrinking, {result.prune_runs} pruning, "
        f"{result.wall_seconds:.1f} s",
    )
    if not result.found:
        console.print(table)
        console.print(
            f"[bold green]No counterexample[/bold green]: none of the {result.examples} fault schedule(s) "
            f"tried broke {'a safety invariant' if result.check == 'safety' else 'an invariant or expectation'} "
            f"of {source}. That is no proof: a larger --budget or "
            "another --seed searches further."
        )
        return
    added = "\n".join(describe_fault(f) for f in result.added) or "none: the scenario fails as written"
    table.add_row("added faults", added)
    table.add_row("breaks", "\n".join(f"{name}: {detail}" for name, detail in result.broken.items()))
    table.add_row("written to", str(path))
    if result.distinct:
        table.add_row(
            "distinct failures",
            "\n".join(
                f"{', '.join(broken)}: {'; '.join(describe_fault(f) for f in extra) or 'no added fault'}"
                for broken, extra in result.distinct
            ),
        )
    console.print(table)
    console.print(f"[bold red]Counterexample[/bold red] replays with: cosigner-ha run {path}")


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    try:
        out = _check(args)
        scenario = load_scenario(args.scenario)
        limits.check_limits(scenario, limits.limits_of(args), origin=str(args.scenario))
        if args.workers is not None and (args.workers < 1 or args.engine != "dask"):
            raise InputError(f"--workers must be at least 1 and needs --engine dask, got {args.workers}")
        with (
            _progress_bar(console, args.budget, args.shrink_budget) as update,
            open_engine(args.engine, workers=args.workers, scheduler=args.scheduler) as engine,
        ):
            result = explorer.explore(
                scenario,
                budget=args.budget,
                seed=args.seed,
                max_faults=args.max_faults,
                shrink_budget=args.shrink_budget,
                on_progress=update,
                check=args.check,
                engine=engine,
                collect=args.all_failures,
            )
        path = explorer.write_counterexample(result, out) if result.found else None
    except _BAD_INPUT as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    _summary(console, result, path, args.scenario)
    return EXIT_FOUND if result.found else EXIT_NOTHING_FOUND
