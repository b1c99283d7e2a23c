"""Simulated people: the owner approving pairings, an admin approving unpairing, console users approving
2-TIER transactions. Each answers after a latency, approves, refuses, or never answers.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import anyio

from cosigner_ha.env import Clock


class Verdict(enum.StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    ABSENT = "ABSENT"  # never answers: the request waits until its own timeout


#: Decides from the request's details (kind, transaction fields...) when a fixed verdict is not enough.
Decider = Callable[[Mapping[str, Any]], Verdict]


@dataclasses.dataclass(frozen=True, slots=True)
class ApproverBehaviour:
    """How one simulated person answers. `jitter` adds a uniform draw in [0, jitter) from the seeded stream."""

    latency: float = 60.0
    verdict: Verdict = Verdict.APPROVE
    jitter: float = 0.0
    reason: str = ""
    decide: Decider | None = None

    def __post_init__(self) -> None:
        if self.latency < 0 or self.jitter < 0:
            raise ValueError(f"approver latency and jitter must be >= 0, got {self.latency}, {self.jitter}")


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    approver: str
    verdict: Verdict
    reason: str
    latency: float


class Approver(Protocol):
    """Someone who answers an approval: a simulated person, or the owner's device over the network."""

    name: str

    async def decide(self, details: Mapping[str, Any]) -> Decision: ...


class SimulatedApprover:
    """One person: `await decide(details)` sleeps the latency, then returns a verdict (or never returns)."""

    def __init__(
        self, name: str, behaviour: ApproverBehaviour, *, clock: Clock, uniform: Callable[[], float]
    ):
        self.name = name
        self.behaviour = behaviour
        self._clock = clock
        self._uniform = uniform

    async def decide(self, details: Mapping[str, Any]) -> Decision:
        b = self.behaviour
        verdict = b.decide(details) if b.decide is not None else b.verdict
        latency = b.latency + (self._uniform() * b.jitter if b.jitter else 0.0)
        if verdict is Verdict.ABSENT:
            await anyio.sleep_forever()
        await self._clock.sleep(latency)
        reason = b.reason or ("approved" if verdict is Verdict.APPROVE else "refused")
        return Decision(self.name, verdict, reason, latency)
