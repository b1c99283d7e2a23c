"""Enclave backends: keys only for attested images, sealed data only where it was sealed, restore from buckets."""

from __future__ import annotations

import pytest

from cosigner_ha.cluster.infra import EnclaveImage, ImageAuthority, KeyPolicy
from cosigner_ha.node.database import Database
from cosigner_ha.node.enclave import CommunalEnclave, GcpEnclave, NitroEnclave, SgxEnclave
from cosigner_ha.node.errors import (
    AccessDenied,
    AttestationError,
    DatabaseMissing,
    DatabaseTampered,
    ImageRejected,
    InfraError,
    WrongHost,
)
from cosigner_ha.node.records import Secrets
from cosigner_ha.node.storage import DiskBlobStore
from tests.node.helpers import AttestationDouble, Estate, drbg, estate, gcp_policy, nitro_policy

SECRETS = Secrets(cosigner_id="cs-1", cosigner_type="X", transport_key=b"t" * 32, callback_key=b"r")


def sgx(e: Estate, host: str = "h1", image: EnclaveImage | None = None) -> SgxEnclave:
    h = e.infra.hosts.get(host) or e.infra.host(host, sgx=True)
    return SgxEnclave(
        h,
        image or e.infra.images.image("sgx"),
        trusted_signer=e.infra.images.public_key,
        randbytes=drbg(host).randbytes,
    )


def service(e: Estate, *versions: str) -> AttestationDouble:
    accepted = [e.infra.images.image("sgx", v).measurement for v in (versions or ("1.0.0",))]
    return AttestationDouble(e.infra.intel.public_key, accepted, drbg("saas"))


def open_with(backend: SgxEnclave | NitroEnclave | GcpEnclave, key: bytes) -> Database:
    return Database.open(
        backend.store, key, randbytes=drbg().randbytes, wall=lambda: 0.0, layout=backend.layout
    )


async def test_sgx_gets_its_key_by_attestation_then_unseals_it_on_every_boot() -> None:
    e = estate()
    svc = service(e)
    enclave = sgx(e)
    key = await enclave.unlock("cs-1", svc)
    open_with(enclave, key).commit(SECRETS)
    assert await sgx(e).unlock("cs-1", svc) == key  # a later boot, a fresh service key: the sealed one wins
    assert len(svc.seen) == 2 and svc.seen[0].host_id == "cpu-h1"
    assert open_with(enclave, key).secrets == SECRETS


async def test_an_sgx_database_moved_to_another_host_does_not_open() -> None:
    e = estate()
    svc = service(e)
    enclave = sgx(e, "h1")
    open_with(enclave, await enclave.unlock("cs-1", svc)).commit(SECRETS)
    other = e.infra.host("h2", sgx=True)
    other.disk = e.infra.hosts["h1"].disk.clone()  # copy /databases/cosigner to the new machine
    with pytest.raises(WrongHost, match=r"sealed by CPU 'cpu-h1', this is CPU 'cpu-h2' on host 'h2'"):
        await sgx(e, "h2").unlock("cs-1", svc)


async def test_an_sgx_sealed_key_edited_to_claim_this_cpu_is_still_refused() -> None:
    e = estate()
    svc = service(e)
    enclave = sgx(e, "h1")
    await enclave.unlock("cs-1", svc)
    raw = e.infra.hosts["h1"].disk.read("/databases/cosigner/db/secrets.key") or b""
    other = e.infra.host("h2", sgx=True)
    DiskBlobStore(other.disk, "/databases/cosigner").write(
        "db/secrets.key", raw.replace(b"cpu-h1", b"cpu-h2")
    )
    with pytest.raises(DatabaseTampered):
        await sgx(e, "h2").unlock("cs-1", svc)


@pytest.mark.parametrize("which", ["tampered", "unsigned", "foreign"])
async def test_sgx_loader_refuses_a_tampered_unsigned_or_foreign_image(which: str) -> None:
    e = estate()
    good = e.infra.images.image("sgx")
    image = {
        "tampered": good.tampered(),
        "unsigned": e.infra.images.unsigned("sgx"),
        "foreign": ImageAuthority(drbg("evil").randbytes, "evil").image("sgx"),
    }[which]
    svc = service(e)
    with pytest.raises(
        ImageRejected, match={"tampered": "tampered", "unsigned": "not signed", "foreign": "not by"}[which]
    ):
        await sgx(e, image=image).unlock("cs-1", svc)
    assert svc.seen == []  # it never got as far as asking for a key


async def test_sgx_with_a_measurement_the_service_does_not_accept_gets_no_key() -> None:
    e = estate()
    svc = service(e, "1.0.0")
    with pytest.raises(AttestationError, match=r"is not an accepted enclave"):
        await sgx(e, image=e.infra.images.image("sgx", "0.9.0")).unlock("cs-1", svc)
    assert not e.infra.hosts["h1"].disk.exists("/databases/cosigner/db/secrets.key")


async def test_sgx_cannot_open_a_database_whose_sealed_key_is_gone() -> None:
    e = estate()
    svc = service(e)
    enclave = sgx(e)
    open_with(enclave, await enclave.unlock("cs-1", svc)).commit(SECRETS)
    e.infra.hosts["h1"].disk.remove("/databases/cosigner/db/secrets.key")
    with pytest.raises(DatabaseMissing, match=r"sealed key .*secrets.key is missing"):
        await sgx(e).unlock("cs-1", svc)


def test_sgx_needs_an_sgx_host() -> None:
    e = estate()
    e.infra.host("plain")
    with pytest.raises(InfraError, match=r"no SGX-capable CPU"):
        sgx(e, "plain")


def test_communal_is_an_sgx_build_registered_as_sandbox() -> None:
    assert CommunalEnclave.cosigner_type == "SANDBOX" and CommunalEnclave.kind == "communal"


# --- Nitro ---------------------------------------------------------------------------------------------


def nitro(
    e: Estate, host: str = "n1", image: EnclaveImage | None = None, role: str = "cosigner-role"
) -> NitroEnclave:
    if "cmk" not in e.infra.aws_kms.policies:
        e.infra.aws_kms.create_key("cmk", nitro_policy(e))
    bucket = e.infra.buckets.get("b") or e.infra.bucket("b", roles=("cosigner-role",))
    h = e.infra.hosts.get(host) or e.infra.host(host, nitro=True, role=role)
    return NitroEnclave(
        h,
        image or e.infra.images.image("nitro"),
        kms=e.infra.aws_kms,
        key_id="cmk",
        bucket=bucket,
        randbytes=drbg(host).randbytes,
    )


async def never(report: bytes, signature: bytes) -> bytes:
    raise AssertionError("KMS backends do not use the SaaS attestation service")


async def test_a_nitro_replacement_host_with_the_same_grants_restores_from_the_bucket() -> None:
    e = estate()
    first = nitro(e, "n1")
    key = await first.unlock("cs-1", never)
    open_with(first, key).commit(SECRETS)
    e.infra.hosts["n1"].disk.lose()  # the instance is gone
    replacement = nitro(e, "n2", image=e.infra.images.image("nitro", "2.0.0"))  # an upgrade, same signer
    assert await replacement.unlock("cs-1", never) == key
    assert open_with(replacement, key).secrets == SECRETS


async def test_nitro_with_an_unsigned_image_is_refused_by_the_key_policy() -> None:
    e = estate()
    with pytest.raises(AttestationError, match=r"requires PCR8 .* attested PCR8 000000"):
        await nitro(e, image=e.infra.images.unsigned("nitro")).unlock("cs-1", never)


async def test_nitro_refuses_to_start_a_tampered_image() -> None:
    e = estate()
    with pytest.raises(ImageRejected, match=r"EIF signature does not match"):
        await nitro(e, image=e.infra.images.image("nitro").tampered()).unlock("cs-1", never)


async def test_nitro_on_a_host_without_the_role_is_denied() -> None:
    e = estate()
    await nitro(e, "n1").unlock("cs-1", never)
    with pytest.raises(AccessDenied, match=r"role 'other-role'"):
        await nitro(e, "n2", role="other-role").unlock("cs-1", never)


async def test_bucket_objects_cannot_be_decrypted_without_the_kms_grant() -> None:
    e = estate()
    enclave = nitro(e)
    open_with(enclave, await enclave.unlock("cs-1", never)).commit(SECRETS)
    bucket = e.infra.buckets["b"]
    blob = bucket.raw("cosigner/secrets.key.enc") or b""
    assert SECRETS.transport_key not in (bucket.raw("cosigner/secrets.db") or b"")
    with pytest.raises(AccessDenied, match=r"role 'attacker' is not granted kms:Decrypt on key 'cmk'"):
        e.infra.aws_kms.decrypt("cmk", blob, role="attacker", attestation=None)
    with pytest.raises(AccessDenied, match=r"requires an enclave attestation"):
        e.infra.aws_kms.decrypt("cmk", blob, role="cosigner-role", attestation=None)


async def test_revoking_the_kms_grant_stops_the_next_boot() -> None:
    e = estate()
    await nitro(e).unlock("cs-1", never)
    e.infra.aws_kms.set_policy("cmk", KeyPolicy(roles=(), pcr8=nitro_policy(e).pcr8))
    with pytest.raises(AccessDenied, match=r"not granted kms:Decrypt"):
        await nitro(e).unlock("cs-1", never)


# --- GCP -----------------------------------------------------------------------------------------------


def gcp(e: Estate, host: str = "g1", image: EnclaveImage | None = None) -> GcpEnclave:
    if "cmk" not in e.infra.gcp_kms.policies:
        e.infra.gcp_kms.create_key("cmk", gcp_policy(e))
    bucket = e.infra.buckets.get("gb") or e.infra.bucket("gb", roles=("cosigner-sa",))
    h = e.infra.hosts.get(host) or e.infra.host(host, confidential_space=True, role="cosigner-sa")
    return GcpEnclave(
        h,
        image or e.infra.images.image("gcp"),
        kms=e.infra.gcp_kms,
        key_id="cmk",
        bucket=bucket,
        randbytes=drbg(host).randbytes,
    )


async def test_gcp_restores_on_a_replacement_vm_and_refuses_another_image_digest() -> None:
    e = estate()
    first = gcp(e, "g1")
    key = await first.unlock("cs-1", never)
    open_with(first, key).commit(SECRETS)
    assert await gcp(e, "g2").unlock("cs-1", never) == key
    assert GcpEnclave.single_workspace and not GcpEnclave.local_admin
    for image in (
        e.infra.images.image("gcp").tampered(),
        e.infra.images.unsigned("gcp"),
        e.infra.images.image("gcp", "9"),
    ):
        with pytest.raises(AttestationError, match=r"is bound to image sha256:.* attested image sha256:"):
            await gcp(e, "g3", image=image).unlock("cs-1", never)


async def test_gcp_attestation_tokens_expire() -> None:
    e = estate()
    enclave = gcp(e)
    host = e.infra.hosts["g1"]
    assert host.confidential_space is not None
    token = host.confidential_space.token(enclave.image, "cosigner-sa", b"k" * 32)
    e.wall.t += 7200
    with pytest.raises(AttestationError, match=r"expired"):
        e.infra.gcp_kms.generate_data_key("cmk", role="cosigner-sa", attestation=token)
