"""`cosigner-ha keys SCENARIO --out DIR [--seed N]`: each node's callback public key, written before a run.

A callback handler verifies the JWTs a co-signer sends it with the co-signer's public key (in production,
what `print-public-key` shows). This writes `DIR/<node>-cosigner-public.pem` for every node of the scenario,
as a run with the same seed makes them: the run's own set-up (building the world and pairing every node) is
simulated, not its workloads or faults. Exit 0 written; 2 the scenario or `--out` cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cosigner_ha.cluster import bundled
from cosigner_ha.cluster.bundled import find_scenario, missing
from cosigner_ha.cluster.runner import SetupError, node_callback_keys
from cosigner_ha.cluster.scenario import ScenarioError
from cosigner_ha.cluster.world import WorldError
from cosigner_ha.env.files import OutputPathError, check_outputs, write_text_atomic
from cosigner_ha.exits import EXIT_BAD_INPUT, EXIT_OK
from cosigner_ha.policy import PolicyError

SUFFIX = "-cosigner-public.pem"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("keys", help="write each node's callback public key (PEM) before a run")
    p.add_argument("scenario", metavar="SCENARIO", type=Path, help="a scenario file or a bundled one's name")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder to write the keys into")
    p.add_argument("--seed", type=int, help="the seed of the run the keys are for (default: the scenario's)")


def run(args: argparse.Namespace) -> int:
    try:
        path = find_scenario(args.scenario)
        if not path.exists():
            raise OutputPathError(missing(path))
        if not args.out.is_dir():
            raise OutputPathError(f"--out {args.out}: not a folder; expected an existing folder for the keys")
        if args.seed is not None and not 0 <= args.seed < 2**63:
            raise OutputPathError(f"--seed must be between 0 and 2^63-1, got {args.seed}")
        scenario = bundled.load(path)
        targets = {node.name: args.out / f"{node.name}{SUFFIX}" for node in scenario.nodes}
        check_outputs([(f"key of {name}", target) for name, target in targets.items()], [path])
        keys = node_callback_keys(scenario, seed=args.seed)
    except (OSError, OutputPathError, ScenarioError, PolicyError, WorldError, SetupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for name, target in targets.items():
        write_text_atomic(target, keys[name])
        print(target)
    return EXIT_OK
