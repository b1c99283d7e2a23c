"""Run a coroutine in virtual time with deterministic scheduling, then leave trio as it was.

trio shuffles each batch of runnable tasks; with its private `_ALLOW_DETERMINISTIC_SCHEDULING` flag set it
first sorts the batch by task creation order and shuffles with its module-level `_r`. Seeding `_r` from the
scenario seed makes the interleaving a function of the seed. Both knobs are private, which is why trio is
pinned exactly in pyproject.toml; this module is the only place that touches them.

Virtual time is `VirtualClock`: trio's `MockClock(autojump_threshold=0)` (time stands still while any task
can run, and jumps to the next deadline when none can), with the jump made one pass of the run loop
earlier. MockClock learns that the loop is idle only after a pass that polls for I/O with a zero timeout
and finds nothing; trio asks a clock for its sleep time only when no task is runnable, so the virtual
clock jumps right then. Same times, same wake-ups in the same order, so the same traces; one pass of trio's
loop (an epoll call, a deadline check, a statistics snapshot) fewer per step of virtual time.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import trio
from trio._core import _run as _trio_run

from cosigner_ha.env.environment import Environment

T = TypeVar("T")

#: What MockClock answers, at rate 0, for a deadline it is not jumping to: "sleep forever" (trio caps it).
_FOREVER = 999999999


class VirtualClock(trio.abc.Clock):
    """Virtual time that jumps to the next deadline whenever no task can run (see the module docstring)."""

    def __init__(self) -> None:
        self._now = 0.0

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self._now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        # trio calls this only when no task is runnable: the loop is idle unless somebody waits for that
        # (`wait_all_tasks_blocked`, which must run first, as it does on MockClock) or nothing is due.
        if deadline <= self._now:
            return 0
        if deadline == math.inf or _trio_run.GLOBAL_RUN_CONTEXT.runner.waiting_for_idle:
            return _FOREVER
        self._now += deadline - self._now  # MockClock's arithmetic (base + (deadline - base)), bit for bit
        return 0

    def jump(self, seconds: float) -> None:
        """Advance the clock by hand (as `MockClock.jump`)."""
        if seconds < 0:
            raise ValueError("time can't go backwards")
        self._now += seconds


@contextlib.contextmanager
def deterministic_scheduling(seed: int) -> Iterator[None]:
    """Seed trio's scheduler for the duration of the block and restore its state afterwards."""
    state = _trio_run._r.getstate()
    flag = _trio_run._ALLOW_DETERMINISTIC_SCHEDULING
    _trio_run._r.seed(int.from_bytes(hashlib.sha256(f"trio-scheduler/{seed}".encode()).digest(), "big"))
    _trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    try:
        yield
    finally:
        _trio_run._ALLOW_DETERMINISTIC_SCHEDULING = flag  # type: ignore[misc]
        _trio_run._r.setstate(state)


def simulate(main: Callable[[Environment], Awaitable[T]], seed: int, **env_options: Any) -> T:
    """Run `main(env)` on trio in virtual time (`VirtualClock`): sleeps cost no wall time."""
    env = Environment.simulated(seed, **env_options)
    return run_simulated(main, env)


def run_simulated(main: Callable[[Environment], Awaitable[T]], env: Environment) -> T:
    """Like `simulate` for an environment the caller built (to keep its trace)."""
    clock = VirtualClock()
    with deterministic_scheduling(env.seed):
        return trio.run(main, env, clock=clock)
