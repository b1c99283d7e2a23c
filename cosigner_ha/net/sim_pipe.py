"""What a simulated connection carries: the frames of one direction (arrived, on the wire, held by a
partition or clog), the end marker that closes a direction, and the re-armable wake-up its readers sleep on.

The rules that move frames along these queues are in `sim_connection.py`; hosts and faults in `sim.py`.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from typing import TYPE_CHECKING

from cosigner_ha.net.link import LinkStats
from cosigner_ha.sleeper import Sleeper

if TYPE_CHECKING:
    from cosigner_ha.net.transport import Interrupt


class End(enum.Enum):
    """The last item a direction carries."""

    CLOSE = "close"
    RESET = "reset"


Item = bytes | End


class Signal:
    """A re-armable wake-up: waiters sleep until the next `fire()` or their deadline."""

    __slots__ = ("_sleepers",)

    def __init__(self) -> None:
        self._sleepers: dict[Sleeper, None] = {}  # a dict: ordered, and a woken sleeper leaves in O(1)

    def fire(self) -> None:
        sleepers, self._sleepers = self._sleepers, {}
        for sleeper in sleepers:
            sleeper.wake()

    async def wait(
        self,
        deadline: float = math.inf,
        waiters: list[Sleeper] | None = None,
        interrupt: Interrupt | None = None,
    ) -> None:
        """Sleep until `fire()`, `deadline` or `interrupt`; listed in `waiters` so a sender can bring it
        forward."""
        sleeper = Sleeper(deadline)
        self._sleepers[sleeper] = None
        if waiters is not None:
            waiters.append(sleeper)
        if interrupt is not None:
            interrupt.on_set(sleeper.wake)
        try:
            await sleeper.sleep()
        finally:
            self._sleepers.pop(sleeper, None)
            if waiters is not None:
                waiters.remove(sleeper)


class Pipe:
    """One direction of a connection: frames arrived (`ready`), on the wire (`in_flight`, with their due
    time) and held by a partition or clog (`held`, with the time they were stopped)."""

    __slots__ = ("dst", "held", "in_flight", "last_due", "ready", "src", "stats", "waiters")

    def __init__(self, src: str, dst: str, stats: LinkStats) -> None:
        self.src = src
        self.dst = dst
        self.stats = stats
        self.ready: deque[Item] = deque()
        self.in_flight: deque[tuple[float, Item]] = deque()
        self.held: deque[tuple[float, Item]] = deque()
        self.last_due = -math.inf
        self.waiters: list[Sleeper] = []  # receivers sleeping until the head is due

    def drop_all(self) -> None:
        for item in self.ready:
            self._count_drop(item)
        for _, item in self.in_flight:
            self._count_drop(item)
        self.ready.clear()
        self.in_flight.clear()
        self.drop_held()

    def drop_held(self) -> None:
        for _, item in self.held:
            self._count_drop(item)
        self.held.clear()

    def _count_drop(self, item: Item) -> None:
        if isinstance(item, bytes):
            self.stats.frames_dropped += 1
