"""Remote attestation for SGX co-signers: verify the enclave's report, then release its database key.

The report is `wire.encode(EnclaveReport(measurement, host_id, enclave_key))`, signed with the vendor's
Ed25519 key (the cluster plays the vendor and passes its public key in). Only a report whose signature
verifies and whose measurement is on the expected list gets the co-signer's database key, sealed to the
enclave's X25519 key (`sealing.py`). The key is created on the first successful attestation of a
co-signer and is the same on every later one, so a restarted enclave reopens its database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha import wire
from cosigner_ha.saas_sim.errors import AttestationFailed
from cosigner_ha.wire.sealing import seal

DATABASE_KEY_SIZE = 32


class AttestationService:
    def __init__(
        self,
        *,
        vendor_key: bytes,
        expected_measurements: Iterable[bytes],
        randbytes: Callable[[int], bytes],
        record: Callable[..., Any],
    ) -> None:
        if len(vendor_key) != 32:
            raise ValueError(f"the vendor's Ed25519 public key is 32 bytes, got {len(vendor_key)}")
        self._vendor = Ed25519PublicKey.from_public_bytes(vendor_key)
        self._expected: list[bytes] = list(expected_measurements)
        self._randbytes = randbytes
        self._record = record
        self._keys: dict[str, bytes] = {}

    @property
    def expected_measurements(self) -> list[bytes]:
        return list(self._expected)

    def allow_measurement(self, measurement: bytes) -> None:
        if measurement not in self._expected:
            self._expected.append(measurement)

    def revoke_measurement(self, measurement: bytes) -> None:
        """An image version withdrawn: enclaves running it no longer get their keys."""
        if measurement in self._expected:
            self._expected.remove(measurement)

    def attest(self, cosigner_id: str, report: bytes, signature: bytes) -> bytes:
        """The database key wrapped to the enclave, or `AttestationFailed` saying which check failed."""
        try:
            self._vendor.verify(signature, report)
        except InvalidSignature:
            return self._refuse(
                cosigner_id, "signature", "the report's signature does not verify under the vendor key"
            )
        try:
            parsed = wire.decode_as(report, wire.EnclaveReport)
        except wire.CodecError as exc:
            return self._refuse(cosigner_id, "report", f"the signed report is not an enclave report: {exc}")
        if parsed.measurement not in self._expected:
            return self._refuse(
                cosigner_id,
                "measurement",
                f"measurement {parsed.measurement.hex()} is not among the {len(self._expected)} expected ones",
                host=parsed.host_id,
            )
        if len(parsed.enclave_key) != 32:
            return self._refuse(
                cosigner_id, "enclave_key", f"the enclave key is {len(parsed.enclave_key)} bytes, expected 32"
            )
        key = self._keys.get(cosigner_id)
        if key is None:
            key = self._keys[cosigner_id] = self._randbytes(DATABASE_KEY_SIZE)
        self._record(
            "attestation",
            cosigner=cosigner_id,
            ok=True,
            host=parsed.host_id,
            measurement=parsed.measurement.hex(),
        )
        return seal(parsed.enclave_key, key, self._randbytes)

    def _refuse(self, cosigner_id: str, check: str, why: str, **fields: Any) -> bytes:
        self._record("attestation", cosigner=cosigner_id, ok=False, check=check, reason=why, **fields)
        raise AttestationFailed(f"attestation of co-signer {cosigner_id!r} failed: {why}")
