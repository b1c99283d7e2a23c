"""Run a coroutine in virtual time with deterministic scheduling, then leave trio as it was.

trio shuffles each batch of runnable tasks; with its private `_ALLOW_DETERMINISTIC_SCHEDULING` flag set it
first sorts the batch by task creation order and shuffles with its module-level `_r`. Seeding `_r` from the
scenario seed makes the interleaving a function of the seed. Both knobs are private, which is why trio is
pinned exactly in pyproject.toml; this module is the only place that touches them.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import trio
import trio.testing
from trio._core import _run as _trio_run

from cosigner_ha.env.environment import Environment

T = TypeVar("T")


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
    """Run `main(env)` on trio with `MockClock(autojump_threshold=0)`: sleeps cost no wall time."""
    env = Environment.simulated(seed, **env_options)
    return run_simulated(main, env)


def run_simulated(main: Callable[[Environment], Awaitable[T]], env: Environment) -> T:
    """Like `simulate` for an environment the caller built (to keep its trace)."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    with deterministic_scheduling(env.seed):
        return trio.run(main, env, clock=clock)
