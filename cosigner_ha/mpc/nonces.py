"""The set of consumed nonce pairs a node persists, so that no pair ever signs twice.

The in-process guarantee lives in `SigningNonces` (consumed on use, not copyable). Across a crash, a restart
or a restore from an old backup, only durable state can help: a node keeps the `nonce_id` of every pair it
has signed with, writes it before it releases the share (`sign_once(..., persist=...)`), and refuses a
restored pair whose id it already holds (`check`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .errors import DecodeError, NonceReuseError
from .signing import SigningNonces

NONCE_ID_SIZE = 32


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

    def check(self, nonces: SigningNonces) -> SigningNonces:
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
