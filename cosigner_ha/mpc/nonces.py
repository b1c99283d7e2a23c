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
    """A set of consumed `nonce_id`s. `mark` is the `persist` hook for `sign_once` in memory.

    Kept compact, because a co-signer consumes one pair a signature and must remember every one for as long
    as it runs: the ids merged so far are one sorted blob (32 bytes an id, found by binary search), the
    latest few a small set that is merged in when it reaches `MERGE_AT`. A `set` of `bytes` costs about
    100 bytes an id; this about 33. The answers are exactly those of a set of the ids."""

    __slots__ = ("_recent", "_sorted")

    #: How many ids wait in the small set before a merge into the blob (which copies the blob once).
    MERGE_AT = 1024

    def __init__(self, nonce_ids: Iterable[bytes] = ()) -> None:
        self._sorted = b""  # every merged id, sorted, concatenated
        self._recent: set[bytes] = set()
        for nonce_id in nonce_ids:
            self.mark(nonce_id)

    def mark(self, nonce_id: bytes) -> None:
        """Record a pair as consumed; refuses one already recorded (that would be a second share)."""
        _check_id(nonce_id)
        if nonce_id in self:
            raise NonceReuseError(f"nonce pair {nonce_id.hex()[:16]}… is already recorded as consumed")
        self._recent.add(nonce_id)
        if len(self._recent) >= self.MERGE_AT:
            self._merge()

    def check(self, nonces: N) -> N:
        """Return `nonces` if its pair was never consumed; the gate for a pair restored from storage."""
        if nonces.nonce_id in self:
            raise NonceReuseError(
                f"restored nonce pair {nonces.nonce_id.hex()[:16]}… was already used for a signature share",
                participant=nonces.identifier,
            )
        return nonces

    def _position(self, nonce_id: bytes) -> int:
        """Index of the first merged id not below `nonce_id` (binary search over the blob)."""
        blob, size = self._sorted, NONCE_ID_SIZE
        lo, hi = 0, len(blob) // size
        while lo < hi:
            mid = (lo + hi) // 2
            if blob[mid * size : mid * size + size] < nonce_id:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _merge(self) -> None:
        """Put the recent ids into the blob at their places: one copy of the blob, no object an id."""
        if not self._recent:
            return
        pieces: list[bytes] = []
        done = 0
        for nonce_id in sorted(self._recent):
            at = self._position(nonce_id) * NONCE_ID_SIZE
            pieces += (self._sorted[done:at], nonce_id)
            done = at
        pieces.append(self._sorted[done:])
        self._sorted = b"".join(pieces)
        self._recent = set()

    def __contains__(self, nonce_id: object) -> bool:
        if nonce_id in self._recent:
            return True
        if type(nonce_id) is not bytes or len(nonce_id) != NONCE_ID_SIZE:
            return False
        at = self._position(nonce_id) * NONCE_ID_SIZE
        return self._sorted[at : at + NONCE_ID_SIZE] == nonce_id

    def __len__(self) -> int:
        return len(self._sorted) // NONCE_ID_SIZE + len(self._recent)

    def __iter__(self) -> Iterator[bytes]:
        blob = self.to_bytes()
        return (blob[k : k + NONCE_ID_SIZE] for k in range(0, len(blob), NONCE_ID_SIZE))

    def to_bytes(self) -> bytes:
        """The ids, sorted and concatenated (32 bytes each)."""
        self._merge()
        return self._sorted

    @classmethod
    def from_bytes(cls, data: bytes) -> ConsumedNonces:
        if not isinstance(data, bytes) or len(data) % NONCE_ID_SIZE:
            size = len(data) if isinstance(data, bytes) else type(data).__name__
            raise DecodeError(f"ConsumedNonces: expected a multiple of {NONCE_ID_SIZE} bytes, got {size}")
        return cls(data[k : k + NONCE_ID_SIZE] for k in range(0, len(data), NONCE_ID_SIZE))


def _check_id(nonce_id: object) -> None:
    if type(nonce_id) is not bytes or len(nonce_id) != NONCE_ID_SIZE:
        raise DecodeError(f"a nonce_id is {NONCE_ID_SIZE} bytes, got {nonce_id!r:.40}")
