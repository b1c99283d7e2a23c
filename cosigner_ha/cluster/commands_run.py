"""`cosigner-ha run [SCENARIO] [--seed N] [--json FILE] [--trace FILE] [--html FILE]`.

Exit status: 0 every invariant and expectation held; 1 one did not; 2 the input was invalid (the scenario,
its policy, a callback import), with the reason on standard error and nothing written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from cosigner_ha.cluster import bundled
from cosigner_ha.cluster.bundled import DEFAULT_SCENARIO, find_scenario, missing
from cosigner_ha.cluster.report import render_summary, write_html, write_json
from cosigner_ha.cluster.runner import SetupError, run_scenario
from cosigner_ha.cluster.scenario import ScenarioError
from cosigner_ha.cluster.scenario.loader_base import SEED_MAX
from cosigner_ha.cluster.scenario.model import Scenario
from cosigner_ha.cluster.world import WorldError
from cosigner_ha.env.files import OutputPathError, OutputSet, check_outputs
from cosigner_ha.inputs import shorten
from cosigner_ha.policy import PolicyError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


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


class InputError(ValueError):
    """A command-line argument that cannot work (a missing file, an output folder that does not exist)."""


def check_seed(seed: int | None, option: str = "--seed") -> None:
    """A seed given on the command line is held to the file's rule for `seed`."""
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise InputError(f"{option} must be between 0 and 2^63-1 (as the file's seed), got {shorten(seed)}")


def scenario_inputs(path: Path, scenario: Scenario) -> list[Path]:
    """The files a scenario reads (itself, a Fireblocks policy export): never an output path."""
    inputs = [path]
    for tenant in scenario.tenants():
        policy_path = getattr(tenant.policy, "path", None)
        if isinstance(policy_path, Path):
            inputs.append(policy_path)
    return inputs


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    path: Path = find_scenario(args.scenario) if args.scenario is not None else DEFAULT_SCENARIO
    # all or nothing: every output is staged beside its target and renamed into place after the run
    with OutputSet() as staged:
        try:
            check_seed(args.seed)
            if not path.exists():
                raise InputError(missing(path))
            scenario = bundled.load(path)
            outputs = [("--json", args.json), ("--trace", args.trace), ("--html", args.html)]
            check_outputs(outputs, scenario_inputs(path, scenario))
            trace = staged.path(args.trace)
            result = run_scenario(scenario, seed=args.seed, trace_path=trace, console=console)
        except (InputError, OutputPathError, ScenarioError, PolicyError, WorldError, SetupError) as exc:
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
