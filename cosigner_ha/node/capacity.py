"""A co-signer's signing capacity: how many MPC rounds its enclave computes at once, and what a round costs.

Signing is not free: each FROST round (commitments, then the signature share) costs enclave compute, and
an enclave computes a bounded number of rounds at once. Rounds beyond that wait in FIFO order for a slot,
so latency grows with load and a co-signer saturates at about `sessions / (2 * round_time)` transactions a
second. The network part of a round is the simulated link's latency (`net`), not counted here.

Fireblocks publishes no throughput or per-round figures for the API co-signer (only that several
co-signers "significantly improve your signing throughput"); the per-enclave defaults below are this
project's assumptions, documented in `docs/performance.md`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from cosigner_ha.env import Environment


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


#: No cost at all: what a node built without a capacity gets (unit tests of the node's protocol logic).
INSTANT = SigningCapacity(sessions=1, round_time=0.0)

#: Assumed defaults per co-signer type (the SaaS registry's names). Assumptions, not vendor figures:
#: SGX pays enclave transitions (ECALL/OCALL) per round; a Nitro enclave talks over vsock; GCP
#: Confidential Space runs a full confidential VM; the communal co-signer is shared by every sandbox
#: workspace, so a workspace sees a small share of it.
DEFAULTS: dict[str, SigningCapacity] = {
    "SGX": SigningCapacity(sessions=8, round_time=0.040),
    "AWS-NITRO": SigningCapacity(sessions=8, round_time=0.030),
    "GCP-CONFSPACE": SigningCapacity(sessions=8, round_time=0.030),
    "SANDBOX": SigningCapacity(sessions=2, round_time=0.050),
}

#: A busy co-signer answers a probe at most this late (well inside the SaaS's 3 s probe window).
PROBE_DELAY_CAP = 1.0


def default_for(cosigner_type: str) -> SigningCapacity:
    """The assumed capacity of a co-signer of this registry type."""
    try:
        return DEFAULTS[cosigner_type]
    except KeyError:
        raise ValueError(
            f"no signing-capacity default for co-signer type {cosigner_type!r}; expected one of "
            f"{', '.join(DEFAULTS)}"
        ) from None


class SigningSlots:
    """The enclave's compute slots: a round takes one for `round_time`; the rest queue (FIFO)."""

    def __init__(self, env: Environment, capacity: SigningCapacity) -> None:
        self.env = env
        self.capacity = capacity
        self._free = anyio.Semaphore(capacity.sessions)
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
