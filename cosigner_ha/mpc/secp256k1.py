"""secp256k1 group operations over libsecp256k1 (coincurve), and the hashes FROST needs on that curve.

Elements travel as 33-byte SEC 1 compressed encodings, scalars as Python integers mod N (serialized
32-byte big-endian, as RFC 9591 section 6.5 specifies). secp256k1 has cofactor 1, so a point that parses
is in the group; validation reduces to length, prefix, a canonical x below p and the curve equation.
Hash-to-scalar is RFC 9380 `hash_to_field` with `expand_message_xmd` over SHA-256 (L = 48), as RFC 9591
uses for H1, H3 and, in its own suite, H2; BIP-340's tagged hashes serve the BIP-340-compatible suite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from coincurve import PublicKey

from .errors import (
    DecodeError,
    IdentityElementError,
    InvalidScalarError,
    NonCanonicalElementError,
    NotOnCurveError,
)

#: Order of the secp256k1 group.
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: The field prime.
P = 2**256 - 2**32 - 977
ELEMENT_SIZE = 33
SCALAR_SIZE = 32


def scalar_to_bytes(k: int) -> bytes:
    return k.to_bytes(32, "big")


def scalar_from_bytes(data: bytes, *, field: str, participant: int | None = None) -> int:
    if not isinstance(data, bytes) or len(data) != SCALAR_SIZE:
        raise DecodeError(f"a scalar is {SCALAR_SIZE} bytes", participant=participant, field=field)
    k = int.from_bytes(data, "big")
    if k >= N:
        raise InvalidScalarError(
            "scalar is not below the group order N", participant=participant, field=field
        )
    return k


def base_mult(k: int) -> bytes:
    """k·G for k in [1, N). (The identity has no 33-byte encoding; a zero scalar is refused.)"""
    if not 0 < k < N:
        raise InvalidScalarError(f"k·G needs a scalar in [1, N), got {k}", field="scalar")
    return PublicKey.from_valid_secret(k.to_bytes(32, "big")).format()


def mult(k: int, point: bytes) -> bytes:
    return PublicKey(point).multiply(k.to_bytes(32, "big")).format()


def sum_elements(points: Sequence[bytes]) -> bytes:
    """Σ points (at least one); libsecp256k1 refuses an identity result, which needs a hash collision here."""
    if len(points) == 1:
        return points[0]
    return PublicKey.combine_keys([PublicKey(p) for p in points]).format()


def negate(point: bytes) -> bytes:
    """-P: the same x with the other y, i.e. the other compressed prefix."""
    return bytes((point[0] ^ 1,)) + point[1:]


def has_even_y(point: bytes) -> bool:
    return point[0] == 2


def validate_element(data: object, *, field: str, participant: int | None = None) -> bytes:
    """RFC 9591 `DeserializeElement` for secp256k1, with a specific error for each way to fail."""
    if not isinstance(data, bytes) or len(data) != ELEMENT_SIZE:
        got = f"{len(data)} bytes" if isinstance(data, bytes) else type(data).__name__
        raise DecodeError(
            f"a secp256k1 element is {ELEMENT_SIZE} compressed bytes, got {got}",
            participant=participant,
            field=field,
        )
    if data == bytes(ELEMENT_SIZE):
        raise IdentityElementError(
            "the identity element is not allowed", participant=participant, field=field
        )
    if data[0] not in (2, 3):
        raise DecodeError(
            f"a compressed point starts with 0x02 or 0x03, got 0x{data[0]:02x}",
            participant=participant,
            field=field,
        )
    if int.from_bytes(data[1:], "big") >= P:
        raise NonCanonicalElementError("x is not below the field prime", participant=participant, field=field)
    try:
        PublicKey(data)
    except ValueError:
        raise NotOnCurveError(
            "no point of secp256k1 has this x", participant=participant, field=field
        ) from None
    return data


def expand_message_xmd(message: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 section 5.3.1 with SHA-256."""
    if len(dst) > 255 or length > 255 * 32:
        raise ValueError("expand_message_xmd: DST or output too long")
    dst_prime = dst + bytes((len(dst),))
    b0 = hashlib.sha256(bytes(64) + message + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    blocks = [hashlib.sha256(b0 + b"\x01" + dst_prime).digest()]
    while 32 * len(blocks) < length:
        mixed = bytes(x ^ y for x, y in zip(b0, blocks[-1], strict=True))
        blocks.append(hashlib.sha256(mixed + bytes((len(blocks) + 1,)) + dst_prime).digest())
    return b"".join(blocks)[:length]


def hash_to_scalar(message: bytes, dst: bytes) -> int:
    """RFC 9380 `hash_to_field` to the scalar field, count 1, L = 48 (bias below 2^-128)."""
    return int.from_bytes(expand_message_xmd(message, dst, 48), "big") % N


def tagged_hash(tag: bytes, message: bytes) -> bytes:
    """BIP-340 tagged hash: SHA-256(SHA-256(tag) ‖ SHA-256(tag) ‖ message)."""
    tag_hash = hashlib.sha256(tag).digest()
    return hashlib.sha256(tag_hash + tag_hash + message).digest()
