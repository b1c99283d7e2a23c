"""Randomness comes in as a parameter: `rng(n)` returns n bytes (a seeded DRBG in simulation, the OS
CSPRNG in the runtime). The core never reaches for a global source, so a seed replays a run exactly."""

from __future__ import annotations

from collections.abc import Callable

from .errors import MpcError

Rng = Callable[[int], bytes]


def random_bytes(rng: Rng, n: int) -> bytes:
    """`rng(n)`, checked: a source that returns the wrong type or length is a bug worth stopping on."""
    data = rng(n)
    if type(data) is not bytes or len(data) != n:
        got = f"{len(data)} bytes" if isinstance(data, bytes) else type(data).__name__
        raise MpcError(f"the random source returned {got}, expected {n} bytes")
    return data
