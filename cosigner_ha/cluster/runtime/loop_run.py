"""The synchronous launcher's way onto an event loop: start-up, pairing and waits run in anyio task groups
inside `anyio.run`, while the launcher itself (its agenda, Ctrl-C and SIGTERM handling) stays synchronous.

A signal must not interrupt the loop at an arbitrary point: the CLI's SIGTERM handler raises where it
lands (when no loop's SIGINT handler is in force, as in a shell's background job, where SIGINT is ignored),
which would abandon the loop half-way with its tasks, sockets and child-waiting code unfinished. So while
the loop runs, SIGINT and SIGTERM (those not ignored) are taken by the loop: the work is cancelled, the loop
ends cleanly, and the signal is raised again once it is over, where the launcher's handlers see it as they
would anywhere else (KeyboardInterrupt, the CLI's `Terminated`), and the `with` blocks stop every process.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from cosigner_ha.cluster.grouped import first_of

T = TypeVar("T")
#: What a person (Ctrl-C) or a supervisor (SIGTERM) sends to stop the launcher.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_on_loop(
    work: Callable[..., Awaitable[T]], *args: Any, backend: str, errors: tuple[type[Exception], ...] = ()
) -> T:
    """`work(*args)` on `backend` in this thread; a signal that arrives meanwhile is raised again after the
    loop has ended. Ctrl-C, else the first of `errors` in the task groups' exception groups, is raised as
    itself (a person reads one error, not a tree)."""
    received: list[int] = []
    done: list[T] = []
    watched = _watchable()

    async def guarded() -> None:
        async with anyio.create_task_group() as tasks:
            if watched:
                tasks.start_soon(_watch, watched, received, tasks.cancel_scope)
            done.append(await work(*args))
            tasks.cancel_scope.cancel()

    try:
        anyio.run(guarded, backend=backend)
    except BaseExceptionGroup as group:
        found = first_of(group, (KeyboardInterrupt,)) or first_of(group, errors)
        if found is None:
            raise
        raise found from None
    finally:
        if received:
            signal.raise_signal(received[0])  # the launcher's own handler, now that the loop is over
    if not done:  # cancelled by a signal whose handler did not raise: stop anyway, as Ctrl-C would
        raise KeyboardInterrupt
    return done[0]


def _watchable() -> tuple[signal.Signals, ...]:
    """The stop signals not ignored (a shell's background job starts with SIGINT ignored: it stays so);
    none outside the main thread, where a signal's handler cannot be changed."""
    if threading.current_thread() is not threading.main_thread():
        return ()
    return tuple(s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN)


async def _watch(signals: tuple[signal.Signals, ...], received: list[int], scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(*signals) as arrivals:
        async for signum in arrivals:
            received.append(signum)
            scope.cancel()
            return
