"""Run a coroutine in virtual time with deterministic scheduling, then leave trio as it was.

trio shuffles each batch of runnable tasks; with its private `_ALLOW_DETERMINISTIC_SCHEDULING` flag set it
first sorts the batch by task creation order and shuffles with its module-level `_r`. Seeding `_r` from the
scenario seed makes the interleaving a function of the seed. Both knobs are private, which is why trio is
pinned exactly in pyproject.toml; this module is the only place that touches them.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import trio
from trio._core import _run as _trio_run

# `trio.testing.MockClock`, from the module that defines it: `import trio.testing` also imports pytest
# (70 ms, paid by every simulation's first run, and a test framework in a user's process for no reason).
from trio._core._mock_clock import MockClock

from cosigner_ha.env.environment import Environment

T = TypeVar("T")

# A simulated run allocates short-lived containers (frames, coroutines, dicts, trio's cancel scopes) by the
# hundred thousand; at CPython's default 700 the young generation is swept ~120 times in the ten busy
# minutes, and each sweep also traverses whatever survived. Almost all of it is freed by reference counting
# anyway, so sweeping every 10000 allocations keeps the same bounded garbage (a few MB at most) for about a
# tenth of the collector's time. Older generations keep their default ratios.
SIMULATION_GC_GEN0_THRESHOLD = 10_000


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


@contextlib.contextmanager
def fewer_collections(gen0: int = SIMULATION_GC_GEN0_THRESHOLD) -> Iterator[None]:
    """Raise the young generation's collection threshold for the block and restore the caller's afterwards.

    The collector decides nothing a run observes (no finalizer or weak reference orders events), so the
    trace is the same; only how often it walks the young objects changes."""
    saved = gc.get_threshold()
    gc.set_threshold(max(gen0, saved[0]), *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _mock_clock() -> MockClock:
    """trio's `MockClock` (autojump at 0) whose time is read without consulting the real clock.

    At rate 0, `MockClock.current_time` computes `virtual_base + 0.0 * (perf_counter() - real_base)`, which
    is `virtual_base` exactly; trio and the components read the clock hundreds of times per simulated
    transaction, so skipping the real-clock read and the arithmetic is measurable. MockClock is final (no
    subclass), so the instance gets its own `current_time`, and its own `_autojump` (see there): the jumps
    are MockClock's own arithmetic to the same deadlines, so the run is the same run.
    """
    clock = MockClock(autojump_threshold=0)
    full = clock.current_time
    jump = clock._autojump

    def current_time() -> float:
        return clock._virtual_base if clock._rate == 0.0 else full()

    def autojump() -> None:
        # MockClock's own jump (to the next deadline: base + (deadline - base), the same arithmetic), read
        # from the deadline heap instead of a whole `current_statistics()` snapshot, and the deadlines it
        # reached expired at once, so the tasks they wake run in this pass of the loop, not the next.
        # Same times, same tasks woken together: the same run, one loop pass (an epoll call) fewer per jump.
        if clock._rate != 0.0:
            jump()
            return
        deadlines = _trio_run.GLOBAL_RUN_CONTEXT.runner.deadlines
        now = clock._virtual_base
        deadline = deadlines.next_deadline()
        if now < deadline < math.inf:
            clock.jump(deadline - now)
            deadlines.expire(clock._virtual_base)

    setattr(clock, "current_time", current_time)  # noqa: B010  (mypy refuses assigning to a method)
    setattr(clock, "_autojump", autojump)  # noqa: B010
    return clock


def simulate(main: Callable[[Environment], Awaitable[T]], seed: int, **env_options: Any) -> T:
    """Run `main(env)` on trio with `MockClock(autojump_threshold=0)`: sleeps cost no wall time."""
    env = Environment.simulated(seed, **env_options)
    return run_simulated(main, env)


def run_simulated(main: Callable[[Environment], Awaitable[T]], env: Environment) -> T:
    """Like `simulate` for an environment the caller built (to keep its trace)."""
    clock = _mock_clock()
    with deterministic_scheduling(env.seed), fewer_collections():
        return trio.run(main, env, clock=clock)
