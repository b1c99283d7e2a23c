"""Identifiers that replay: UUIDs and counters drawn from the component's own stream."""

from __future__ import annotations

import itertools
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator


class IdFactory:
    """UUID-shaped ids from a seeded stream (never `uuid4()`), and readable per-prefix counters."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._counters: defaultdict[str, Iterator[int]] = defaultdict(lambda: itertools.count(1))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def sequence(self, prefix: str) -> str:
        """`tx-1`, `tx-2`, ...: short ids for reports and traces."""
        return f"{prefix}-{next(self._counters[prefix])}"
