"""The `cosigner-ha` command.

Ctrl-C and SIGTERM end any command the same way: the work stops where it is, temporary files and partial
outputs are removed on the way out (the atomic writers and output sets clean up on any exception), and one
line says what was interrupted; exit 130 for Ctrl-C, 143 for SIGTERM, never a traceback, also while the
commands are still being imported.

A bug in cosigner-ha (an exception no command turned into a message) ends the same way: outputs cleaned up,
a few lines saying what broke, that it is not the input's fault, and the file the traceback was written to
(exit 70); COSIGNER_HA_TRACEBACK=1 lets the exception through instead, for debugging.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Sequence
from types import FrameType

from .exits import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED

#: Each command's module (its `register(subparsers)` and `run(args)`), in the order `--help` lists them.
COMMANDS = {
    "run": "cosigner_ha.cluster.commands_run",
    "up": "cosigner_ha.cluster.commands_up",
    "policy": "cosigner_ha.policy.commands",
    "analyze": "cosigner_ha.cluster.commands_analyze",
    "keys": "cosigner_ha.cluster.commands_keys",
    "node": "cosigner_ha.cluster.commands_node",
    "callback": "cosigner_ha.cluster.commands_node",
    "saas": "cosigner_ha.cluster.runtime.saas_serve",
    "proxy": "cosigner_ha.cluster.runtime.proxy_serve",
    "owner": "cosigner_ha.cluster.runtime.owner_serve",
    "cloud": "cosigner_ha.cluster.runtime.cloud_serve",
    "explore": "cosigner_ha.testing.commands",
    "sweep": "cosigner_ha.testing.sweep_commands",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of the command `argv` names: a runtime launcher starts a dozen
    processes (`proxy serve`, `node start`...) and each would otherwise import every command's modules."""
    # the commands are imported here, not at the top: `main` handles a Ctrl-C during these (slow) imports
    named = COMMANDS.get(argv[0]) if argv else None
    modules = [named] if named is not None else list(dict.fromkeys(COMMANDS.values()))
    parser = argparse.ArgumentParser(prog="cosigner-ha", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in modules:
        importlib.import_module(module).register(sub)
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


#: How long after a swallowed stop it is delivered again: time for the callback that swallowed it to return.
REDELIVERY_DELAY = 0.01


def _redeliver_swallowed_stops(
    previous: Callable[[sys.UnraisableHookArgs], object],
) -> Callable[[sys.UnraisableHookArgs], object]:
    """An unraisable-exception hook for a stop raised where Python can only print it: a signal handler runs
    wherever the main thread is, also inside a `__del__` or a weakref callback (the import system's module
    locks have one), and a KeyboardInterrupt or Terminated raised there is printed and dropped, so the
    command would run on to the end. The signal is sent again from a thread a moment later; its handler
    then runs once the main thread has left the callback."""

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        exc = unraisable.exc_value
        if isinstance(exc, Terminated | KeyboardInterrupt):
            signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
            timer = threading.Timer(REDELIVERY_DELAY, os.kill, (os.getpid(), signum))
            timer.daemon = True
            timer.start()
            return
        previous(unraisable)

    return hook


def _forget_escaped_interrupt() -> None:
    """CPython marks a KeyboardInterrupt that escaped an `exec` of source text as unhandled even when a caller
    catches it, and `python -m` then kills itself by SIGINT after its exit code is set (exit -2, not 130).
    Ctrl-C during an import lands there often: dataclasses and namedtuple build their methods with `exec`.
    Every run of source text clears the mark first, so running one trivial piece of it clears it."""
    exec("pass", {})  # constant source text, run for its side effect on the interpreter


def main(argv: list[str] | None = None) -> int:
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    previous_hook = sys.unraisablehook
    if main_thread:
        sys.unraisablehook = _redeliver_swallowed_stops(previous_hook)
    args = argparse.Namespace(command=None)
    try:
        args = build_parser(sys.argv[1:] if argv is None else argv).parse_args(argv)
        return _dispatch(args)
    except BaseException as exc:
        stopped = _stopped_by(exc)
        if stopped is None:
            if not isinstance(exc, Exception) or os.environ.get("COSIGNER_HA_TRACEBACK"):
                raise  # SystemExit (argparse's usage errors, --help) and the like, as they are
            return _internal_error(args, exc)
        by_sigterm = stopped is Terminated or _terminated.is_set()
        # Decided to stop: a second Ctrl-C or SIGTERM while the interpreter exits would kill it by the
        # signal (exit -2) after the line below was printed, so both are ignored from here on.
        if main_thread:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _forget_escaped_interrupt()
        command = _command_line(args)
        print(
            f"interrupted by {'SIGTERM' if by_sigterm else 'Ctrl-C'}: {command} stopped; nothing was written",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if by_sigterm else EXIT_INTERRUPTED
    finally:
        _terminated.clear()
        if main_thread:
            sys.unraisablehook = previous_hook
            if signal.getsignal(signal.SIGTERM) is _on_sigterm:
                signal.signal(signal.SIGTERM, previous)


def _command_line(args: argparse.Namespace) -> str:
    """The command as the user named it, for the one line that ends it (no command: parsing never got there)."""
    return f"cosigner-ha {args.command}" if args.command else "cosigner-ha"


def _internal_error(args: argparse.Namespace, exc: Exception) -> int:
    """A bug reached the top: say so in a few lines, and keep the traceback in a file for the report."""
    command = _command_line(args)
    details = "".join(traceback.format_exception(exc))
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="cosigner-ha-crash-", suffix=".txt", delete=False, encoding="utf-8"
        ) as out:
            out.write(f"{command}\nargv: {sys.argv!r}\n\n{details}")
        where = f"the traceback is in {out.name}"
    except OSError as write_error:
        where = f"the traceback could not be written ({write_error}); COSIGNER_HA_TRACEBACK=1 shows it"
    print(
        f"internal error: {command} failed: {type(exc).__name__}: {exc}\n"
        f"This is a bug in cosigner-ha, not in what it was given; {where}. Please report it with the command "
        "and its input files.",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace) -> int:
    code: int = importlib.import_module(COMMANDS[args.command]).run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    from cosigner_ha.cluster.runtime.parent_death import die_with_launcher

    die_with_launcher()  # a runtime launcher's child: SIGKILLed with it (before the slow imports)
    sys.exit(main())
