"""Simulated enclave hardware with real cryptography: signed images, vendors' attestation keys, SGX CPUs,
Nitro hypervisors and Confidential Space VMs.

They implement the node's `Image`, `SgxCpu`, `NitroHypervisor` and `ConfidentialSpace` protocols
(node/platform.py). SGX sealing is HKDF from a per-CPU fused secret; attestation documents and tokens are
Ed25519-signed by the vendor's key."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

import jwt
import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cosigner_ha.node.errors import (
    AttestationError,
    ImageRejected,
)
from cosigner_ha.node.platform import EnclaveKind, Image

RandBytes = Callable[[int], bytes]
WallClock = Callable[[], float]


def _ed25519(randbytes: RandBytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(randbytes(32))


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _verify_ed25519(public_key: bytes, signature: bytes, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclasses.dataclass(frozen=True, slots=True)
class EnclaveImage:
    """An enclave image (SGX enclave.signed.so, Nitro EIF, Confidential Space container).

    `code` stands for the image's bytes; `signature` is the image authority's Ed25519 signature over
    the measurement (empty when unsigned).
    """

    kind: EnclaveKind
    version: str
    code: bytes
    signer: bytes = b""
    signature: bytes = b""

    @property
    def measurement(self) -> bytes:
        """MRENCLAVE / PCR0 / image digest: a hash of everything the image is."""
        return hashlib.sha256(b"enclave-image\x00" + self.kind.encode() + b"\x00" + self.code).digest()

    @property
    def digest(self) -> str:
        """The container image digest as Confidential Space reports it."""
        return "sha256:" + self.measurement.hex()

    @property
    def pcr0(self) -> bytes:
        return hashlib.sha384(self.measurement).digest()

    @property
    def pcr8(self) -> bytes:
        """PCR8: a hash of the signing certificate; all zeros for an unsigned image."""
        return hashlib.sha384(b"signing-cert\x00" + self.signer).digest() if self.signer else bytes(48)

    @property
    def mrsigner(self) -> bytes:
        return hashlib.sha256(self.signer).digest() if self.signer else bytes(32)

    def signature_valid(self) -> bool:
        return bool(self.signer) and _verify_ed25519(self.signer, self.signature, self.measurement)

    def check_signed_by(self, trusted_signer: bytes) -> None:
        """What a loader does before it starts the image: refuse a tampered or foreign-signed one."""
        if not self.signer:
            raise ImageRejected(
                f"{self.kind} enclave image {self.version} is not signed; the loader only starts images "
                f"signed by the trusted image key {trusted_signer.hex()[:16]}..."
            )
        if self.signer != trusted_signer:
            raise ImageRejected(
                f"{self.kind} enclave image {self.version} is signed by {self.signer.hex()[:16]}..., not by "
                f"the trusted image key {trusted_signer.hex()[:16]}..."
            )
        if not self.signature_valid():
            raise ImageRejected(
                f"{self.kind} enclave image {self.version}: the signature does not match the image "
                f"(measurement {self.measurement.hex()[:16]}...): the image was tampered with"
            )

    def tampered(self) -> EnclaveImage:
        """The same image with modified code and the original signature (a tampering attacker's image)."""
        return dataclasses.replace(self, code=self.code + b"\x00backdoor")


class ImageAuthority:
    """The vendor's image-signing key (Fireblocks): signs the enclave images it publishes."""

    def __init__(self, randbytes: RandBytes, name: str = "fireblocks") -> None:
        self.name = name
        self._key = _ed25519(randbytes)
        self.public_key = _raw_public(self._key)

    def image(self, kind: EnclaveKind, version: str = "1.0.0") -> EnclaveImage:
        code = f"{self.name}/{kind}/{version}".encode()
        unsigned = EnclaveImage(kind, version, code)
        return dataclasses.replace(
            unsigned, signer=self.public_key, signature=self._key.sign(unsigned.measurement)
        )

    def unsigned(self, kind: EnclaveKind, version: str = "1.0.0") -> EnclaveImage:
        """An unofficial build of the same version: other bits, no signature."""
        return EnclaveImage(kind, version, f"unofficial-build/{kind}/{version}".encode())


class AttestationAuthority:
    """A hardware or cloud vendor's attestation key: Intel (SGX quotes), AWS Nitro, Google Confidential Space.

    Verifiers (the SaaS's SGX attestation service, KMS) hold `public_key`.
    """

    def __init__(self, randbytes: RandBytes, name: str) -> None:
        self.name = name
        self._key = _ed25519(randbytes)
        self.public_key = _raw_public(self._key)

    def sign(self, document: bytes) -> bytes:
        return self._key.sign(document)

    def issue_token(self, claims: dict[str, Any]) -> str:
        """An EdDSA JWT (Confidential Space attestation tokens are OIDC tokens)."""
        return jwt.encode(claims, self._key, algorithm="EdDSA")

    def verify(self, document: bytes, signature: bytes) -> bool:
        return _verify_ed25519(self.public_key, signature, document)


class VendorKey:
    """A vendor's attestation public key alone: what a verifier in another process (the cloud services'
    KMS) holds, never the signing key."""

    def __init__(self, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise ValueError(
                f"an attestation vendor key is a 32-byte Ed25519 public key, got {len(public_key)}"
            )
        self.public_key = public_key

    def verify(self, document: bytes, signature: bytes) -> bool:
        return _verify_ed25519(self.public_key, signature, document)


@dataclasses.dataclass(frozen=True, slots=True)
class AttestationDocument:
    """A signed statement by the platform: which image runs, on which host, holding which key."""

    payload: bytes
    signature: bytes

    def claims(self) -> dict[str, Any]:
        data = msgpack.unpackb(self.payload, raw=False)
        if not isinstance(data, dict):
            raise AttestationError("attestation document payload is not a map")
        return data


class SgxCpu:
    """A host CPU with SGX: a fused sealing secret, and reports signed on its behalf by the vendor key.

    Sealing uses the MRSIGNER policy: any image from the same signer on the same CPU derives the same
    key (so an upgrade opens the database), a different CPU or signer derives another.
    """

    def __init__(self, cpu_id: str, randbytes: RandBytes, vendor: AttestationAuthority) -> None:
        self.cpu_id = cpu_id
        self._fused = randbytes(32)
        self._vendor = vendor

    def sealing_key(self, image: Image) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=self.cpu_id.encode(),
            info=b"sgx-seal/" + image.mrsigner,
        ).derive(self._fused)

    def quote(self, report: bytes) -> bytes:
        """The quoting enclave's signature over a report (measurement, host, enclave key...)."""
        return self._vendor.sign(report)


class NitroHypervisor:
    """The Nitro hypervisor of one EC2 instance: it measures the enclave and signs attestation documents."""

    def __init__(self, instance_id: str, vendor: AttestationAuthority, wall: WallClock) -> None:
        self.instance_id = instance_id
        self._vendor = vendor
        self._wall = wall

    def attest(self, image: Image, public_key: bytes) -> AttestationDocument:
        payload = msgpack.packb(
            {
                "module_id": self.instance_id,
                "timestamp": self._wall(),
                "pcrs": {"0": image.pcr0, "8": image.pcr8},
                "public_key": public_key,
            },
            use_bin_type=True,
        )
        return AttestationDocument(payload, self._vendor.sign(payload))


class ConfidentialSpace:
    """Google's Confidential Space attestation for one VM: OIDC tokens naming the container image digest."""

    ISSUER = "https://confidentialcomputing.googleapis.com"

    def __init__(self, instance: str, vendor: AttestationAuthority, wall: WallClock) -> None:
        self.instance = instance
        self._vendor = vendor
        self._wall = wall

    def token(self, image: Image, service_account: str, public_key: bytes) -> str:
        now = int(self._wall())
        return self._vendor.issue_token(
            {
                "iss": self.ISSUER,
                "sub": f"instances/{self.instance}",
                "aud": "kms",
                "iat": now,
                "exp": now + 3600,
                "submods": {"container": {"image_digest": image.digest}},
                "google_service_accounts": [service_account],
                "eat_nonce": [public_key.hex()],
            }
        )
