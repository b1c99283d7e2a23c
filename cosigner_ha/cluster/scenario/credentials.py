"""An API user's REST credentials in a scenario: `api_key` (its id, as `X-API-Key` carries it) and
`public_key`, a PEM public key or the PEM CSR the user uploaded to Fireblocks, relative to the scenario
file. The key is read and checked when the scenario loads, so a bad file is refused before anything runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.inputs import InputFileError, read_bytes


@dataclasses.dataclass(frozen=True, slots=True)
class ApiPublicKey:
    """Where the key was read from (resolved) and the RSA public key itself as SubjectPublicKeyInfo PEM."""

    path: Path
    pem: str


def read_public_key(base_dir: Path, written: str) -> ApiPublicKey | str:
    """The key, or the problem (for the loader to report at `public_key`)."""
    path = (base_dir / written).resolve()
    try:
        data = read_bytes(path, what="key file")
    except InputFileError as exc:
        return (
            f"cannot read {written!r} (resolved to {path}): {exc.message}; expected a PEM public key or CSR"
        )
    try:
        if b"CERTIFICATE REQUEST" in data:
            key: object = x509.load_pem_x509_csr(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError:
        return (
            f"{written!r} holds no PEM public key or CSR; expected the API user's RSA public key or its CSR"
        )
    if not isinstance(key, rsa.RSAPublicKey):
        return f"{written!r} holds a {type(key).__name__}; expected an RSA key (the API signs requests RS256)"
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ApiPublicKey(path, pem.decode())


@dataclasses.dataclass(frozen=True, slots=True)
class HandlerPrivateKey:
    """A scripted handler's own RSA private key (`[callbacks.X] private_key`): where it was read from, the
    key as PEM, and its public half (what the node is configured with, and what the scenario hash covers)."""

    path: Path
    pem: str
    public_pem: str


def read_private_key(base_dir: Path, written: str) -> HandlerPrivateKey | str:
    """The key, or the problem (for the loader to report at `private_key`)."""
    path = (base_dir / written).resolve()
    try:
        data = read_bytes(path, what="key file")
    except InputFileError as exc:
        return f"cannot read {written!r} (resolved to {path}): {exc.message}; expected a PEM private key"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return f"{written!r} holds no unencrypted PEM private key; expected the handler's RSA private key"
    if not isinstance(key, rsa.RSAPrivateKey):
        return f"{written!r} holds a {type(key).__name__}; expected an RSA key (the handler signs RS256)"
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return HandlerPrivateKey(path, data.decode("ascii", "replace"), public.decode("ascii"))
