"""RSA keys for the callback handler's JWT mode (RS256), built from a given randomness source.

`cryptography` generates RSA keys only from the OS random source, which a simulation must never read:
the same seed has to give the same keys. So the primes are drawn here, from the `randbytes` the caller
passes (the environment's DRBG), found by GMP, and assembled with `RSAPrivateNumbers`.
PKCS#1 v1.5 signing is deterministic, so the JWTs a simulation produces replay byte for byte.
The prime search is GMP's (gmpy2 `next_prime`): its sieve and primality tests are faster than a search
written here, and the search is most of a simulation's set-up time.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
from collections.abc import Callable

import gmpy2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

PUBLIC_EXPONENT = 65537


def _prime(bits: int, randbytes: Callable[[int], bytes]) -> int:
    """The first prime p at or above a random `bits`-bit draw with gcd(p - 1, e) = 1.

    GMP's `next_prime` sieves the numbers after the draw and tests the survivors (Baillie-PSW and
    Miller-Rabin, deterministic): a function of the draw alone, found in about 60% of the time our own
    trial division and Miller-Rabin took (27 against 45 ms a key)."""
    while True:
        # top two bits set: the product of two such primes has exactly 2 * bits bits
        candidate = int.from_bytes(randbytes(bits // 8), "big") | (3 << (bits - 2))
        prime = int(gmpy2.next_prime(candidate))
        while math.gcd(prime - 1, PUBLIC_EXPONENT) != 1:
            prime = int(gmpy2.next_prime(prime))
        if prime.bit_length() == bits:
            return prime


def generate_rsa_key(randbytes: Callable[[int], bytes], bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key that is a function of 32 bytes drawn from `randbytes`.

    The primes are searched from draws of a ChaCha20 stream keyed by that draw, and the key is memoised
    on it: tests and repeated simulations with one seed ask for the same keys again.
    """
    if bits % 16 or bits < 1024:
        raise ValueError(f"RSA key size must be a multiple of 16 and at least 1024 bits, got {bits}")
    return _key_from_seed(randbytes(32), bits)


@functools.lru_cache(maxsize=64)
def _key_from_seed(seed: bytes, bits: int) -> rsa.RSAPrivateKey:
    stream = Cipher(algorithms.ChaCha20(seed, bytes(16)), mode=None).encryptor()

    def randbytes(n: int) -> bytes:
        return stream.update(bytes(n))

    while True:
        p, q = _prime(bits // 2, randbytes), _prime(bits // 2, randbytes)
        if p == q:
            continue
        n = p * q
        lam = math.lcm(p - 1, q - 1)
        d = pow(PUBLIC_EXPONENT, -1, lam)
        numbers = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=d % (p - 1),
            dmq1=d % (q - 1),
            iqmp=pow(q, -1, p),
            public_numbers=rsa.RSAPublicNumbers(PUBLIC_EXPONENT, n),
        )
        return numbers.private_key(unsafe_skip_rsa_key_validation=True)  # built and checked above


def private_key_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key_der(data: bytes) -> rsa.RSAPrivateKey:
    """The node's own key, back from its sealed database.

    OpenSSL's RSA key validation (35 ms for RSA-2048, paid at every boot) is skipped: these bytes were
    written by `private_key_der` from a key built and checked by `generate_rsa_key`, and come back only
    through the database's authenticated sealing, which refuses anything else.
    """
    key = serialization.load_der_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the stored callback key is not an RSA key")
    return key


def public_key_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key_pem(pem: str, *, what: str = "public key") -> rsa.RSAPublicKey:
    """An RSA public key of at least 2048 bits, or `ValueError` saying what is wrong with the PEM."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what} is not a PEM public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{what} is a {type(key).__name__}, expected an RSA key (RS256)")
    if key.key_size < 2048:
        raise ValueError(f"{what} is RSA-{key.key_size}; at least RSA-2048 is required")
    return key


def load_private_key_pem(pem: bytes, *, what: str = "private key") -> rsa.RSAPrivateKey:
    """An unencrypted RSA private key from PEM, or `ValueError` naming `what` (a file, say) and the fault."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{what} is a {type(key).__name__}, expected an RSA private key (PEM)")
    return key


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def thumbprint(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint: the `kid` a JWT names its signing key by."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    numbers = public.public_numbers()
    jwk = json.dumps({"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(jwk.encode()).digest()).rstrip(b"=").decode()
