"""Single-use nonce pairs, and the set of consumed ones a node persists, so that no pair ever signs twice.

The in-process guarantee lives in `SingleUseNonces` (consumed on use, not copyable), the base of every
suite's `SigningNonces`. Across a crash, a restart or a restore from an old backup, only durable state can
help: a node keeps the `nonce_id` of every pair it has signed with, writes it before it releases the share
(`sign_once(..., persist=...)`), and refuses a restored pair whose id it already holds (`check`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Generic, NoReturn, Protocol, Self, TypeVar

from .errors import DecodeError, NonceReuseError

NONCE_ID_SIZE = 32


class Commitments(Protocol):
    """What a nonce pair's public commitments tell about it."""

    @property
    def identifier(self) -> int: ...

    @property
    def nonce_id(self) -> bytes: ...


C = TypeVar("C", bound=Commitments)


class SingleUseNonces(Generic[C]):
    """A secret nonce pair (d, e) that yields at most one signature share in this process.

    Consuming (`_take`) drops the scalars; any later use raises `NonceReuseError`. Instances are made only
    by a suite's `commit` or `from_bytes`; copying and pickling are refused, so a second live object for one
    pair can only come from storage, which is what `ConsumedNonces` guards."""

    __slots__ = ("_binding", "_consumed", "_hiding", "commitments")

    _hiding: int
    _binding: int
    _consumed: bool
    commitments: C

    def __init__(self) -> None:
        raise TypeError(f"{type(self).__name__} come from commit() or from_bytes(), never from scratch")

    @classmethod
    def _new(cls, hiding: int, binding: int, commitments: C) -> Self:
        nonces = object.__new__(cls)
        nonces._hiding = hiding
        nonces._binding = binding
        nonces._consumed = False
        nonces.commitments = commitments
        return nonces

    @property
    def identifier(self) -> int:
        return self.commitments.identifier

    @property
    def nonce_id(self) -> bytes:
        """Stable 32-byte name of this pair: what a node persists as consumed."""
        return self.commitments.nonce_id

    @property
    def consumed(self) -> bool:
        return self._consumed

    def _peek(self) -> tuple[int, int]:
        if self._consumed:
            self._refuse()
        return self._hiding, self._binding

    def _take(self) -> tuple[int, int]:
        pair = self._peek()
        self._consumed = True
        self._hiding = self._binding = 0
        return pair

    def _refuse(self) -> NoReturn:
        raise NonceReuseError(
            f"nonce pair {self.nonce_id.hex()[:16]}… was already used for a signature share; "
            "a nonce pair signs at most once (commit again for a new pair)",
            participant=self.identifier,
        )

    def __copy__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} cannot be copied: a nonce pair signs at most once")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError(f"{type(self).__name__} cannot be copied: a nonce pair signs at most once")

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError(f"{type(self).__name__} cannot be pickled: use to_bytes() for a sealed store")

    def __repr__(self) -> str:
        state = "consumed" if self._consumed else "unused"
        name = type(self).__name__
        return f"{name}(identifier={self.identifier}, nonce_id={self.nonce_id.hex()[:16]}…, {state})"


N = TypeVar("N", bound="SingleUseNonces[Any]")


class ConsumedNonces:
    """A set of consumed `nonce_id`s. `mark` is the `persist` hook for `sign_once` in memory."""

    def __init__(self, nonce_ids: Iterable[bytes] = ()) -> None:
        self._ids: set[bytes] = set()
        for nonce_id in nonce_ids:
            self.mark(nonce_id)

    def mark(self, nonce_id: bytes) -> None:
        """Record a pair as consumed; refuses one already recorded (that would be a second share)."""
        _check_id(nonce_id)
        if nonce_id in self._ids:
            raise NonceReuseError(f"nonce pair {nonce_id.hex()[:16]}… is already recorded as consumed")
        self._ids.add(nonce_id)

    def check(self, nonces: N) -> N:
        """Return `nonces` if its pair was never consumed; the gate for a pair restored from storage."""
        if nonces.nonce_id in self._ids:
            raise NonceReuseError(
                f"restored nonce pair {nonces.nonce_id.hex()[:16]}… was already used for a signature share",
                participant=nonces.identifier,
            )
        return nonces

    def __contains__(self, nonce_id: object) -> bool:
        return nonce_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[bytes]:
        return iter(sorted(self._ids))

    def to_bytes(self) -> bytes:
        """The ids, sorted and concatenated (32 bytes each)."""
        return b"".join(sorted(self._ids))

    @classmethod
    def from_bytes(cls, data: bytes) -> ConsumedNonces:
        if not isinstance(data, bytes) or len(data) % NONCE_ID_SIZE:
            size = len(data) if isinstance(data, bytes) else type(data).__name__
            raise DecodeError(f"ConsumedNonces: expected a multiple of {NONCE_ID_SIZE} bytes, got {size}")
        return cls(data[k : k + NONCE_ID_SIZE] for k in range(0, len(data), NONCE_ID_SIZE))


def _check_id(nonce_id: object) -> None:
    if type(nonce_id) is not bytes or len(nonce_id) != NONCE_ID_SIZE:
        raise DecodeError(f"a nonce_id is {NONCE_ID_SIZE} bytes, got {nonce_id!r:.40}")
