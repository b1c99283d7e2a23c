"""Timeouts, cancel scopes and task starts at trio's own cost when the loop is trio.

The node and the SaaS run on trio in a simulation and on trio or asyncio in the runtime, so they program
against anyio. On trio, anyio (4.16) wraps every cancel scope (8.8 us for `move_on_after` against 6.1 for
trio's own, measured under trio's MockClock) and gives every task started with `start_soon` a handle, a
cancel scope and an event that nothing here reads (24 us against 6.6 for a trio nursery's start and run).
A busy-desk transaction opens about thirty scopes and starts about six tasks on its request paths, so
these take trio's path when the running loop is trio (`in_trio_run`, 0.1 us) and anyio's otherwise. The
semantics are the same: the scopes are trio's own under anyio's wrappers anyway, and a task started in
the nursery under an anyio task group is the same task in the same group (its failure cancels the group
and is raised from it, as with `start_soon`).

A wait for an event that usually comes in time (`Flag.wait(timeout)`) needs no scope at all on trio: the
task parks on a `Sleeper` (`sleeper.py`) whose deadline is the timeout and which `set()` wakes, the same
wake-ups in the same pass of the run loop as an `Event` under `move_on_after`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.abc
import trio

from cosigner_ha.sleeper import Sleeper

__all__ = ["Flag", "cancel_scope", "move_on_after", "start_soon"]

_in_trio = trio.lowlevel.in_trio_run


def move_on_after(seconds: float, *, shield: bool = False) -> trio.CancelScope | anyio.CancelScope:
    """`anyio.move_on_after`: a scope whose deadline is `seconds` from now (`cancelled_caught` after);
    as anyio's, a deadline already past cancels at once (trio's own refuses a negative timeout)."""
    if _in_trio():
        return trio.move_on_after(seconds if seconds > 0 else 0.0, shield=shield)
    return anyio.move_on_after(seconds, shield=shield)


def cancel_scope(*, shield: bool = False) -> trio.CancelScope | anyio.CancelScope:
    """`anyio.CancelScope(shield=...)`."""
    if _in_trio():
        return trio.CancelScope(shield=shield)
    return anyio.CancelScope(shield=shield)


def start_soon(group: anyio.abc.TaskGroup, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
    """`group.start_soon(fn, *args)`; on trio straight into the group's nursery (anyio keeps it as
    `_nursery`; without it, anyio's own start)."""
    nursery = getattr(group, "_nursery", None)
    if type(nursery) is trio.Nursery:
        nursery.start_soon(fn, *args)
    else:
        group.start_soon(fn, *args)


class Flag:
    """`anyio.Event` whose `wait` takes a timeout and says whether the flag was set in time.

    On trio a waiter parks on a `Sleeper` due at its timeout, which `set()` wakes: no cancel scope, no
    `Cancelled` raised and caught when the time runs out. Elsewhere (the runtime on asyncio) it is anyio's
    event under anyio's `move_on_after`. A timeout that does not reach past now (zero, negative, or too
    small to move the clock's float) takes the scope path on both (a scope cancelled on entry, whose
    wait on a set event is two schedule points), so the schedule is the one `Event.wait` under
    `move_on_after` gives."""

    __slots__ = ("_callbacks", "_event", "_is_set", "_sleepers")

    def __init__(self) -> None:
        self._is_set = False
        self._sleepers: dict[Sleeper, None] = {}  # ordered; a sleeper that gave up leaves in O(1)
        self._event: anyio.Event | None = None  # made by the first wait off trio
        self._callbacks: list[Callable[[], object]] = []

    def on_set(self, callback: Callable[[], object]) -> None:
        """Call `callback` once when the flag is set, or now if it is: how a wait elsewhere (a held long
        poll's connection watch) ends on it (`net.transport.Interrupt`)."""
        if self._is_set:
            callback()
        else:
            self._callbacks.append(callback)

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        """Set the flag and wake every waiter (nothing if it was set already)."""
        if self._is_set:
            return
        self._is_set = True
        sleepers, self._sleepers = self._sleepers, {}
        for sleeper in sleepers:
            sleeper.wake()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()
        if self._event is not None:
            self._event.set()

    async def wait(self, timeout: float = math.inf) -> bool:
        """Until the flag is set (True) or `timeout` seconds passed (False); a checkpoint either way."""
        if _in_trio():
            now = trio.current_time()
            deadline = now + timeout
            if deadline > now:
                return await self._park_until(deadline)
        if self._event is None:
            self._event = anyio.Event()
            if self._is_set:
                self._event.set()
        with move_on_after(timeout):
            await self._event.wait()
        return self._is_set

    async def _park_until(self, deadline: float) -> bool:
        if self._is_set:
            await trio.lowlevel.checkpoint()
            return True
        sleeper = Sleeper(deadline)
        self._sleepers[sleeper] = None
        try:
            await sleeper.sleep()
        finally:
            self._sleepers.pop(sleeper, None)
        return self._is_set
