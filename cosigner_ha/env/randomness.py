"""Named random streams and crypto randomness.

Every purpose draws from its own stream, derived from the scenario seed and the stream's name, so adding a
consumer (a fault, a node) never shifts another stream's draws. Crypto randomness is a seeded DRBG
(ChaCha20 keystream) in simulation, so runs replay byte for byte, and the OS CSPRNG in the runtime.
"""

from __future__ import annotations

import hashlib
import os
import random
from typing import Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms


def _derive(seed: int, path: str) -> bytes:
    return hashlib.sha256(f"cosigner-ha/v1/{seed}/{path}".encode()).digest()


class RandomStreams:
    """`stream(name)` gives the same `random.Random` for the same seed, namespace and name."""

    def __init__(self, seed: int, namespace: str = "") -> None:
        self.seed = seed
        self.namespace = namespace
        self._streams: dict[str, random.Random] = {}

    def _path(self, name: str) -> str:
        return f"{self.namespace}/{name}" if self.namespace else name

    def stream(self, name: str) -> random.Random:
        rng = self._streams.get(name)
        if rng is None:
            rng = random.Random(int.from_bytes(_derive(self.seed, self._path(name)), "big"))
            self._streams[name] = rng
        return rng

    def child(self, namespace: str) -> RandomStreams:
        return RandomStreams(self.seed, self._path(namespace))


class CryptoRandom(Protocol):
    """What key generation, nonces and sealing take: n bytes of randomness on each call."""

    def randbytes(self, n: int) -> bytes: ...

    def child(self, name: str) -> CryptoRandom: ...


class SeededDrbg:
    """Deterministic random bit generator: a ChaCha20 keystream under a key derived from the seed.

    Simulation only: the keystream is as unpredictable as the seed, which is written in the scenario.
    """

    def __init__(self, seed: int, name: str = "crypto") -> None:
        self._seed = seed
        self._name = name
        key = _derive(seed, f"drbg/{name}")
        self._stream = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()

    def randbytes(self, n: int) -> bytes:
        return self._stream.update(bytes(n))

    def child(self, name: str) -> SeededDrbg:
        return SeededDrbg(self._seed, f"{self._name}/{name}")


class OsCrypto:
    """The operating system's CSPRNG (runtime mode)."""

    def randbytes(self, n: int) -> bytes:
        return os.urandom(n)

    def child(self, name: str) -> OsCrypto:
        return self
