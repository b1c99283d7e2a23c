"""The `cosigner-ha` command.

Ctrl-C and SIGTERM end any command the same way: the work stops where it is, temporary files and partial
outputs are removed on the way out (the atomic writers clean up on any exception), and one line says what
was interrupted; exit 130 for Ctrl-C, 143 for SIGTERM, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

from cosigner_ha.cluster import commands_analyze, commands_node, commands_run, commands_up
from cosigner_ha.policy import commands as policy_commands
from cosigner_ha.testing import commands as explore_commands
from cosigner_ha.testing import sweep_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cosigner-ha", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands_run.register(sub)
    commands_up.register(sub)
    policy_commands.register(sub)
    commands_analyze.register(sub)
    commands_node.register(sub)
    explore_commands.register(sub)
    sweep_commands.register(sub)
    return parser


EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[list[bool]]:
    """SIGTERM delivered as SIGINT (so trio and the writers unwind as on Ctrl-C), remembered in the flag."""
    terminated = [False]

    def on_term(signum: int, frame: FrameType | None) -> None:
        terminated[0] = True
        os.kill(os.getpid(), signal.SIGINT)

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (a test runner's worker): nothing to install
        yield terminated
        return
    try:
        yield terminated
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with _sigterm_as_interrupt() as terminated:
        try:
            return _dispatch(args)
        except BaseException as exc:
            # trio reports Ctrl-C inside a task group as a group holding the KeyboardInterrupt
            interrupted = isinstance(exc, KeyboardInterrupt) or (
                isinstance(exc, BaseExceptionGroup) and exc.subgroup(KeyboardInterrupt) is not None
            )
            if not interrupted:
                raise
            what = "SIGTERM" if terminated[0] else "Ctrl-C"
            print(
                f"interrupted by {what}: cosigner-ha {args.command} stopped; nothing was written",
                file=sys.stderr,
            )
            return EXIT_TERMINATED if terminated[0] else EXIT_INTERRUPTED


def _dispatch(args: argparse.Namespace) -> int:
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
    if args.command == "explore":
        return explore_commands.run(args)
    if args.command == "sweep":
        return sweep_commands.run(args)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
