"""Shared helpers for the signing-core tests: seeded randomness, the shared test vectors, verifiers."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from cosigner_ha.mpc import (
    KeyPackage,
    PublicKeyPackage,
    SignatureShare,
    SigningNonces,
    SigningPackage,
    aggregate,
    commit,
    sign,
)

#: RFC 9591 and Zcash Foundation vectors, with their sources and licences in SOURCES.md beside them.
VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "frost"


def make_rng(seed: int) -> Callable[[int], bytes]:
    """A seeded byte source, standing in for the environment's DRBG."""
    return random.Random(seed).randbytes


def load_vector(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return data


def scalar(hex_le: str) -> int:
    return int.from_bytes(bytes.fromhex(hex_le), "little")


def nacl_verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(public_key).verify(message, signature)
    except BadSignatureError:
        return False
    return True


def cryptography_verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def run_round_one(
    key_packages: dict[int, KeyPackage], signers: list[int], rng: Callable[[int], bytes]
) -> tuple[dict[int, SigningNonces], dict[int, Any]]:
    nonces, commitments = {}, {}
    for i in signers:
        nonces[i], commitments[i] = commit(key_packages[i], rng)
    return nonces, commitments


def sign_message(
    key_packages: dict[int, KeyPackage],
    public: PublicKeyPackage,
    signers: list[int],
    message: bytes,
    rng: Callable[[int], bytes],
) -> bytes:
    """The whole protocol, every party on its own (the RFC's flow)."""
    nonces, commitments = run_round_one(key_packages, signers, rng)
    package = SigningPackage(message, commitments)
    shares: dict[int, SignatureShare] = {i: sign(package, nonces[i], key_packages[i]) for i in signers}
    return aggregate(package, shares, public)
