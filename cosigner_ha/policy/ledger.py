"""Amount-over-time totals kept incrementally: per rule and aggregation key, a rolling window.

An entry at time `h` counts at time `t` when `t - window < h <= t`. Transactions are recorded in time
order, so expired entries leave from the left of a deque and the running total stays exact (integers).
"""

from __future__ import annotations

from collections import deque


class WindowTotal:
    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.total = 0

    def add(self, at: float, value: int) -> None:
        self.entries.append((at, value))
        self.total += value

    def expire(self, cutoff: float) -> int:
        """Drop entries at or before `cutoff` and return the total of what is left."""
        entries = self.entries
        while entries and entries[0][0] <= cutoff:
            self.total -= entries.popleft()[1]
        return self.total
