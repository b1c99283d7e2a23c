"""Compute that takes time and has a capacity: MPC rounds computed a bounded number at a time, each costing
simulated (or real) time on the environment's clock, the rest queuing in arrival order.

Both sides of a signature pay it: a co-signer node's enclave (`node.capacity`, per enclave kind) and the
SaaS's cloud co-signers (`saas_sim`). It lives here, below both, so that there is one definition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from cosigner_ha.env.environment import Environment


@dataclasses.dataclass(frozen=True, slots=True)
class SigningCapacity:
    """`sessions` MPC rounds computed at once; each costs `round_time` seconds. Zero time: instant."""

    sessions: int = 1
    round_time: float = 0.0

    def __post_init__(self) -> None:
        if self.sessions < 1:
            raise ValueError(f"signing sessions must be at least 1, got {self.sessions}")
        if self.round_time < 0:
            raise ValueError(f"a signing round's time cannot be negative, got {self.round_time}")

    @property
    def rate(self) -> float:
        """Transactions a second this co-signer can sign at most (two rounds each); inf when instant."""
        return float("inf") if self.round_time == 0 else self.sessions / (2 * self.round_time)


#: A busy co-signer answers a probe at most this late (well inside the SaaS's 3 s probe window).
PROBE_DELAY_CAP = 1.0


class SigningSlots:
    """The enclave's compute slots: a round takes one for `round_time`; the rest queue (FIFO)."""

    def __init__(self, env: Environment, capacity: SigningCapacity) -> None:
        self.env = env
        self.capacity = capacity
        # fast_acquire: a free slot is taken without a schedule point; the round's sleep is one anyway.
        self._free = anyio.Semaphore(capacity.sessions, fast_acquire=True)
        self.waiting = 0
        self.busy = 0
        self.peak_waiting = 0

    def backlog(self) -> float:
        """Seconds of queued and running compute per slot: how long a new round would wait, about."""
        return (self.waiting + self.busy) * self.capacity.round_time / self.capacity.sessions

    def probe_delay(self) -> float:
        """How long a busy co-signer takes to answer an availability probe: its backlog, at most
        `PROBE_DELAY_CAP`. So the SaaS's first-responder choice favours the idler co-signer, which is how
        more co-signers add throughput; an idle one answers at once."""
        return min(self.backlog(), PROBE_DELAY_CAP)

    @asynccontextmanager
    async def round(self) -> AsyncIterator[float]:
        """Hold a slot while the round's compute runs; yields how long the round queued."""
        if self.capacity.round_time == 0:
            yield 0.0
            return
        queued_at = self.env.clock.now()
        self.waiting += 1
        self.peak_waiting = max(self.peak_waiting, self.waiting)
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        self.busy += 1
        try:
            await self.env.clock.sleep(self.capacity.round_time)
            yield self.env.clock.now() - queued_at - self.capacity.round_time
        finally:
            self.busy -= 1
            self._free.release()
