"""A parked task that wakes when told to or at a deadline in the event loop's time, without a cancel scope.

trio's only public timer is a cancel scope's deadline: a scope per wait (entered, cancelled by its deadline,
the `Cancelled` raised through the wait and caught on the way out) costs about as much as the rest of a
simulated message's handling, and a busy-desk transaction sleeps a dozen times (compute rounds, handler
latencies, the workload's pacing) and receives a dozen frames. A `Sleeper` goes into trio's deadline heap
the way a cancel scope does (`Deadlines.add`/`remove`, `_registered_deadline`, `_cancel` called when it
expires), so `MockClock`'s autojump sees it like any other deadline; on expiry it reschedules its task with
a plain value. It wakes in the same pass of the run loop as a scope's deadline would, so the schedule (and
a simulation's trace) is the one `trio.sleep` gives.

That is trio's private run-loop interface, as `simulate.py`'s scheduling knobs are, which is why trio is
pinned exactly in pyproject.toml. Everything here needs a trio run: the simulated network (`net/sim_*`), a
simulated clock, and `scopes.Flag` when the loop is trio; the runtime on asyncio never gets here.
It is a leaf below `env` and `net` (as `inputs.py` is), because both park tasks on it and neither may
import the other.
"""

from __future__ import annotations

import math
from typing import Any

from trio._core._run import GLOBAL_RUN_CONTEXT
from trio.lowlevel import Abort, RaiseCancelT, checkpoint, current_task, reschedule, wait_task_rescheduled

__all__ = ["Sleeper", "now", "sleep", "sleep_until"]


def now() -> float:
    """`trio.current_time()` in one call instead of three (it goes through the run and the clock's
    public wrappers): the simulated network reads it about 50 times a transaction."""
    return GLOBAL_RUN_CONTEXT.runner.clock.current_time()


class Sleeper:
    """The current task, about to park until `wake()` or its deadline (`inf`: no deadline)."""

    __slots__ = ("_deadlines", "_registered_deadline", "_task")

    def __init__(self, deadline: float = math.inf) -> None:
        self._task: Any = current_task()
        # trio's heap of deadlined scopes; it only reads `_registered_deadline` and calls `_cancel`
        self._deadlines: Any = GLOBAL_RUN_CONTEXT.runner.deadlines
        self._registered_deadline = deadline
        if deadline != math.inf:
            self._deadlines.add(deadline, self)  # type: ignore[arg-type]

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

    @property
    def woken(self) -> bool:
        """Whether the task was made runnable again (woken, expired, or its sleep cancelled)."""
        return self._task is None

    def wake(self) -> None:
        """Make the task runnable again (nothing if it already woke)."""
        task = self._task
        if task is not None:
            self._task = None
            self._forget_deadline()
            reschedule(task)

    def _forget_deadline(self) -> None:
        deadline = self._registered_deadline
        if deadline != math.inf:
            self._deadlines.remove(deadline, self)
            self._registered_deadline = math.inf

    def _cancel(self, reason: object) -> None:
        """Called by trio's run loop when the deadline passed (`Deadlines.expire`)."""
        self.wake()

    async def sleep(self) -> None:
        """Park until `wake()` or the deadline; an enclosing cancel scope still cancels the sleep."""

        def abort(_: RaiseCancelT) -> Abort:
            self._task = None
            self._forget_deadline()
            return Abort.SUCCEEDED

        await wait_task_rescheduled(abort)


async def sleep_until(deadline: float) -> None:
    """`trio.sleep_until(deadline)` without its cancel scope. A deadline already reached wakes the task in
    the run loop's next pass, as trio's (whose scope is cancelled on entry) does."""
    await Sleeper(deadline).sleep()


async def sleep(seconds: float) -> None:
    """`trio.sleep(seconds)` without its cancel scope: zero is a checkpoint, negative a `ValueError`."""
    if seconds > 0:
        clock = GLOBAL_RUN_CONTEXT.runner.clock
        await Sleeper(clock.current_time() + seconds).sleep()
    elif seconds == 0:
        await checkpoint()
    else:
        raise ValueError("`seconds` must be non-negative")
