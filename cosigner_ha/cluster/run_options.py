"""What `cosigner-ha run` checks of its command line before it runs anything, in simulation or in the
runtime (`commands_run`, `runtime/run_command`), and its exit statuses."""

from __future__ import annotations

import argparse
from pathlib import Path

from cosigner_ha.cluster import limits
from cosigner_ha.cluster.runner import SetupError
from cosigner_ha.cluster.scenario import ScenarioError
from cosigner_ha.cluster.scenario.loader_base import SEED_MAX
from cosigner_ha.cluster.scenario.model import Scenario
from cosigner_ha.cluster.world import WorldError
from cosigner_ha.env.files import OutputPathError
from cosigner_ha.inputs import shorten
from cosigner_ha.policy import PolicyError


class InputError(ValueError):
    """A command-line argument that cannot work (a missing file, an output folder that does not exist)."""


#: What stops a command that runs a scenario (`run`, `run --runtime`, `explore`, `sweep`) before it
#: starts: each is reported as a bad input (exit 2, what and where on standard error), never a traceback.
BAD_INPUT_ERRORS: tuple[type[Exception], ...] = (
    InputError,
    OutputPathError,
    ScenarioError,
    PolicyError,
    WorldError,
    SetupError,
    limits.LimitError,
)


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


def check_runtime_options(args: argparse.Namespace) -> None:
    """`--time-scale`, `--workdir` and `--loop` belong to `--runtime`; a time scale is above zero; a work
    directory given is new or empty (a node's home from another run would hold its old pairings)."""
    runtime_only = (("--time-scale", args.time_scale), ("--workdir", args.workdir), ("--loop", args.loop))
    if not args.runtime:
        for option, value in runtime_only:
            if value is not None:
                raise InputError(f"{option} applies to a runtime run only: add --runtime")
        return
    if args.time_scale is not None and not (args.time_scale > 0 and args.time_scale < float("inf")):
        raise InputError(f"--time-scale {args.time_scale:g}: expected a number above 0, such as 60")
    workdir: Path | None = args.workdir
    if workdir is not None:
        if workdir.exists() and not workdir.is_dir():
            raise InputError(f"--workdir {workdir}: not a directory")
        if workdir.is_dir() and any(workdir.iterdir()):
            raise InputError(f"--workdir {workdir}: not empty; give a new or empty directory")
        if not workdir.parent.is_dir():
            raise InputError(f"--workdir {workdir}: the folder {workdir.parent} does not exist")
