"""The simulated world a cluster's nodes run on: hosts, disks, enclave hardware and cloud services.

The cluster runner creates these plain in-memory objects, hands them to nodes (which see them only through
the protocols of node/platform.py) and injects faults into them (disk loss, a failing write, a tampered
image, a revoked KMS grant). All randomness comes from the `randbytes` callable the runner passes (the
environment's DRBG in simulation), all time from the `wall` callable (the environment's wall clock)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from cosigner_ha.cluster.infra.cloud import ATTESTATION_MAX_AGE, Bucket, DataKey, KeyPolicy, Kms
from cosigner_ha.cluster.infra.disk import SimDisk
from cosigner_ha.cluster.infra.hardware import (
    AttestationAuthority,
    AttestationDocument,
    ConfidentialSpace,
    EnclaveImage,
    ImageAuthority,
    NitroHypervisor,
    SgxCpu,
    VendorKey,
)
from cosigner_ha.node.errors import InfraError
from cosigner_ha.node.platform import Disk

RandBytes = Callable[[int], bytes]
WallClock = Callable[[], float]

__all__ = [
    "ATTESTATION_MAX_AGE",
    "AttestationAuthority",
    "AttestationDocument",
    "Bucket",
    "ConfidentialSpace",
    "DataKey",
    "EnclaveImage",
    "Host",
    "ImageAuthority",
    "Infrastructure",
    "KeyPolicy",
    "Kms",
    "NitroHypervisor",
    "SgxCpu",
    "SimDisk",
    "VendorKey",
]


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
