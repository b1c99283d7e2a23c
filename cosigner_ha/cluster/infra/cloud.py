"""Simulated cloud services: object-store buckets and key management services behind key policies.

They implement the node's `ObjectStore` and `Kms` protocols (node/platform.py). KMS wraps data keys under a
customer key with AES-GCM and releases them only to an attested enclave (a Nitro document pinning PCR8, or a
Confidential Space token naming the image digest), sealed to the enclave's X25519 key."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cosigner_ha.cluster.infra.hardware import AttestationAuthority, AttestationDocument, VendorKey
from cosigner_ha.node.errors import (
    AccessDenied,
    AttestationError,
    BucketFault,
    InfraError,
)
from cosigner_ha.wire.sealing import seal

RandBytes = Callable[[int], bytes]
WallClock = Callable[[], float]


ATTESTATION_MAX_AGE = 300.0


class Bucket:
    """An object-store bucket (S3, GCS): whole-object atomic puts, access by role, injectable faults."""

    def __init__(self, name: str, *, roles: tuple[str, ...]) -> None:
        self.name = name
        self.roles = tuple(roles)
        self._objects: dict[str, bytes] = {}
        self.steps = 0
        #: Bumped by every change to the objects (puts, deletes, loss, tampering): a reader that saw the
        #: bucket at one version knows nothing changed while the version stays the same.
        self.version = 0
        self._fail_at: int | None = None

    def _check(self, role: str | None, action: str, key: str) -> None:
        if role not in self.roles:
            raise AccessDenied(
                f"bucket {self.name!r}: role {role!r} may not {action} object {key!r} "
                f"(allowed roles: {', '.join(self.roles) or 'none'})"
            )

    def fail_at(self, step: int | None) -> None:
        """The `step`-th put or delete from now fails and writes nothing."""
        self._fail_at = None if step is None else self.steps + step

    def lose(self) -> None:
        self._objects.clear()
        self.version += 1

    def get(self, key: str, *, role: str | None) -> bytes | None:
        self._check(role, "read", key)
        return self._objects.get(key)

    def list(self, prefix: str = "", *, role: str | None) -> list[str]:
        self._check(role, "list", prefix)
        return sorted(k for k in self._objects if k.startswith(prefix))

    def put(self, key: str, data: bytes, *, role: str | None) -> None:
        self._check(role, "write", key)
        self._write_step(f"put {key}")
        self._objects[key] = bytes(data)
        self.version += 1

    def delete(self, key: str, *, role: str | None) -> None:
        self._check(role, "delete", key)
        self._write_step(f"delete {key}")
        self._objects.pop(key, None)
        self.version += 1

    def _write_step(self, what: str) -> None:
        if self._fail_at is not None and self.steps >= self._fail_at:
            self._fail_at = None
            raise BucketFault(f"bucket {self.name!r}: request failed at step {self.steps}: {what}")
        self.steps += 1

    def export(self) -> dict[str, bytes]:
        """Every object, for a bucket that keeps its state on disk (`cloud serve`)."""
        return dict(self._objects)

    def restore(self, objects: dict[str, bytes], version: int) -> None:
        self._objects = dict(objects)
        self.version = version

    # The attacker's view, for tests: raw objects regardless of roles.
    def raw(self, key: str) -> bytes | None:
        return self._objects.get(key)


@dataclasses.dataclass(frozen=True, slots=True)
class KeyPolicy:
    """Who may use a customer key, and which attested image must be asking.

    `pcr8` is AWS's `kms:RecipientAttestation:PCR8` condition; `image_digest` is the Confidential Space
    workload-identity condition on `submods.container.image_digest`.
    """

    roles: tuple[str, ...]
    pcr8: bytes | None = None
    image_digest: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DataKey:
    """`GenerateDataKey`'s answer: the key encrypted under the customer key, and for the enclave."""

    ciphertext_blob: bytes
    ciphertext_for_recipient: bytes


class Kms:
    """A key management service holding customer master keys behind key policies.

    Data keys never leave it in the clear: `generate_data_key` and `decrypt` return the plaintext only
    encrypted to the public key inside a valid attestation (Nitro document or Confidential Space token)
    that satisfies the key policy.
    """

    def __init__(
        self,
        randbytes: RandBytes,
        wall: WallClock,
        *,
        name: str = "kms",
        nitro: AttestationAuthority | VendorKey | None = None,
        confidential_space: AttestationAuthority | VendorKey | None = None,
    ) -> None:
        self.name = name
        self._rand = randbytes
        self._wall = wall
        self._nitro = nitro
        self._cs = confidential_space
        self._keys: dict[str, bytes] = {}
        self.policies: dict[str, KeyPolicy] = {}

    def create_key(self, key_id: str, policy: KeyPolicy) -> str:
        if key_id in self._keys:
            raise InfraError(f"{self.name}: key {key_id!r} exists already")
        self._keys[key_id] = self._rand(32)
        self.policies[key_id] = policy
        return key_id

    def export(self) -> dict[str, dict[str, str | list[str] | None]]:
        """Keys and their policies as plain data (hex), for a KMS that keeps its state on disk."""
        return {
            key_id: {
                "key": key.hex(),
                "roles": list(self.policies[key_id].roles),
                "pcr8": None
                if self.policies[key_id].pcr8 is None
                else bytes(self.policies[key_id].pcr8 or b"").hex(),
                "image_digest": self.policies[key_id].image_digest,
            }
            for key_id, key in self._keys.items()
        }

    def restore(self, data: dict[str, dict[str, str | list[str] | None]]) -> None:
        for key_id, item in data.items():
            pcr8, digest, roles = item["pcr8"], item["image_digest"], item["roles"]
            assert isinstance(item["key"], str) and isinstance(roles, list)
            self._keys[key_id] = bytes.fromhex(item["key"])
            self.policies[key_id] = KeyPolicy(
                tuple(roles),
                None if not isinstance(pcr8, str) else bytes.fromhex(pcr8),
                digest if isinstance(digest, str) else None,
            )

    def set_policy(self, key_id: str, policy: KeyPolicy) -> None:
        """Change a key policy (a fault: revoke a role, pin another PCR8)."""
        self._key(key_id)
        self.policies[key_id] = policy

    def _key(self, key_id: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise AccessDenied(f"{self.name}: no key {key_id!r}")
        return key

    def _authorize(self, key_id: str, action: str, role: str | None, attestation: Any) -> bytes:
        """Check the policy; return the recipient public key from the attestation."""
        self._key(key_id)
        policy = self.policies[key_id]
        if role not in policy.roles:
            raise AccessDenied(
                f"{self.name}: role {role!r} is not granted {action} on key {key_id!r} "
                f"(granted: {', '.join(policy.roles) or 'nobody'})"
            )
        if isinstance(attestation, AttestationDocument):
            return self._check_nitro(key_id, policy, attestation)
        if isinstance(attestation, str):
            return self._check_confidential_space(key_id, policy, attestation)
        raise AccessDenied(
            f"{self.name}: {action} on key {key_id!r} requires an enclave attestation "
            "(the key policy releases data keys only to an attested image)"
        )

    def _check_nitro(self, key_id: str, policy: KeyPolicy, doc: AttestationDocument) -> bytes:
        if self._nitro is None or not self._nitro.verify(doc.payload, doc.signature):
            raise AttestationError(f"{self.name}: the attestation document's signature does not verify")
        claims = doc.claims()
        if abs(self._wall() - float(claims["timestamp"])) > ATTESTATION_MAX_AGE:
            raise AttestationError(f"{self.name}: the attestation document is stale")
        pcr8 = claims["pcrs"]["8"]
        if policy.pcr8 is None or pcr8 != policy.pcr8:
            raise AttestationError(
                f"{self.name}: key {key_id!r} requires PCR8 {(policy.pcr8 or b'').hex()[:24]}..., the enclave "
                f"attested PCR8 {bytes(pcr8).hex()[:24]}... (an image not signed by the expected key)"
            )
        return bytes(claims["public_key"])

    def _check_confidential_space(self, key_id: str, policy: KeyPolicy, token: str) -> bytes:
        if self._cs is None:
            raise AttestationError(f"{self.name}: this KMS does not accept Confidential Space tokens")
        try:
            claims = jwt.decode(
                token,
                Ed25519PublicKey.from_public_bytes(self._cs.public_key),
                algorithms=["EdDSA"],
                audience="kms",
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError as exc:
            raise AttestationError(f"{self.name}: the attestation token does not verify: {exc}") from None
        if not claims["iat"] - ATTESTATION_MAX_AGE <= self._wall() <= claims["exp"]:
            raise AttestationError(f"{self.name}: the attestation token is expired or not yet valid")
        digest = claims["submods"]["container"]["image_digest"]
        if policy.image_digest is None or digest != policy.image_digest:
            raise AttestationError(
                f"{self.name}: key {key_id!r} is bound to image {policy.image_digest}, the workload "
                f"attested image {digest}"
            )
        return bytes.fromhex(claims["eat_nonce"][0])

    def generate_data_key(self, key_id: str, *, role: str | None, attestation: Any) -> DataKey:
        recipient = self._authorize(key_id, "kms:GenerateDataKey", role, attestation)
        plaintext = self._rand(32)
        nonce = self._rand(12)
        blob = nonce + AESGCM(self._keys[key_id]).encrypt(nonce, plaintext, key_id.encode())
        return DataKey(blob, seal(recipient, plaintext, self._rand))

    def decrypt(self, key_id: str, ciphertext_blob: bytes, *, role: str | None, attestation: Any) -> bytes:
        """The data key inside `ciphertext_blob`, encrypted to the attested enclave's key."""
        recipient = self._authorize(key_id, "kms:Decrypt", role, attestation)
        try:
            plaintext = AESGCM(self._keys[key_id]).decrypt(
                ciphertext_blob[:12], ciphertext_blob[12:], key_id.encode()
            )
        except (InvalidTag, ValueError):
            raise InfraError(
                f"{self.name}: the ciphertext was not produced by key {key_id!r} or was modified"
            ) from None
        return seal(recipient, plaintext, self._rand)
