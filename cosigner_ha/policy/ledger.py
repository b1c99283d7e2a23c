"""Amount-over-time totals kept incrementally: per rule and aggregation key, a rolling window.

An entry at time `h` counts at time `t` when `t - window < h <= t`. Transactions are recorded in time
order, so expired entries leave from the left of a deque and the running total stays exact (integers).
"""

from __future__ import annotations

from collections import deque

from .transaction import Transaction


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


class CountedHistory:
    """Every transaction that went on toward signing, kept as long as the longest window of any policy it
    has served, so that a newly published policy starts from the same rolling totals (tap-policy.md
    section 2.3: every non-blocked transaction in the window counts, whichever rule it matched then).

    Entries are in time order.
    """

    __slots__ = ("entries", "horizon")

    def __init__(self) -> None:
        self.entries: deque[Transaction] = deque()
        self.horizon = 0.0

    def cover(self, seconds: float) -> None:
        """Keep entries at least `seconds` back from now on (a policy with such a window is published)."""
        self.horizon = max(self.horizon, seconds)

    def add(self, tx: Transaction) -> None:
        entries = self.entries
        entries.append(tx)
        cutoff = tx.at - self.horizon
        while entries and entries[0].at <= cutoff:
            entries.popleft()
