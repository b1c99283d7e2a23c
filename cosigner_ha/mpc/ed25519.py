"""The FROST(Ed25519, SHA-512) ciphersuite of RFC 9591 section 6.1, over libsodium through PyNaCl.

Group elements travel as their 32-byte canonical encodings, because libsodium takes and returns bytes and
decoding costs a square root: keeping bytes avoids re-encoding between calls. Scalars are Python integers
mod L, which beat libsodium's scalar bindings (no call overhead) and read like the RFC's formulas.

libsodium's variable-base multiply validates its input point on every call with the same checks as
`crypto_core_ed25519_is_valid_point` (canonical encoding, not of small order, decodes to a curve point, in
the prime-order subgroup), so `mult_element` doubles as RFC 9591's `DeserializeElement` for a peer's point
that is only ever multiplied (the binding commitments) and refuses it with `validate_element`'s error.
Everything else coming from a peer goes through `validate_element`, whose slow path explains the failure.
"""

from __future__ import annotations

import hashlib

from nacl import bindings as _sodium
from nacl import exceptions as _exc
from nacl._sodium import ffi as _ffi
from nacl._sodium import lib as _lib
from nacl.exceptions import BadSignatureError

from .errors import (
    DecodeError,
    IdentityElementError,
    InvalidElementError,
    InvalidScalarError,
    NonCanonicalElementError,
    NotInSubgroupError,
    NotOnCurveError,
    SmallOrderElementError,
)
from .rng import Rng, random_bytes

#: Order of the prime-order subgroup (RFC 9591 section 6.1: Order).
L = 2**252 + 27742317777372353535851937790883648493
#: The field prime 2^255 - 19.
P = 2**255 - 19
#: contextString of the ciphersuite; domain-separates H1, H3, H4, H5 and the DKG hash.
CONTEXT_STRING = b"FROST-ED25519-SHA512-v1"
ELEMENT_SIZE = 32
SCALAR_SIZE = 32
#: Canonical encoding of the identity element (0, 1).
IDENTITY = b"\x01" + bytes(31)
#: Encoding of the base point B (RFC 8032).
BASE_POINT = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")

# libsodium's functions, called through PyNaCl's own cffi module (`nacl._sodium`, which its bindings call):
# each binding checks its arguments with messages formatted on every call and costs 1 to 4 us around a
# 13 to 90 us operation, about 20 calls a signed transaction. The checks that keep a call memory-safe (32
# bytes in, a 32-byte buffer out) are made here, inline; a refusal raises what the binding raised.
_POINT = _ffi.typeof("unsigned char[32]")
_new = _ffi.new
_buffer = _ffi.buffer
_lib_base = _lib.crypto_scalarmult_ed25519_base_noclamp
_lib_mult = _lib.crypto_scalarmult_ed25519_noclamp
_lib_add = _lib.crypto_core_ed25519_add
_lib_is_valid = _lib.crypto_core_ed25519_is_valid_point
_sign_open = _sodium.crypto_sign_open  # once a transaction: PyNaCl's binding (it allocates the buffers)


# The entry points as module globals: the benchmark counts group operations by wrapping these.
def _base(n: bytes) -> bytes:
    """n·B (`crypto_scalarmult_ed25519_base_noclamp`); libsodium refuses a zero result."""
    if type(n) is not bytes or len(n) != 32:
        raise _exc.TypeError("a scalar must be 32 bytes")
    q = _new(_POINT)
    if _lib_base(q, n) != 0:
        raise _exc.RuntimeError("Unexpected library error")
    return _buffer(q)[:]  # type: ignore[no-any-return]


def _mult(n: bytes, p: bytes) -> bytes:
    """n·p (`crypto_scalarmult_ed25519_noclamp`), which validates p first and refuses an invalid one."""
    if type(n) is not bytes or len(n) != 32 or type(p) is not bytes or len(p) != 32:
        raise _exc.TypeError("a scalar and a point must be 32 bytes each")
    q = _new(_POINT)
    if _lib_mult(q, n, p) != 0:
        raise _exc.RuntimeError("Unexpected library error")
    return _buffer(q)[:]  # type: ignore[no-any-return]


def _add(a: bytes, b: bytes) -> bytes:
    """a + b (`crypto_core_ed25519_add`)."""
    if type(a) is not bytes or len(a) != 32 or type(b) is not bytes or len(b) != 32:
        raise _exc.TypeError("points must be 32 bytes each")
    q = _new(_POINT)
    if _lib_add(q, a, b) != 0:
        raise _exc.RuntimeError("Unexpected library error")
    return _buffer(q)[:]  # type: ignore[no-any-return]


def _is_valid(p: bytes) -> bool:
    """`crypto_core_ed25519_is_valid_point`: canonical, not of small order, on the curve, in the subgroup."""
    if type(p) is not bytes or len(p) != 32:
        raise _exc.TypeError("a point must be 32 bytes")
    return bool(_lib_is_valid(p) == 1)


_sha512 = hashlib.sha512
_from_le = int.from_bytes


# --------------------------------------------------------------------------------------------- scalars


def scalar_to_bytes(k: int) -> bytes:
    """RFC 9591 `SerializeScalar`: 32 bytes, little-endian."""
    return k.to_bytes(32, "little")


def scalar_from_bytes(data: bytes, *, field: str, participant: int | None = None) -> int:
    """RFC 9591 `DeserializeScalar`: 32 little-endian bytes holding an integer below L."""
    if not isinstance(data, bytes) or len(data) != SCALAR_SIZE:
        got = f"{len(data)} bytes" if isinstance(data, bytes | bytearray) else type(data).__name__
        raise DecodeError(f"a scalar is {SCALAR_SIZE} bytes, got {got}", participant=participant, field=field)
    k = _from_le(data, "little")
    if k >= L:
        raise InvalidScalarError(
            "scalar is not below the group order L (non-canonical encoding)",
            participant=participant,
            field=field,
        )
    return k


def check_scalar(k: object, *, field: str, participant: int | None = None, nonzero: bool = False) -> int:
    """Check that an in-memory scalar is an int in [0, L) (or (0, L) with `nonzero`)."""
    if type(k) is not int:
        raise InvalidScalarError(
            f"expected an int scalar, got {type(k).__name__}", participant=participant, field=field
        )
    low = 1 if nonzero else 0
    if not low <= k < L:
        raise InvalidScalarError(
            f"scalar must lie in [{low}, L), got {k}", participant=participant, field=field
        )
    return k


def random_scalar(rng: Rng) -> int:
    """A uniformly random nonzero scalar: 64 random bytes reduced mod L (bias below 2^-250)."""
    while True:
        k = _from_le(random_bytes(rng, 64), "little") % L
        if k:
            return k


# --------------------------------------------------------------------------------------------- elements


def base_mult(k: int) -> bytes:
    """k·B for a scalar in [0, L). libsodium refuses zero; zero gives the identity."""
    if k == 0:
        return IDENTITY
    return _base(k.to_bytes(32, "little"))


def mult(k: int, point: bytes) -> bytes:
    """k·point for a scalar in [0, L) and a valid prime-order point (libsodium re-validates it)."""
    if k == 0:
        return IDENTITY
    return _mult(k.to_bytes(32, "little"), point)


def mult_element(k: int, point: bytes, *, field: str, participant: int | None = None) -> bytes:
    """k·point for a peer's point that was NOT validated on decoding: libsodium's multiplication validates
    it as `validate_element` would (see the module docstring), so a refused point raises exactly the error
    `validate_element` raises for it, and a valid one costs no second validation."""
    if k == 0:  # libsodium is not called: validate on its own
        validate_element(point, field=field, participant=participant)
        return IDENTITY
    try:
        return _mult(k.to_bytes(32, "little"), point)
    except (RuntimeError, TypeError):  # nacl.exceptions.RuntimeError / TypeError: libsodium refused it
        validate_element(point, field=field, participant=participant)
        raise  # a valid point and a scalar in (0, L) never fail: not an input error, let it through


def add(a: bytes, b: bytes) -> bytes:
    """a + b on encodings (libsodium decodes both, adds, re-encodes)."""
    return _add(a, b)


def sum_elements(points: list[bytes]) -> bytes:
    """Σ points; the identity for an empty list."""
    if not points:
        return IDENTITY
    total = points[0]
    for point in points[1:]:
        total = _add(total, point)
    return total


def validate_element(data: object, *, field: str, participant: int | None = None) -> bytes:
    """RFC 9591 `DeserializeElement`: return `data` if valid, else raise the specific error."""
    if isinstance(data, bytes) and len(data) == ELEMENT_SIZE and _is_valid(data):
        return data
    raise _explain_invalid(data, field=field, participant=participant)


def _explain_invalid(
    data: object, *, field: str, participant: int | None
) -> InvalidElementError | DecodeError:
    """Slow path, only on failure: say exactly why libsodium refused the element."""
    if not isinstance(data, bytes):
        return DecodeError(
            f"a group element is bytes, got {type(data).__name__}", participant=participant, field=field
        )
    if len(data) != ELEMENT_SIZE:
        return DecodeError(
            f"a group element is {ELEMENT_SIZE} bytes, got {len(data)}", participant=participant, field=field
        )
    y = _from_le(data, "little") & ((1 << 255) - 1)
    sign = data[31] >> 7
    if y >= P:
        return NonCanonicalElementError(
            "non-canonical encoding: the y coordinate is not below 2^255 - 19",
            participant=participant,
            field=field,
        )
    if data == IDENTITY:
        return IdentityElementError(
            "the identity element is not allowed", participant=participant, field=field
        )
    x = _recover_x(y)
    if x is None:
        return NotOnCurveError(
            "the bytes do not encode a point of edwards25519", participant=participant, field=field
        )
    if x == 0 and sign:
        return NonCanonicalElementError(
            "non-canonical encoding: x is zero but its sign bit is set", participant=participant, field=field
        )
    if sign != x & 1:
        x = P - x
    point = (x, y)
    for _ in range(3):
        point = _affine_add(point, point)
    if point == (0, 1):
        return SmallOrderElementError(
            "small-order point (its order divides the cofactor 8)", participant=participant, field=field
        )
    return NotInSubgroupError(
        "the point is not in the prime-order subgroup (it has a torsion component)",
        participant=participant,
        field=field,
    )


_D = -121665 * pow(121666, P - 2, P) % P
_SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y: int) -> int | None:
    """x with x^2 = (y^2 - 1) / (d y^2 + 1), or None when that is not a square (RFC 8032 5.1.3)."""
    u = (y * y - 1) % P
    v = (_D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if (v * x * x - u) % P == 0:
        return x
    if (v * x * x + u) % P == 0:
        return x * _SQRT_M1 % P
    return None


def _affine_add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = p1, p2
    t = _D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


# --------------------------------------------------------------------------------------------- hashes


def h1(m: bytes) -> int:
    """H1: binding factors ("rho")."""
    return _from_le(_sha512(CONTEXT_STRING + b"rho" + m).digest(), "little") % L


def h2(m: bytes) -> int:
    """H2: the challenge; bare SHA-512 so that signatures verify as plain RFC 8032 Ed25519."""
    return _from_le(_sha512(m).digest(), "little") % L


def h3(m: bytes) -> int:
    """H3: nonce derivation ("nonce")."""
    return _from_le(_sha512(CONTEXT_STRING + b"nonce" + m).digest(), "little") % L


def h4(m: bytes) -> bytes:
    """H4: message digest ("msg")."""
    return _sha512(CONTEXT_STRING + b"msg" + m).digest()


def h5(m: bytes) -> bytes:
    """H5: commitment-list digest ("com")."""
    return _sha512(CONTEXT_STRING + b"com" + m).digest()


def hdkg(m: bytes) -> int:
    """HDKG: the DKG proof-of-knowledge challenge ("dkg"), as the Zcash Foundation code defines it."""
    return _from_le(_sha512(CONTEXT_STRING + b"dkg" + m).digest(), "little") % L


# --------------------------------------------------------------------------------------------- signatures


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Standard RFC 8032 Ed25519 verification by libsodium (PyNaCl), the check any wallet or chain runs."""
    if len(signature) != 64 or len(public_key) != 32:
        return False
    try:
        _sign_open(signature + message, public_key)
    except BadSignatureError:
        return False
    return True
