"""Compute that takes time and has a capacity: MPC rounds computed a bounded number at a time, each costing
simulated (or real) time on the environment's clock, the rest queuing in arrival order.

Both sides of a signature pay it: a co-signer node's enclave (`node.capacity`, per enclave kind) and the
SaaS's cloud co-signers (`saas_sim`). It lives here, below both, so that there is one definition.
"""

from __future__ import annotations

import dataclasses

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

    def round(self) -> Round:
        """`async with slots.round() as queued:` holds a slot while the round's compute runs; `queued` is
        how long the round waited for one."""
        return Round(self)


class Round:
    """One round's hold on a slot: taken, and the compute slept, on entry; given back on exit, however
    the block ends. A class, not an `asynccontextmanager`: a busy-desk transaction runs about eight
    rounds, and the generator machinery cost more than the rest of a free slot's round."""

    __slots__ = ("_held", "_slots")

    def __init__(self, slots: SigningSlots) -> None:
        self._slots = slots
        self._held = False

    async def __aenter__(self) -> float:
        slots = self._slots
        round_time = slots.capacity.round_time
        if round_time == 0:
            return 0.0
        clock = slots.env.clock
        queued_at = clock.now()
        slots.waiting += 1
        if slots.waiting > slots.peak_waiting:
            slots.peak_waiting = slots.waiting
        try:
            await slots._free.acquire()
        finally:
            slots.waiting -= 1
        slots.busy += 1
        self._held = True
        try:
            await clock.sleep(round_time)
        except BaseException:
            self._release()
            raise
        return clock.now() - queued_at - round_time

    async def __aexit__(self, *exc_info: object) -> None:
        if self._held:
            self._release()

    def _release(self) -> None:
        self._held = False
        slots = self._slots
        slots.busy -= 1
        slots._free.release()
