"""SGX attestation: only a vendor-signed report with an expected measurement gets the database key, sealed
to the enclave; the same key on every later attestation of that co-signer."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from nacl.public import PrivateKey

from cosigner_ha import wire
from cosigner_ha.env import SeededDrbg
from cosigner_ha.saas_sim.attestation import AttestationService
from cosigner_ha.saas_sim.errors import AttestationFailed
from cosigner_ha.wire.sealing import SealError, seal, unseal

VENDOR = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
GOOD = b"\x01" * 32
ENCLAVE = PrivateKey(b"\x09" * 32)


def service(events: list[tuple[str, dict[str, Any]]]) -> AttestationService:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return AttestationService(
        vendor_key=VENDOR.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        expected_measurements=[GOOD],
        randbytes=SeededDrbg(1).randbytes,
        record=lambda kind, **fields: events.append((kind, fields)),
    )


def quote(measurement: bytes = GOOD, signer: Ed25519PrivateKey = VENDOR) -> tuple[bytes, bytes]:
    report = wire.encode(wire.EnclaveReport(measurement, "host-1", bytes(ENCLAVE.public_key)))
    return report, signer.sign(report)


def test_an_attested_enclave_gets_its_database_key_and_the_same_one_later() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    svc = service(events)
    first = unseal(bytes(ENCLAVE), svc.attest("sgx-1", *quote()))
    again = unseal(bytes(ENCLAVE), svc.attest("sgx-1", *quote()))
    other = unseal(bytes(ENCLAVE), svc.attest("sgx-2", *quote()))
    assert len(first) == 32 and first == again and first != other
    assert events[0] == (
        "attestation",
        {"cosigner": "sgx-1", "ok": True, "host": "host-1", "measurement": GOOD.hex()},
    )


def test_an_unexpected_measurement_gets_nothing() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    svc = service(events)
    with pytest.raises(AttestationFailed, match=r"measurement 0202.* is not among the 1 expected") as err:
        svc.attest("sgx-1", *quote(b"\x02" * 32))
    assert err.value.code == "ATTESTATION_FAILED"
    assert events[-1][1]["ok"] is False and events[-1][1]["check"] == "measurement"


def test_a_report_not_signed_by_the_vendor_gets_nothing() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    with pytest.raises(AttestationFailed, match="does not verify under the vendor key"):
        service(events).attest("sgx-1", *quote(signer=Ed25519PrivateKey.from_private_bytes(b"\x08" * 32)))


def test_a_revoked_measurement_stops_working_and_a_new_one_starts() -> None:
    svc = service([])
    svc.attest("sgx-1", *quote())
    svc.revoke_measurement(GOOD)
    with pytest.raises(AttestationFailed):
        svc.attest("sgx-1", *quote())
    svc.allow_measurement(b"\x03" * 32)
    svc.attest("sgx-1", *quote(b"\x03" * 32))
    assert svc.expected_measurements == [b"\x03" * 32]


def test_a_signed_blob_that_is_not_a_report_is_refused() -> None:
    blob = b"not msgpack at all"
    with pytest.raises(AttestationFailed, match="not an enclave report"):
        service([]).attest("sgx-1", blob, VENDOR.sign(blob))


@given(st.binary(max_size=200))
def test_sealing_round_trips_and_only_the_recipient_opens(secret: bytes) -> None:
    sealed = seal(bytes(ENCLAVE.public_key), secret, SeededDrbg(5).randbytes)
    assert unseal(bytes(ENCLAVE), sealed) == secret
    with pytest.raises(SealError, match="does not open"):
        unseal(b"\x0a" * 32, sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealError):
        unseal(bytes(ENCLAVE), tampered)


def test_sealing_replays_from_the_seed() -> None:
    one = seal(bytes(ENCLAVE.public_key), b"k", SeededDrbg(5).randbytes)
    two = seal(bytes(ENCLAVE.public_key), b"k", SeededDrbg(5).randbytes)
    assert one == two != seal(bytes(ENCLAVE.public_key), b"k", SeededDrbg(6).randbytes)
    with pytest.raises(SealError, match="shorter than the envelope"):
        unseal(bytes(ENCLAVE), one[:40])
