"""Enclave backends: how each kind of co-signer proves what it runs and gets its database key.

- **SGX** (and **communal**, the vendor-run sandbox co-signer, which is built the same way): the loader
  checks the enclave's signature; the enclave reports its measurement to the SaaS's attestation service
  (over the wire, `AttestationQuote`); the first time, the service's answer carries the database key,
  which the enclave seals to the host CPU and keeps on the host disk with the database. Later boots
  attest again and unseal the key; on another CPU the sealed key does not open.
- **Nitro**: the hypervisor signs an attestation document with the image's PCR8; a KMS customer key
  whose policy pins that PCR8 generates the data key and later decrypts it, each time encrypted to the
  enclave's key. The database and the encrypted data key live in an S3-like bucket, so a replacement
  host with the same role and a vendor-signed image restores from it.
- **GCP Confidential Space**: the same with a workload-identity token naming the container image digest,
  which the key policy pins. One workspace only, and no local administration.

Each backend gives the node a `BlobStore` and `Layout` for its files and an `unlock()` that returns the
32-byte data key or raises an `AttestationError` / `StoreError` saying why not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar, Protocol

import nacl.exceptions
import nacl.public

from cosigner_ha.node.database import Layout
from cosigner_ha.node.errors import (
    AttestationError,
    DatabaseMissing,
    ImageRejected,
    InfraError,
    WrongHost,
)
from cosigner_ha.node.platform import EnclaveKind, Host, Image, Kms, ObjectStore
from cosigner_ha.node.sealing import read_header, seal, unseal
from cosigner_ha.node.storage import BlobStore, BucketBlobStore, DiskBlobStore
from cosigner_ha.wire import EnclaveReport, encode
from cosigner_ha.wire.sealing import unseal as open_box

RandBytes = Callable[[int], bytes]
#: Sends an SGX report and its vendor signature to the attestation service; returns the wrapped key.
Attest = Callable[[bytes, bytes], Awaitable[bytes]]


class EnclaveBackend(Protocol):
    kind: EnclaveKind
    cosigner_type: str  # as the SaaS registry names it
    local_admin: bool  # False: managed only through the SaaS
    single_workspace: bool
    host: Host
    image: Image
    store: BlobStore
    layout: Layout

    def describe(self) -> str: ...

    async def unlock(self, cosigner_id: str, attest: Attest) -> bytes:
        """Attest, then return the database key (creating it the first time)."""
        ...


def _unwrap(enclave_key: nacl.public.PrivateKey, wrapped: bytes, source: str) -> bytes:
    try:
        key = open_box(bytes(enclave_key), wrapped)
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise AttestationError(f"the key from {source} was not sealed to this enclave's key: {exc}") from None
    if len(key) != 32:
        raise AttestationError(f"the key from {source} is {len(key)} bytes, expected 32")
    return key


class SgxEnclave:
    """An SGX co-signer: database and CPU-sealed key on the host disk under `/databases/cosigner`."""

    kind: EnclaveKind = "sgx"
    cosigner_type = "SGX"
    local_admin = True
    single_workspace = False
    ROOT: ClassVar[str] = "/databases/cosigner"
    KEY_FILE: ClassVar[str] = "db/secrets.key"
    SEALED_KEY_KIND: ClassVar[str] = "sgx-sealed-key"

    def __init__(
        self,
        host: Host,
        image: Image,
        *,
        trusted_signer: bytes,
        randbytes: RandBytes,
    ) -> None:
        if host.sgx is None:
            raise InfraError(f"host {host.name!r} has no SGX-capable CPU; an SGX co-signer cannot run there")
        self.host = host
        self.image = image
        self.trusted_signer = trusted_signer
        self._rand = randbytes
        self.store: BlobStore = DiskBlobStore(host.disk, self.ROOT)
        self.layout = Layout(
            secrets="db/secrets.db", ledger="db/nonces.db", journal="db/nonces.log", backups="backup"
        )

    def describe(self) -> str:
        return f"{self.kind} enclave {self.image.version} on host {self.host.name}"

    async def unlock(self, cosigner_id: str, attest: Attest) -> bytes:
        assert self.host.sgx is not None
        cpu = self.host.sgx
        self.image.check_signed_by(self.trusted_signer)  # the loader refuses anything else
        enclave_key = nacl.public.PrivateKey(self._rand(32))
        report = encode(
            EnclaveReport(
                measurement=self.image.measurement,
                host_id=cpu.cpu_id,
                enclave_key=bytes(enclave_key.public_key),
            )
        )
        wrapped = await attest(report, cpu.quote(report))  # no attestation, no database
        sealing_key = cpu.sealing_key(self.image)
        where = self.store.describe(self.KEY_FILE)
        sealed = self.store.read(self.KEY_FILE)
        if sealed is not None:
            header = read_header(sealed, where=where)
            if header.get("cpu") != cpu.cpu_id:
                raise WrongHost(
                    f"{where} was sealed by CPU {header.get('cpu')!r}, this is CPU {cpu.cpu_id!r} on host "
                    f"{self.host.name!r}: an SGX database opens only on the machine that sealed it "
                    "(re-pair the API users on the new host)"
                )
            _, key = unseal(sealing_key, sealed, where=where, kind=self.SEALED_KEY_KIND)
            return key
        if self.store.read(self.layout.secrets) is not None:
            raise DatabaseMissing(
                f"{self.store.describe(self.layout.secrets)} exists but its sealed key {where} is missing: "
                "the database cannot be opened"
            )
        key = _unwrap(enclave_key, wrapped, "the attestation service")
        self.store.write(
            self.KEY_FILE,
            seal(sealing_key, {"kind": self.SEALED_KEY_KIND, "cpu": cpu.cpu_id}, key, self._rand),
        )
        return key


class CommunalEnclave(SgxEnclave):
    """The vendor-run communal (sandbox) co-signer: SGX-built, testnet and sandbox workspaces only."""

    kind: EnclaveKind = "communal"
    cosigner_type = "SANDBOX"


class _KmsEnclave:
    """Shared by Nitro and Confidential Space: data key from KMS, database and key blob in a bucket."""

    kind: EnclaveKind
    cosigner_type: str
    local_admin: bool
    single_workspace: bool
    KEY_OBJECT: ClassVar[str] = "secrets.key.enc"

    def __init__(
        self,
        host: Host,
        image: Image,
        *,
        kms: Kms,
        key_id: str,
        bucket: ObjectStore,
        randbytes: RandBytes,
        prefix: str = "cosigner",
    ) -> None:
        self.host = host
        self.image = image
        self.kms = kms
        self.key_id = key_id
        self.bucket = bucket
        self._rand = randbytes
        self.store: BlobStore = BucketBlobStore(bucket, prefix, role=host.role)
        self.layout = Layout(secrets="secrets.db", ledger="nonces.db", backups=None)

    def describe(self) -> str:
        return (
            f"{self.kind} enclave {self.image.version} on host {self.host.name}, "
            f"bucket {self.bucket.name}, key {self.key_id}"
        )

    def _attestation(self, public_key: bytes) -> object:
        raise NotImplementedError

    async def unlock(self, cosigner_id: str, attest: Attest) -> bytes:
        enclave_key = nacl.public.PrivateKey(self._rand(32))
        attestation = self._attestation(bytes(enclave_key.public_key))
        blob = self.store.read(self.KEY_OBJECT)
        if blob is None:
            if self.store.read(self.layout.secrets) is not None:
                raise DatabaseMissing(
                    f"{self.store.describe(self.layout.secrets)} exists but the encrypted data key "
                    f"{self.store.describe(self.KEY_OBJECT)} is missing: the database cannot be opened"
                )
            grant = self.kms.generate_data_key(self.key_id, role=self.host.role, attestation=attestation)
            self.store.write(self.KEY_OBJECT, grant.ciphertext_blob)
            return _unwrap(enclave_key, grant.ciphertext_for_recipient, self.kms.name)
        wrapped = self.kms.decrypt(self.key_id, blob, role=self.host.role, attestation=attestation)
        return _unwrap(enclave_key, wrapped, self.kms.name)


class NitroEnclave(_KmsEnclave):
    """An AWS Nitro co-signer: KMS key pinned to PCR8, database in an S3 bucket."""

    kind: EnclaveKind = "nitro"
    cosigner_type = "AWS-NITRO"
    local_admin = True
    single_workspace = False

    def _attestation(self, public_key: bytes) -> object:
        if self.host.nitro is None:
            raise InfraError(
                f"host {self.host.name!r} is not a Nitro instance; a Nitro co-signer cannot run there"
            )
        if self.image.signer and not self.image.signature_valid():
            raise ImageRejected(
                f"nitro enclave image {self.image.version}: the EIF signature does not match the image "
                "(tampered): nitro-cli refuses to start it"
            )
        return self.host.nitro.attest(self.image, public_key)


class GcpEnclave(_KmsEnclave):
    """A GCP Confidential Space co-signer: KMS key bound to the image digest, one workspace, SaaS-managed."""

    kind: EnclaveKind = "gcp"
    cosigner_type = "GCP-CONFSPACE"
    local_admin = False
    single_workspace = True

    def _attestation(self, public_key: bytes) -> object:
        if self.host.confidential_space is None or self.host.role is None:
            raise InfraError(
                f"host {self.host.name!r} is not a Confidential Space VM with a service account; "
                "a GCP co-signer cannot run there"
            )
        return self.host.confidential_space.token(self.image, self.host.role, public_key)
