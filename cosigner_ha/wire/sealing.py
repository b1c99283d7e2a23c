"""Sealing a secret to an enclave's X25519 key: `ephemeral_public (32) || nonce (24) || ciphertext`.

A PyNaCl `Box` between a fresh ephemeral key and the recipient, with the ephemeral key and the nonce drawn
from the caller's randomness (the environment's DRBG in simulation), not `SealedBox`, which draws OS
randomness and would break replay. The recipient opens it with `Box(own_private, ephemeral_public)`.
Node and SaaS both speak it: resharing contributions (`PairCompleted.contributions`), the SGX database key
from the attestation service, and the data keys a KMS releases to an attested enclave.
"""

from __future__ import annotations

from collections.abc import Callable

from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey

EPHEMERAL_SIZE = 32
NONCE_SIZE = Box.NONCE_SIZE
MAC_SIZE = 16  # Poly1305 tag


class SealError(ValueError):
    """The sealed bytes are too short, or do not open under the given key."""


def seal(recipient: bytes, plaintext: bytes, randbytes: Callable[[int], bytes]) -> bytes:
    if len(recipient) != 32:
        raise SealError(f"an X25519 public key is 32 bytes, got {len(recipient)}")
    ephemeral = PrivateKey(randbytes(32))
    nonce = randbytes(NONCE_SIZE)
    box = Box(ephemeral, PublicKey(recipient))
    return bytes(ephemeral.public_key) + nonce + bytes(box.encrypt(plaintext, nonce).ciphertext)


def unseal(private_key: bytes, sealed: bytes) -> bytes:
    """The recipient's side (used by tests and by anyone checking the format)."""
    if len(sealed) < EPHEMERAL_SIZE + NONCE_SIZE + MAC_SIZE:
        raise SealError(f"sealed data of {len(sealed)} bytes is shorter than the envelope")
    ephemeral = PublicKey(sealed[:EPHEMERAL_SIZE])
    nonce = sealed[EPHEMERAL_SIZE : EPHEMERAL_SIZE + NONCE_SIZE]
    try:
        return bytes(
            Box(PrivateKey(private_key), ephemeral).decrypt(sealed[EPHEMERAL_SIZE + NONCE_SIZE :], nonce)
        )
    except CryptoError:
        raise SealError("sealed data does not open under this key (wrong recipient or tampered)") from None
