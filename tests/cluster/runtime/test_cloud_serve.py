"""`cosigner-ha cloud serve`: KMS over the network releases a data key only to an enclave whose attested
image matches the key policy (PCR8 for Nitro, the image digest for GCP) and whose role is granted; the
bucket holds the wrapped key; a cloud killed and restarted on its state still decrypts it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from cosigner_ha.cluster.infra import (
    AttestationAuthority,
    ConfidentialSpace,
    Host,
    ImageAuthority,
    NitroHypervisor,
    SimDisk,
)
from cosigner_ha.cluster.runtime.cloud_client import RemoteBucket, RemoteKms
from cosigner_ha.env import OsCrypto
from cosigner_ha.node.enclave import GcpEnclave, NitroEnclave
from cosigner_ha.node.errors import AccessDenied, AttestationError
from tests.cluster.runtime.processes import Processes, wait_for_file

VENDOR = AttestationAuthority(OsCrypto().randbytes, "aws-nitro")
IMAGES = ImageAuthority(OsCrypto().randbytes)
OTHER_IMAGES = ImageAuthority(OsCrypto().randbytes)  # somebody else's signing key: another PCR8


def _serve(procs: Processes, state: Path, listen: str = "127.0.0.1:0") -> str:
    child = procs.start(
        "cloud",
        *("cloud", "serve", "--state", str(state), "--listen", listen),
        *("--nitro-vendor-key", VENDOR.public_key.hex(), "--cs-vendor-key", VENDOR.public_key.hex()),
    )
    return str(wait_for_file(state / "ready.json", child)["url"])


async def _no_attest(report: bytes, signature: bytes) -> bytes:
    raise AssertionError("a KMS enclave does not attest to the SaaS")


def _nitro(url: str, *, role: str = "role-a", images: ImageAuthority = IMAGES) -> NitroEnclave:
    host = Host("a", "runtime", SimDisk(), role=role, nitro=NitroHypervisor("i-a", VENDOR, _wall))
    return NitroEnclave(
        host,
        images.image("nitro"),
        kms=RemoteKms(url, "aws"),
        key_id="cmk-a",
        bucket=RemoteBucket(url, "bucket-a"),
        randbytes=OsCrypto().randbytes,
    )


def _gcp(url: str, version: str = "1.0.0") -> GcpEnclave:
    space = ConfidentialSpace("vm-g", VENDOR, _wall)
    host = Host("g", "runtime", SimDisk(), role="sa-g", confidential_space=space)
    return GcpEnclave(
        host,
        IMAGES.image("gcp", version),
        kms=RemoteKms(url, "gcp"),
        key_id="cmk-g",
        bucket=RemoteBucket(url, "bucket-g"),
        randbytes=OsCrypto().randbytes,
    )


def _wall() -> float:
    return time.time()


def _unlock(enclave: Any) -> bytes:
    key: bytes = anyio.run(enclave.unlock, "a", _no_attest)
    return key


def _setup(url: str) -> None:
    nitro = {"key_id": "cmk-a", "roles": ["role-a"], "pcr8": IMAGES.image("nitro").pcr8.hex()}
    gcp = {"key_id": "cmk-g", "roles": ["sa-g"], "image_digest": IMAGES.image("gcp").digest}
    for path, body in (
        ("/kms/aws/keys", nitro),
        ("/kms/gcp/keys", gcp),
        ("/buckets", {"name": "bucket-a", "roles": ["role-a"]}),
        ("/buckets", {"name": "bucket-g", "roles": ["sa-g"]}),
    ):
        assert httpx.post(url + path, json=body).status_code == 201


@pytest.mark.timeout(120)
def test_kms_releases_data_keys_only_to_the_image_its_policy_names(tmp_path: Path) -> None:
    state = tmp_path / "cloud"
    with Processes(tmp_path) as procs:
        url = _serve(procs, state)
        _setup(url)
        first = _unlock(_nitro(url))  # GenerateDataKey; the wrapped key goes to the bucket
        assert len(first) == 32
        assert _unlock(_nitro(url)) == first  # Decrypt of the bucket's blob, attested again
        with pytest.raises(AttestationError, match="requires PCR8"):
            _unlock(_nitro(url, images=OTHER_IMAGES))
        with pytest.raises(AccessDenied, match="role 'role-b'"):
            _unlock(_nitro(url, role="role-b"))
        assert len(_unlock(_gcp(url))) == 32
        with pytest.raises(AttestationError, match="is bound to image"):
            _unlock(_gcp(url, version="2.0.0"))
        # killed and restarted on its state: the same customer key still decrypts the same blob
        os.killpg(procs.children["cloud"].pid, signal.SIGKILL)
        procs.children["cloud"].wait()
        (state / "ready.json").unlink()  # the dead one's
        url = _serve(procs, state)
        assert _unlock(_nitro(url)) == first
        refused = httpx.post(url + "/kms/aws/keys", json={"key_id": "cmk-x", "roles": "role-a"})
        assert refused.status_code == 400 and "body.roles" in refused.json()["message"]


def test_a_cloud_state_file_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "cloud"
    state.mkdir()
    (state / "cloud.json").write_text("[]")
    with Processes(tmp_path) as procs:
        done = procs.run("cloud", "cloud", "serve", "--state", str(state))
    assert done.returncode == 2, done.stderr
    assert "cloud.json" in done.stderr and "Traceback" not in done.stderr
    assert (state / "cloud.json").read_text() == "[]"
