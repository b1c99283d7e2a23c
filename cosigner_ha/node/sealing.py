"""The sealed envelope every secret file uses: a readable header, AES-256-GCM over the contents.

Layout: `MAGIC | u32 header length | header (msgpack map) | nonce (12) | ciphertext and tag`. The header
is authenticated (it is the AAD) but not secret: it says what the file is (`kind`), which co-signer it
belongs to, its generation, and a fingerprint of the key it was sealed under. The fingerprint lets a
failed open say *why*: another key (a database from another co-signer, a moved SGX file) or modified
bytes (tampering, a torn write).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable
from typing import Any

import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cosigner_ha.node.errors import DatabaseCorrupt, DatabaseTampered

MAGIC = b"CHSEAL1\n"
_LEN = struct.Struct(">I")
NONCE_SIZE = 12
KEY_SIZE = 32


def key_fingerprint(key: bytes) -> bytes:
    """A short public tag of a key: equal for the same key, and reveals nothing about it."""
    return hmac.new(key, b"cosigner-ha/key-fingerprint", hashlib.sha256).digest()[:8]


def seal(key: bytes, header: dict[str, Any], plaintext: bytes, randbytes: Callable[[int], bytes]) -> bytes:
    if len(key) != KEY_SIZE:
        raise ValueError(f"sealing key must be {KEY_SIZE} bytes, got {len(key)}")
    head: bytes = msgpack.packb({**header, "key": key_fingerprint(key)}, use_bin_type=True)
    aad = MAGIC + _LEN.pack(len(head)) + head
    nonce = randbytes(NONCE_SIZE)
    return aad + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def read_header(data: bytes, *, where: str) -> dict[str, Any]:
    """The header alone (no key needed): `DatabaseCorrupt` when `data` is not an envelope."""
    header, _ = _split(data, where)
    return header


def _split(data: bytes, where: str) -> tuple[dict[str, Any], int]:
    if not data.startswith(MAGIC):
        raise DatabaseCorrupt(f"{where}: not a sealed file (expected it to start with {MAGIC!r})")
    start = len(MAGIC) + _LEN.size
    if len(data) < start:
        raise DatabaseCorrupt(f"{where}: truncated inside the header ({len(data)} bytes)")
    (length,) = _LEN.unpack_from(data, len(MAGIC))
    end = start + length
    if len(data) < end + NONCE_SIZE + 16:
        raise DatabaseCorrupt(f"{where}: truncated ({len(data)} bytes; the header alone says {end})")
    try:
        header = msgpack.unpackb(data[start:end], raw=False)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise DatabaseCorrupt(f"{where}: unreadable header: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("key"), bytes):
        raise DatabaseCorrupt(f"{where}: the header is not a map with a key fingerprint")
    return header, end


def unseal(key: bytes, data: bytes, *, where: str, kind: str) -> tuple[dict[str, Any], bytes]:
    """Header and plaintext; `DatabaseCorrupt` or `DatabaseTampered` saying which and where."""
    header, end = _split(data, where)
    if header.get("kind") != kind:
        raise DatabaseCorrupt(f"{where}: holds a {header.get('kind')!r} file, expected a {kind!r} file")
    if header["key"] != key_fingerprint(key):
        raise DatabaseTampered(
            f"{where}: sealed under another key (fingerprint {header['key'].hex()}, this enclave's key is "
            f"{key_fingerprint(key).hex()}): the file belongs to another co-signer or another data key"
        )
    nonce = data[end : end + NONCE_SIZE]
    try:
        plaintext = AESGCM(key).decrypt(nonce, data[end + NONCE_SIZE :], data[:end])
    except InvalidTag:
        raise DatabaseTampered(
            f"{where}: authentication failed: the sealed bytes were modified after sealing"
        ) from None
    return header, plaintext
