"""Time as a component sees it: the event loop's clock, plus a wall-clock view that faults can skew.

Components never read the OS clock. Under simulation the loop runs on trio's `MockClock`, so
`now()` is simulated seconds since the start of the run; in the runtime it is the real monotonic clock.
`wall()` is what certificates, JWTs and log lines see: a fixed epoch plus `now()` in simulation, the real
time in the runtime, shifted by the component's skew in both.
"""

from __future__ import annotations

import time as _time
from collections.abc import Awaitable, Callable

import anyio
from trio._core._run import GLOBAL_RUN_CONTEXT

from cosigner_ha import sleeper

#: Simulated runs start at 2026-01-01T00:00:00Z so that tokens and log lines carry plausible dates.
SIMULATION_EPOCH = 1_767_225_600.0


class Clock:
    """A component's clock. `skew` shifts only `wall()`: timers keep running on the shared loop clock."""

    __slots__ = ("_epoch", "_origin", "_sleep", "skew")

    def __init__(self, *, epoch: float | None, origin: float | None = None, skew: float = 0.0) -> None:
        # epoch None: the wall clock is the real one (runtime). origin: loop time that counts as zero.
        simulated = epoch is not None
        self._epoch = epoch
        self._origin = 0.0 if simulated and origin is None else origin
        self.skew = skew
        # A simulation always runs on trio (MockClock); its sleeps park in trio's deadline heap without
        # the cancel scope `trio.sleep` enters (a dozen per transaction; same wake-up, same schedule).
        # The runtime goes through anyio, so that it also runs on asyncio.
        self._sleep: Callable[[float], Awaitable[None]] = sleeper.sleep if simulated else anyio.sleep

    def now(self) -> float:
        """Seconds since the run started, on the event loop's clock."""
        if self._epoch is not None:
            # Simulation: the running loop's clock read in one call (`MockClock.current_time`, which
            # `simulate._mock_clock` makes cheap). `trio.current_time` reaches the same method through
            # two more calls, and anyio's through its backend lookup; this is read ~85 times per
            # simulated transaction (trace events included). Looked up on every read, not cached, so a
            # clock built before a run, or used by several runs, always reads the running one.
            try:
                return GLOBAL_RUN_CONTEXT.runner.clock.current_time() - self._origin  # type: ignore[operator]
            except AttributeError:
                raise RuntimeError("the simulated clock is read outside a trio run") from None
        if self._origin is None:
            self._origin = anyio.current_time()
        return anyio.current_time() - self._origin

    def wall(self) -> float:
        """POSIX seconds as this component believes them (skew included)."""
        if self._epoch is None:
            return _time.time() + self.skew
        return self._epoch + self.now() + self.skew

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    async def sleep_until(self, t: float) -> None:
        """Sleep until `now()` reaches `t`."""
        await self._sleep(max(0.0, t - self.now()))

    def view(self, *, skew: float = 0.0) -> Clock:
        """A clock sharing this one's time line, with its own skew (one per node)."""
        if self._origin is None:
            self.now()  # fix the origin before sharing it
        return Clock(epoch=self._epoch, origin=self._origin, skew=skew)
