"""Identifiers that replay: UUIDs and counters drawn from the component's own stream."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping


class IdFactory:
    """UUID-shaped ids from a seeded stream (never `uuid4()`), and readable per-prefix counters."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._counters: dict[str, int] = {}

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def sequence(self, prefix: str) -> str:
        """`tx-1`, `tx-2`, ...: short ids for reports and traces."""
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}-{n}"

    def counters(self) -> dict[str, int]:
        """The last number each prefix handed out, so that a restarted process can `resume` after them."""
        return dict(self._counters)

    def resume(self, counters: Mapping[str, int]) -> None:
        """Continue every counter after the numbers a previous process handed out (never reused)."""
        for prefix, n in counters.items():
            self._counters[prefix] = max(self._counters.get(prefix, 0), int(n))
