"""The `cosigner-ha` command.

Ctrl-C and SIGTERM end any command the same way: the work stops where it is, temporary files and partial
outputs are removed on the way out (the atomic writers and output sets clean up on any exception), and one
line says what was interrupted; exit 130 for Ctrl-C, 143 for SIGTERM, never a traceback, also while the
commands are still being imported.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .exits import EXIT_INTERRUPTED, EXIT_TERMINATED


def build_parser() -> argparse.ArgumentParser:
    # the commands are imported here, not at the top: `main` handles a Ctrl-C during these (slow) imports
    from cosigner_ha.cluster import commands_analyze, commands_keys, commands_node, commands_run, commands_up
    from cosigner_ha.cluster.runtime import cloud_serve, owner_serve, proxy_serve, saas_serve
    from cosigner_ha.policy import commands as policy_commands
    from cosigner_ha.testing import commands as explore_commands
    from cosigner_ha.testing import sweep_commands

    parser = argparse.ArgumentParser(prog="cosigner-ha", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands_run.register(sub)
    commands_up.register(sub)
    policy_commands.register(sub)
    commands_analyze.register(sub)
    commands_keys.register(sub)
    commands_node.register(sub)
    saas_serve.register(sub)
    proxy_serve.register(sub)
    owner_serve.register(sub)
    cloud_serve.register(sub)
    explore_commands.register(sub)
    sweep_commands.register(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM where no event loop handles Ctrl-C: raised in the main thread like KeyboardInterrupt, so
    that every `finally` runs and every temporary file and staged output is removed on the way out."""


_terminated = threading.Event()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Stop as Ctrl-C does, synchronously: through the SIGINT handler in force when an event loop (trio)
    installed one (it raises KeyboardInterrupt where that is safe), else by raising Terminated here.
    Re-sending SIGINT to ourselves instead could land after the command's handler has returned."""
    _terminated.set()
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)
        return
    raise Terminated


def _stopped_by(exc: BaseException) -> type[BaseException] | None:
    """KeyboardInterrupt or Terminated when `exc` is one or carries one (trio reports Ctrl-C inside a task
    group as a group holding it; a loop may raise another error while unwinding from it)."""
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
        # Decided to stop: a second Ctrl-C or SIGTERM while the interpreter exits would kill it by the
        # signal (exit -2) after the line below was printed, so both are ignored from here on.
        if main_thread:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        command = " ".join(["cosigner-ha", *filter(None, (args.command,))])
        print(
            f"interrupted by {'SIGTERM' if by_sigterm else 'Ctrl-C'}: {command} stopped; nothing was written",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if by_sigterm else EXIT_INTERRUPTED
    finally:
        _terminated.clear()
        if main_thread and signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    from cosigner_ha.cluster import commands_analyze, commands_keys, commands_node, commands_run, commands_up
    from cosigner_ha.cluster.runtime import cloud_serve, owner_serve, proxy_serve, saas_serve
    from cosigner_ha.policy import commands as policy_commands
    from cosigner_ha.testing import commands as explore_commands
    from cosigner_ha.testing import sweep_commands

    if args.command == "run":
        return commands_run.run(args)
    if args.command == "keys":
        return commands_keys.run(args)
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
    if args.command == "proxy":
        return proxy_serve.run(args)
    if args.command == "owner":
        return owner_serve.run(args)
    if args.command == "cloud":
        return cloud_serve.run(args)
    if args.command == "explore":
        return explore_commands.run(args)
    if args.command == "sweep":
        return sweep_commands.run(args)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
