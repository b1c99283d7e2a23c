"""The simulated machine a runtime node runs on (`home/hardware.json`): its SGX CPU, the vendor's
attestation key, the image-signing key, and for Nitro and GCP nodes the cloud services it reaches. `node
hardware` writes the profile; every node command loads it to build the enclave backend it boots."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from cosigner_ha import inputs
from cosigner_ha.cluster.infra import (
    AttestationAuthority,
    ConfidentialSpace,
    EnclaveImage,
    Host,
    ImageAuthority,
    NitroHypervisor,
    SgxCpu,
)
from cosigner_ha.env import OsCrypto
from cosigner_ha.node.enclave import EnclaveBackend, GcpEnclave, NitroEnclave, SgxEnclave
from cosigner_ha.node.errors import NodeError
from cosigner_ha.node.storage import LocalDisk

IMAGE_VERSION = "1.0.0"


class HardwareMissing(NodeError, ValueError):
    """The node's directory has no hardware profile: a mistaken --home (exit 2)."""


#: The keys every hardware profile holds (`node hardware` writes them).
HARDWARE_KEYS = ("host", "cpu_secret", "vendor_key", "image_key")


class Hardware:
    """The simulated machine a runtime node runs on, kept in `home/hardware.json`."""

    def __init__(self, home: Path, secrets: dict[str, str]) -> None:
        self.home = home
        self.name = secrets["host"]

        def fixed(hex_value: str) -> Callable[[int], bytes]:
            return lambda n: bytes.fromhex(hex_value)[:n]

        self.vendor = AttestationAuthority(fixed(secrets["vendor_key"]), "intel-sgx")
        self.images = ImageAuthority(fixed(secrets["image_key"]))
        self.cpu = SgxCpu(f"cpu-{self.name}", fixed(secrets["cpu_secret"]), self.vendor)
        self.image = self.images.image("sgx", IMAGE_VERSION)
        #: sgx (the node's own directory), or nitro / gcp (KMS and a bucket at `cloud serve`, `cloud` below)
        self.kind = secrets.get("kind", "sgx")
        #: `"image": "tampered"`: the machine runs a modified image with the original signature (a drill's
        #: attestation fault); the enclave loader, nitro-cli or the KMS refuses it.
        self.tampered = secrets.get("image") == "tampered"
        self.cloud: dict[str, str] = {
            k: secrets[k] for k in ("cloud", "role", "key_id", "bucket") if k in secrets
        }
        if self.kind not in ("sgx", "nitro", "gcp"):
            raise NodeError(f"{home / 'hardware.json'}: kind {self.kind!r}; expected sgx, nitro or gcp")
        if self.kind != "sgx" and len(self.cloud) != 4:
            raise NodeError(
                f"{home / 'hardware.json'}: a {self.kind} node needs cloud, role, key_id and bucket "
                "(the cloud services' URL, its IAM role / service account, its KMS key and bucket)"
            )

    @classmethod
    def load(
        cls, home: Path, *, create: bool = False, host: str = "cosigner", cloud: dict[str, str] | None = None
    ) -> Hardware:
        path = home / "hardware.json"
        if home.exists() and not home.is_dir():
            raise ValueError(f"--home {home}: not a folder; expected the node's directory")
        if not path.exists():
            if not create:
                raise HardwareMissing(
                    f"{path}: no hardware profile; create one with `cosigner-ha node hardware --home {home}`"
                )
            home.mkdir(parents=True, exist_ok=True)
            data = {k: OsCrypto().randbytes(32).hex() for k in ("cpu_secret", "vendor_key", "image_key")}
            path.write_text(json.dumps({"host": host, **data, **(cloud or {})}, indent=2))
        text = inputs.read_text(path, "hardware profile")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{path}: not a hardware profile (JSON: {exc})") from None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in HARDWARE_KEYS):
            raise ValueError(
                f"{path}: not a hardware profile; expected a JSON object with {', '.join(HARDWARE_KEYS)}"
            )
        try:
            return cls(home, data)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a hardware profile ({type(exc).__name__}: {exc})") from None

    def _running(self) -> EnclaveImage:
        """The image this machine boots: its kind's signed image, or a tampered copy (`"image": "tampered"`)."""
        image = self.images.image(self.kind, IMAGE_VERSION)  # type: ignore[arg-type]
        return image.tampered() if self.tampered else image

    def backend(self) -> EnclaveBackend:
        disk = LocalDisk(self.home / "disk")
        rand = OsCrypto().randbytes
        if self.kind == "sgx":
            host = Host(self.name, "runtime", disk, sgx=self.cpu)
            return SgxEnclave(host, self._running(), trusted_signer=self.images.public_key, randbytes=rand)
        from cosigner_ha.cluster.runtime.cloud_client import RemoteBucket, RemoteKms

        url, role, key_id = self.cloud["cloud"], self.cloud["role"], self.cloud["key_id"]
        bucket = RemoteBucket(url, self.cloud["bucket"])
        if self.kind == "nitro":
            nitro = NitroHypervisor(f"i-{self.name}", self.vendor, time.time)
            host = Host(self.name, "runtime", disk, role=role, nitro=nitro)
            return NitroEnclave(
                host, self._running(), kms=RemoteKms(url, "aws"), key_id=key_id, bucket=bucket, randbytes=rand
            )
        space = ConfidentialSpace(f"vm-{self.name}", self.vendor, time.time)
        host = Host(self.name, "runtime", disk, role=role, confidential_space=space)
        return GcpEnclave(
            host, self._running(), kms=RemoteKms(url, "gcp"), key_id=key_id, bucket=bucket, randbytes=rand
        )
