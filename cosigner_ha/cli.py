"""The `cosigner-ha` command."""

from __future__ import annotations

import argparse
import sys

from cosigner_ha.cluster import commands_analyze, commands_node, commands_run, commands_up
from cosigner_ha.cluster.runtime import saas_serve
from cosigner_ha.policy import commands as policy_commands
from cosigner_ha.testing import commands as explore_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cosigner-ha", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands_run.register(sub)
    commands_up.register(sub)
    policy_commands.register(sub)
    commands_analyze.register(sub)
    commands_node.register(sub)
    saas_serve.register(sub)
    explore_commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return commands_run.run(args)
    if args.command == "up":
        return commands_up.run(args)
    if args.command == "policy":
        return policy_commands.run(args)
    if args.command == "analyze":
        return commands_analyze.run(args)
    if args.command in ("node", "callback"):
        return commands_node.run(args)
    if args.command == "saas":
        return saas_serve.run(args)
    if args.command == "explore":
        return explore_commands.run(args)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
