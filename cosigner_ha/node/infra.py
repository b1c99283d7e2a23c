"""Simulated infrastructure with real cryptography: disks, CPUs, attestation, KMS, buckets, images.

The cluster runner creates these plain in-memory objects, hands them to nodes and injects faults into
them (disk loss, a failing write, a tampered image, a revoked KMS grant). Nothing here is a stand-in
for the cryptography: SGX sealing is AES-GCM under a key derived from a per-CPU secret, attestation
documents are Ed25519-signed by a vendor key, KMS wraps data keys under a customer key with AES-GCM and
hands them to an attested enclave only, encrypted to the enclave's X25519 key.

All randomness comes from the `randbytes` callable the runner passes (the environment's DRBG in
simulation), all time from the `wall` callable (the environment's wall clock).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import posixpath
from collections.abc import Callable
from typing import Any, Literal, Protocol

import jwt
import msgpack
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cosigner_ha.node.errors import (
    AccessDenied,
    AttestationError,
    BucketFault,
    DiskFault,
    ImageRejected,
    InfraError,
)
from cosigner_ha.wire.sealing import seal

RandBytes = Callable[[int], bytes]
WallClock = Callable[[], float]

#: How long an attestation document or token is accepted after it was made.
ATTESTATION_MAX_AGE = 300.0


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


# --- disks -----------------------------------------------------------------------------------------------


class Disk(Protocol):
    """The file-system operations the node uses; paths are POSIX paths."""

    def read(self, path: str) -> bytes | None: ...

    def exists(self, path: str) -> bool: ...

    def size(self, path: str) -> int: ...

    def listdir(self, directory: str) -> list[str]: ...

    def create(self, path: str) -> None: ...

    def append(self, path: str, data: bytes) -> None: ...

    def fsync(self, path: str) -> None: ...

    def rename(self, source: str, target: str) -> None: ...

    def remove(self, path: str) -> None: ...

    def fsync_dir(self, directory: str) -> None: ...


class SimDisk:
    """A host disk with the durability rules of a POSIX file system, and a fault at any write step.

    Writes land in a volatile cache; `fsync(path)` makes a file's contents durable and `fsync_dir(dir)`
    makes that directory's entries (creations, renames, removals) durable. A power loss (an injected
    `DiskFault`, or `power_loss()`) keeps only what was durable: a file whose contents were never synced
    comes back empty, a rename that was never synced is undone. Appends are written block by block, each
    block a step, so a crash can leave any prefix of an append in the cache.

    With `writeback=True` the opposite worst case holds: the cache was written back just before the
    crash, so every completed step survives (a writer that updates a file in place is caught torn).

    Every mutating call is one or more numbered *steps*; `fail_at(n)` makes step `n` (counted from now)
    raise `DiskFault` before it happens, after which the disk is as after a power loss.
    """

    BLOCK = 4096

    def __init__(self, name: str = "disk", *, writeback: bool = False) -> None:
        self.name = name
        self.writeback = writeback
        self._names: dict[str, int] = {}
        self._data: dict[int, bytearray] = {}
        self._durable_names: dict[str, int] = {}
        self._durable_data: dict[int, bytearray] = {}
        self._truncated: set[int] = set()  # inodes truncated since their last fsync (else: only appended to)
        self._next_inode = 1
        self.steps = 0
        self._fail_at: int | None = None
        self.lost = False

    # -- faults --

    def fail_at(self, step: int | None) -> None:
        """Arm a fault: the `step`-th write step from now (0 = the next one) raises `DiskFault`."""
        self._fail_at = None if step is None else self.steps + step

    def power_loss(self) -> None:
        """Drop everything that was not durable, as a crash of the host does."""
        if self.writeback:
            self._durable_names = dict(self._names)
            self._durable_data = {
                ino: bytearray(self._data[ino]) for ino in sorted(set(self._names.values()))
            }
        self._names = dict(self._durable_names)
        self._data = {
            ino: bytearray(self._durable_data.get(ino, b"")) for ino in sorted(set(self._names.values()))
        }
        self._truncated = set()

    def lose(self) -> None:
        """The disk is gone (disk-loss fault): a blank replacement disk takes its place."""
        self._names, self._data, self._durable_names, self._durable_data = {}, {}, {}, {}
        self.lost = True

    def clone(self) -> SimDisk:
        """An independent copy (for tests that replay a write against every crash point)."""
        return copy.deepcopy(self)

    def _step(self, what: str) -> None:
        if self._fail_at is not None and self.steps >= self._fail_at:
            self._fail_at = None
            self.power_loss()
            raise DiskFault(
                f"disk {self.name!r}: I/O failure (power loss) at write step {self.steps}: {what}"
            )
        self.steps += 1

    # -- reads (no steps) --

    def read(self, path: str) -> bytes | None:
        ino = self._names.get(path)
        return None if ino is None else bytes(self._data[ino])

    def exists(self, path: str) -> bool:
        return path in self._names

    def size(self, path: str) -> int:
        ino = self._names.get(path)
        return 0 if ino is None else len(self._data[ino])

    def listdir(self, directory: str) -> list[str]:
        """Names directly under `directory`, sorted."""
        directory = directory.rstrip("/") or "/"
        return sorted(posixpath.basename(p) for p in self._names if posixpath.dirname(p) == directory)

    # -- write steps --

    def create(self, path: str) -> None:
        """Create `path`, or truncate it in place (`O_CREAT | O_TRUNC`)."""
        self._step(f"create {path}")
        ino = self._names.get(path)
        if ino is None:
            ino = self._next_inode
            self._next_inode += 1
            self._names[path] = ino
        self._data[ino] = bytearray()
        self._truncated.add(ino)

    def append(self, path: str, data: bytes) -> None:
        ino = self._names.get(path)
        if ino is None:
            raise InfraError(f"disk {self.name!r}: append to {path}, which does not exist")
        for start in range(0, max(len(data), 1), self.BLOCK):
            self._step(f"append to {path} at byte {start}")
            self._data[ino] += data[start : start + self.BLOCK]

    def fsync(self, path: str) -> None:
        ino = self._names.get(path)
        if ino is None:
            raise InfraError(f"disk {self.name!r}: fsync of {path}, which does not exist")
        self._step(f"fsync {path}")
        durable = self._durable_data.get(ino)
        if durable is None or ino in self._truncated or len(durable) > len(self._data[ino]):
            self._durable_data[ino] = bytearray(self._data[ino])
            self._truncated.discard(ino)
        else:  # only appended to since the last sync: the durable copy grows by the new tail
            durable += self._data[ino][len(durable) :]

    def rename(self, source: str, target: str) -> None:
        """Atomically replace `target` with `source` (POSIX `rename`)."""
        if source not in self._names:
            raise InfraError(f"disk {self.name!r}: rename of {source}, which does not exist")
        self._step(f"rename {source} -> {target}")
        self._names[target] = self._names.pop(source)

    def remove(self, path: str) -> None:
        if path not in self._names:
            return
        self._step(f"remove {path}")
        del self._names[path]

    def fsync_dir(self, directory: str) -> None:
        """Make the entries of `directory` durable as they are now."""
        directory = directory.rstrip("/") or "/"
        self._step(f"fsync directory {directory}")
        for path in [p for p in self._durable_names if posixpath.dirname(p) == directory]:
            if path not in self._names:
                del self._durable_names[path]
        for path, ino in self._names.items():
            if posixpath.dirname(path) == directory:
                self._durable_names[path] = ino


# --- images ----------------------------------------------------------------------------------------------

EnclaveKind = Literal["sgx", "nitro", "gcp", "communal"]


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


# --- attestation -----------------------------------------------------------------------------------------


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

    def sealing_key(self, image: EnclaveImage) -> bytes:
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

    def attest(self, image: EnclaveImage, public_key: bytes) -> AttestationDocument:
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

    def token(self, image: EnclaveImage, service_account: str, public_key: bytes) -> str:
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


# --- object store ----------------------------------------------------------------------------------------


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

    # The attacker's view, for tests: raw objects regardless of roles.
    def raw(self, key: str) -> bytes | None:
        return self._objects.get(key)


# --- KMS -------------------------------------------------------------------------------------------------


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
        nitro: AttestationAuthority | None = None,
        confidential_space: AttestationAuthority | None = None,
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


# --- hosts and the whole estate --------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class Host:
    """A machine a node runs on: its disk, and whatever enclave hardware and cloud identity it has."""

    name: str
    site: str
    disk: Disk
    role: str | None = None  # IAM instance role / GCP service account
    sgx: SgxCpu | None = None
    nitro: NitroHypervisor | None = None
    confidential_space: ConfidentialSpace | None = None


class Infrastructure:
    """Everything a cluster's nodes run on, made from one randomness source and one wall clock.

    `intel`, `aws_nitro`, `google`: attestation authorities (the SaaS's SGX attestation service is given
    `intel.public_key`); `images`: the image-signing authority whose key the loaders trust; `aws_kms`,
    `gcp_kms`: key services; `hosts` and `buckets` by name.
    """

    def __init__(self, randbytes: RandBytes, wall: WallClock) -> None:
        self._rand = randbytes
        self.wall = wall
        self.intel = AttestationAuthority(randbytes, "intel-sgx")
        self.aws_nitro = AttestationAuthority(randbytes, "aws-nitro")
        self.google = AttestationAuthority(randbytes, "gcp-confidential-space")
        self.images = ImageAuthority(randbytes)
        self.aws_kms = Kms(randbytes, wall, name="aws-kms", nitro=self.aws_nitro)
        self.gcp_kms = Kms(randbytes, wall, name="gcp-kms", confidential_space=self.google)
        self.hosts: dict[str, Host] = {}
        self.buckets: dict[str, Bucket] = {}

    def host(
        self,
        name: str,
        *,
        site: str = "",
        sgx: bool = False,
        nitro: bool = False,
        confidential_space: bool = False,
        role: str | None = None,
    ) -> Host:
        if name in self.hosts:
            raise InfraError(f"host {name!r} exists already")
        host = Host(
            name,
            site,
            SimDisk(name),
            role=role,
            sgx=SgxCpu(f"cpu-{name}", self._rand, self.intel) if sgx else None,
            nitro=NitroHypervisor(f"i-{name}", self.aws_nitro, self.wall) if nitro else None,
            confidential_space=ConfidentialSpace(name, self.google, self.wall)
            if confidential_space
            else None,
        )
        self.hosts[name] = host
        return host

    def bucket(self, name: str, *, roles: tuple[str, ...]) -> Bucket:
        if name in self.buckets:
            raise InfraError(f"bucket {name!r} exists already")
        bucket = Bucket(name, roles=roles)
        self.buckets[name] = bucket
        return bucket
