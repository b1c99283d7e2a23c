"""The one object a component receives instead of touching the world."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import IO, Any, Literal

import anyio

from cosigner_ha.env.clock import SIMULATION_EPOCH, Clock
from cosigner_ha.env.ids import IdFactory
from cosigner_ha.env.randomness import CryptoRandom, OsCrypto, RandomStreams, SeededDrbg
from cosigner_ha.env.trace import Trace

Mode = Literal["simulated", "runtime"]


@dataclasses.dataclass(slots=True)
class Environment:
    """Clock, named random streams, crypto randomness, ids and the trace, for one component.

    `child(name)` gives a sub-component (a node, the SaaS, a cloud co-signer) its own clock view (for skew),
    its own random namespace and DRBG, and the shared trace.
    """

    mode: Mode
    seed: int
    name: str
    clock: Clock
    streams: RandomStreams
    crypto: CryptoRandom
    ids: IdFactory
    trace: Trace

    @classmethod
    def simulated(
        cls,
        seed: int,
        *,
        header: Mapping[str, Any] | None = None,
        sink: IO[str] | None = None,
        keep_events: bool = True,
    ) -> Environment:
        """For simulation: the loop must run on trio's MockClock (see `simulate`)."""
        clock = Clock(epoch=SIMULATION_EPOCH, origin=0.0)
        streams = RandomStreams(seed)
        trace = Trace(clock.now, {"seed": seed, **(header or {})}, sink=sink, keep=keep_events)
        return cls(
            "simulated", seed, "", clock, streams, SeededDrbg(seed), IdFactory(streams.stream("ids")), trace
        )

    @classmethod
    def runtime(
        cls,
        *,
        header: Mapping[str, Any] | None = None,
        sink: IO[str] | None = None,
        keep_events: bool = False,
        elapsed: float = 0.0,
    ) -> Environment:
        """For real processes: real clock, OS CSPRNG, ids from the OS. Create it inside the event loop.

        `elapsed`: seconds the run has already lasted, so that a process restarted on its saved state
        continues the time line its timestamps (`now()`) were taken on."""
        clock = Clock(epoch=None, origin=anyio.current_time() - elapsed if elapsed else None)
        seed = int.from_bytes(OsCrypto().randbytes(8), "big")
        streams = RandomStreams(seed)
        trace = Trace(clock.now, {"seed": None, **(header or {})}, sink=sink, keep=keep_events)
        ids = IdFactory(random.Random(seed))
        return cls("runtime", seed, "", clock, streams, OsCrypto(), ids, trace)

    def child(self, name: str, *, skew: float = 0.0) -> Environment:
        path = f"{self.name}/{name}" if self.name else name
        streams = self.streams.child(name)
        return Environment(
            self.mode,
            self.seed,
            path,
            self.clock.view(skew=skew),
            streams,
            self.crypto.child(name),
            IdFactory(streams.stream("ids")),
            self.trace,
        )

    def rng(self, purpose: str) -> random.Random:
        """The named stream for `purpose` in this component's namespace."""
        return self.streams.stream(purpose)

    def randbytes(self, n: int) -> bytes:
        """Crypto randomness, in the `Callable[[int], bytes]` shape the MPC core takes."""
        return self.crypto.randbytes(n)
