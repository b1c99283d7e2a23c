"""The `cosigner-ha` command."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType


def build_parser() -> argparse.ArgumentParser:
    # the commands are imported here, not at the top: `main` handles a Ctrl-C during these (slow) imports
    from cosigner_ha.cluster import commands_analyze, commands_node, commands_run, commands_up
    from cosigner_ha.policy import commands as policy_commands
    from cosigner_ha.testing import commands as explore_commands

    parser = argparse.ArgumentParser(prog="cosigner-ha", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands_run.register(sub)
    commands_up.register(sub)
    policy_commands.register(sub)
    commands_analyze.register(sub)
    commands_node.register(sub)
    explore_commands.register(sub)
    return parser


EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM, as a shell reports them


class Terminated(BaseException):
    """SIGTERM outside any handler of Ctrl-C: raised in the main thread like KeyboardInterrupt, so that
    every `finally` runs and every temporary file and staged output is removed on the way out."""


_terminated = threading.Event()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Stop as Ctrl-C does: through the SIGINT handler in force (an event loop's, such as trio's, raises
    KeyboardInterrupt where it is safe to), remembering that it was SIGTERM for the exit status."""
    _terminated.set()
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)
        return
    raise Terminated


def _stopped_by(exc: BaseException) -> type[BaseException] | None:
    """KeyboardInterrupt or Terminated when `exc` is one, or carries one (an exception group, or an
    error raised while unwinding from it, as an event loop may)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, KeyboardInterrupt | Terminated):
            return type(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


def main(argv: list[str] | None = None) -> int:
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    args = argparse.Namespace(command=None)
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args)
    except BaseException as exc:
        stopped = _stopped_by(exc)
        if stopped is None:
            raise
        by_sigterm = stopped is Terminated or _terminated.is_set()
        words = (args.command, getattr(args, "policy_command", None))
        command = " ".join(["cosigner-ha", *filter(None, words)])
        print(
            f"interrupted: {command} stopped by {'SIGTERM' if by_sigterm else 'Ctrl-C'}",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if by_sigterm else EXIT_INTERRUPTED
    finally:
        _terminated.clear()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    from cosigner_ha.cluster import commands_analyze, commands_node, commands_run, commands_up
    from cosigner_ha.policy import commands as policy_commands
    from cosigner_ha.testing import commands as explore_commands

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
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
