"""What the node needs from the machine and the cloud it runs on, as small protocols.

The node never imports the world: the simulated one (cosigner_ha/cluster/infra) implements these protocols
in memory with real cryptography, and the runtime implements them for real (a directory for `Disk`, cloud
services reached over the network for `Kms` and `ObjectStore`). Errors are part of the contract: a `Disk`
raises `DiskFault` when power is lost mid-write, an `ObjectStore` raises `BucketFault` or `AccessDenied`, a
`Kms` raises `AccessDenied` or `AttestationError` (cosigner_ha/node/errors.py).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

EnclaveKind = Literal["sgx", "nitro", "gcp", "communal"]


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


class Image(Protocol):
    """An enclave image (SGX enclave.signed.so, Nitro EIF, Confidential Space container)."""

    @property
    def kind(self) -> EnclaveKind: ...

    @property
    def version(self) -> str: ...

    @property
    def signer(self) -> bytes: ...

    @property
    def measurement(self) -> bytes:
        """MRENCLAVE / PCR0 / image digest: a hash of everything the image is."""
        ...

    @property
    def digest(self) -> str: ...

    @property
    def pcr0(self) -> bytes: ...

    @property
    def pcr8(self) -> bytes: ...

    @property
    def mrsigner(self) -> bytes: ...

    def signature_valid(self) -> bool: ...

    def check_signed_by(self, trusted_signer: bytes) -> None:
        """Refuse (`ImageRejected`) a tampered or foreign-signed image, as a loader does."""
        ...


class SgxCpu(Protocol):
    """An SGX-capable CPU: a sealing key per image signer, and quotes signed by the vendor."""

    @property
    def cpu_id(self) -> str: ...

    def sealing_key(self, image: Image) -> bytes: ...

    def quote(self, report: bytes) -> bytes: ...


class NitroHypervisor(Protocol):
    """A Nitro instance's hypervisor: attestation documents naming the image's PCRs and the enclave's key."""

    def attest(self, image: Image, public_key: bytes) -> Any: ...


class ConfidentialSpace(Protocol):
    """A Confidential Space VM: attestation tokens naming the container image digest."""

    def token(self, image: Image, service_account: str, public_key: bytes) -> str: ...


class DataKey(Protocol):
    """`GenerateDataKey`'s answer: the key under the customer key, and sealed to the enclave."""

    @property
    def ciphertext_blob(self) -> bytes: ...

    @property
    def ciphertext_for_recipient(self) -> bytes: ...


class Kms(Protocol):
    """A key management service that releases data keys only to an attested enclave."""

    @property
    def name(self) -> str: ...

    def generate_data_key(self, key_id: str, *, role: str | None, attestation: Any) -> DataKey: ...

    def decrypt(
        self, key_id: str, ciphertext_blob: bytes, *, role: str | None, attestation: Any
    ) -> bytes: ...


class ObjectStore(Protocol):
    """An object-store bucket (S3, GCS): whole-object atomic puts, access by role.

    `version` changes with every change to the objects, so a reader knows nothing moved while it is equal.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    def get(self, key: str, *, role: str | None) -> bytes | None: ...

    def list(self, prefix: str = "", *, role: str | None) -> list[str]: ...

    def put(self, key: str, data: bytes, *, role: str | None) -> None: ...

    def delete(self, key: str, *, role: str | None) -> None: ...


class Host(Protocol):
    """A machine a node runs on: its disk, and whatever enclave hardware and cloud identity it has."""

    @property
    def name(self) -> str: ...

    @property
    def disk(self) -> Disk: ...

    @property
    def role(self) -> str | None:
        """IAM instance role / GCP service account."""
        ...

    @property
    def sgx(self) -> SgxCpu | None: ...

    @property
    def nitro(self) -> NitroHypervisor | None: ...

    @property
    def confidential_space(self) -> ConfidentialSpace | None: ...
