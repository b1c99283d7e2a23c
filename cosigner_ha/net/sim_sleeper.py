"""A parked task that wakes when told to or at a deadline in the event loop's time, without a cancel scope.

A simulated receiver sleeps until its next frame is due, and a sender may bring that time forward. trio's
only public timer is a cancel scope's deadline: a scope per wait (entered, cancelled by its deadline, the
`Cancelled` raised through the wait and caught on the way out) was the largest cost of the simulated
network, about one scope per frame. A `Sleeper` goes into trio's deadline heap the way a cancel scope does
(`Deadlines.add`/`remove`, `_registered_deadline`, `_cancel` called when it expires), so `MockClock`'s
autojump sees it like any other deadline; on expiry it reschedules its task with a plain value.

That is trio's private run-loop interface, as `env/simulate.py`'s scheduling knobs are, which is why trio
is pinned exactly in pyproject.toml; this module is the network's only use of it.
"""

from __future__ import annotations

import math
from typing import Any

from trio._core._run import GLOBAL_RUN_CONTEXT
from trio.lowlevel import Abort, RaiseCancelT, current_task, reschedule, wait_task_rescheduled


class Sleeper:
    """The current task, about to park until `wake()` or its deadline (`inf`: no deadline)."""

    __slots__ = ("_deadlines", "_registered_deadline", "_task")

    def __init__(self, deadline: float = math.inf) -> None:
        self._task: Any = current_task()
        self._deadlines: Any = GLOBAL_RUN_CONTEXT.runner.deadlines
        self._registered_deadline = math.inf
        if deadline != math.inf:
            self.deadline = deadline

    @property
    def deadline(self) -> float:
        return self._registered_deadline

    @deadline.setter
    def deadline(self, deadline: float) -> None:
        """Move the wake-up time (a stale heap entry is skipped by trio, as for a scope's old deadline)."""
        old = self._registered_deadline
        if deadline == old:
            return
        if old != math.inf:
            self._deadlines.remove(old, self)
        self._registered_deadline = deadline
        if deadline != math.inf:
            self._deadlines.add(deadline, self)

    def wake(self) -> None:
        """Make the task runnable again (nothing if it already woke)."""
        task = self._task
        if task is not None:
            self._task = None
            self.deadline = math.inf
            reschedule(task)

    def _cancel(self, reason: object) -> None:
        """Called by trio's run loop when the deadline passed (`Deadlines.expire`)."""
        self.wake()

    async def sleep(self) -> None:
        """Park until `wake()` or the deadline; an enclosing cancel scope still cancels the sleep."""

        def abort(_: RaiseCancelT) -> Abort:
            self._task = None
            self.deadline = math.inf
            return Abort.SUCCEEDED

        await wait_task_rescheduled(abort)
