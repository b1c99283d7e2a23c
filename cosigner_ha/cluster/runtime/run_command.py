"""`cosigner-ha run SCENARIO --runtime`: the command's edges around a `Drill` (launcher.py).

Inputs are checked before any process starts (the scenario, the outputs, a fault the runtime cannot
play: exit 2 naming its key path). Outputs are staged and appear all together after the run, as in
simulation. Ctrl-C exits 130 and SIGTERM 143, after every process group is stopped and a temporary work
directory removed; a process that dies unexpectedly is reported with its exit status and its log's last
lines (exit 2 while the cluster is being set up, 1 during the run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path

from rich.console import Console

from cosigner_ha.cluster import bundled, limits
from cosigner_ha.cluster.bundled import missing
from cosigner_ha.cluster.report import render_summary, write_html
from cosigner_ha.cluster.report.model import report_json_text
from cosigner_ha.cluster.run_options import (
    BAD_INPUT_ERRORS,
    InputError,
    check_runtime_options,
    check_seed,
    scenario_inputs,
)
from cosigner_ha.cluster.runner import SetupError
from cosigner_ha.cluster.runtime.fault_play import approximations, refusals
from cosigner_ha.cluster.runtime.launcher import Drill
from cosigner_ha.cluster.runtime.processes import ProcessFailed
from cosigner_ha.cluster.scenario.model import Scenario
from cosigner_ha.cluster.world import WorldError, check_fault_policies, workspace_spec
from cosigner_ha.env.files import OutputSet, check_outputs, write_text_atomic
from cosigner_ha.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from cosigner_ha.saas_sim import Workspace
from cosigner_ha.saas_sim.errors import SaasError


class RuntimeRefused(ValueError):
    """The scenario asks for something the runtime cannot play yet (every reason, one per line)."""


#: This command's bad inputs: every scenario-running command's, and its own.
_BAD_INPUT: tuple[type[Exception], ...] = (*BAD_INPUT_ERRORS, RuntimeRefused)


def _check_fault_policies(scenario: Scenario) -> None:
    """A `policy` fault the SaaS would refuse is refused before the run, as in simulation (`build_world`)."""
    try:
        workspace = Workspace.from_spec(workspace_spec(scenario), new_id=lambda: str(uuid.uuid4()))
    except SaasError as exc:
        raise WorldError(f"[workspace]: {exc.message}") from None
    check_fault_policies(scenario, workspace)


def run_runtime(args: argparse.Namespace, path: Path, console: Console) -> int:
    with OutputSet() as staged:
        try:
            check_seed(args.seed)
            check_runtime_options(args)
            if not path.exists():
                raise InputError(missing(path))
            scenario = bundled.load(path)
            limits.check_limits(scenario, limits.limits_of(args), origin=str(path))
            check_outputs(
                [("--json", args.json), ("--trace", args.trace), ("--html", args.html)],
                scenario_inputs(path, scenario),
            )
            reasons = refusals(scenario)
            if reasons:
                raise RuntimeRefused(
                    f"{path}: the runtime cannot play this scenario as written:\n  " + "\n  ".join(reasons)
                )
            _check_fault_policies(scenario)
        except _BAD_INPUT as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        for note in approximations(scenario, args.time_scale or 1.0):
            console.print(f"[yellow]runtime:[/yellow] {note}")
        keep = args.workdir is not None
        workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="cosigner-ha-run-"))
        workdir.mkdir(parents=True, exist_ok=True)
        drill = Drill(
            path,
            scenario,
            workdir,
            time_scale=args.time_scale or 1.0,
            seed=args.seed,
            loop=args.loop or "trio",
            keep=keep,
            console=console,
        )
        try:  # Ctrl-C and SIGTERM go through: the block stops everything, the CLI exits 130 or 143
            with drill:
                result = drill.run()
        except (ProcessFailed, SetupError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED if drill.started else EXIT_BAD_INPUT
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C, SIGTERM: the CLI says which and exits 130/143
                where = f"kept in {workdir}" if keep else "removed"
                print(
                    f"stopped: every process of the run is down; its work directory {where}", file=sys.stderr
                )
            raise
        report = result.report
        render_summary(report, console)
        if args.trace is not None:
            write_text_atomic(staged.path(args.trace) or args.trace, result.trace)
        if args.json is not None:
            write_text_atomic(staged.path(args.json) or args.json, report_json_text(report))
        if args.html is not None:
            write_html(report, staged.path(args.html) or args.html)
        staged.commit()
    if keep:
        console.print(f"[dim]every process's files kept in {workdir}[/dim]")
    for option, label in ((args.json, "report"), (args.trace, "trace"), (args.html, "page")):
        if option is not None:
            console.print(f"[dim]{label} written to {option}[/dim]")
    return EXIT_OK if report.passed else EXIT_FAILED
