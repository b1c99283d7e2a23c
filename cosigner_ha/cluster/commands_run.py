"""`cosigner-ha run [SCENARIO] [--seed N] [--json FILE] [--trace FILE] [--html FILE] [--no-limits]
[--runtime [--time-scale N] [--workdir DIR] [--loop trio|asyncio]]`.

Without `--runtime` the scenario runs in simulation; with it, on real processes (`runtime/launcher.py`),
reported the same way. Exit status: 0 every invariant and expectation held; 1 one did not (or, in the
runtime, a process died unexpectedly); 2 the input was invalid (the scenario, its policy, a callback
import, a fault the runtime cannot play, a run beyond the work limits of cluster/limits.py) or the runtime
could not be set up, with the reason on standard error and nothing written; 130 Ctrl-C, 143 SIGTERM
(runtime: every process stopped).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from cosigner_ha.cluster import bundled, limits
from cosigner_ha.cluster.bundled import DEFAULT_SCENARIO, find_scenario, missing
from cosigner_ha.cluster.report import render_summary, write_html, write_json
from cosigner_ha.cluster.run_options import (
    BAD_INPUT_ERRORS,
    InputError,
    check_runtime_options,
    check_seed,
    scenario_inputs,
)
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.env.files import OutputSet, check_outputs
from cosigner_ha.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="run a scenario in simulation and report on it")
    p.add_argument(
        "scenario",
        metavar="SCENARIO",
        nargs="?",
        type=Path,
        help=f"a scenario file or the name of a bundled one (default: the bundled {DEFAULT_SCENARIO.stem})",
    )
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    p.add_argument("--trace", type=Path, metavar="FILE", help="write every event as JSON Lines")
    p.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained page with the timeline")
    p.add_argument(
        "--runtime",
        action="store_true",
        help="run on real processes (SaaS, nodes, link proxies) over TLS, in real time",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        metavar="N",
        help="runtime: divide every duration of the scenario by N (default 1: real time)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="runtime: keep every process's files here (default: a temp dir, removed)",
    )
    p.add_argument(
        "--loop", choices=("trio", "asyncio"), help="runtime: the processes' event loop (default trio)"
    )
    limits.add_flag(p)


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    path: Path = find_scenario(args.scenario) if args.scenario is not None else DEFAULT_SCENARIO
    if getattr(args, "runtime", False):
        from cosigner_ha.cluster.runtime.run_command import run_runtime

        return run_runtime(args, path, console)
    # all or nothing: every output is staged beside its target and renamed into place after the run
    with OutputSet() as staged:
        try:
            check_seed(args.seed)
            if hasattr(args, "runtime"):  # a caller's own namespace may have only the simulation's options
                check_runtime_options(args)
            if not path.exists():
                raise InputError(missing(path))
            scenario = bundled.load(path)
            limits.check_limits(scenario, limits.limits_of(args), origin=str(path))
            outputs = [("--json", args.json), ("--trace", args.trace), ("--html", args.html)]
            check_outputs(outputs, scenario_inputs(path, scenario))
            trace = staged.path(args.trace)
            result = run_scenario(scenario, seed=args.seed, trace_path=trace, console=console)
        except BAD_INPUT_ERRORS as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        report = result.report
        render_summary(report, console)
        if args.json is not None:
            write_json(report, staged.path(args.json) or args.json)
        if args.html is not None:
            write_html(report, staged.path(args.html) or args.html)
        staged.commit()
    for option, label in ((args.json, "report"), (args.trace, "trace"), (args.html, "page")):
        if option is not None:
            console.print(f"[dim]{label} written to {option}[/dim]")
    return EXIT_OK if report.passed else EXIT_FAILED
