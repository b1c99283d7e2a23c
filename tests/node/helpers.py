"""Small deterministic pieces the node tests share: randomness, a settable wall clock, an estate."""

from __future__ import annotations

import dataclasses

from cosigner_ha.cluster.infra import Infrastructure, KeyPolicy
from cosigner_ha.env import SIMULATION_EPOCH, SeededDrbg
from cosigner_ha.wire import EnclaveReport, decode_as
from cosigner_ha.wire.sealing import seal as seal_to


class Wall:
    """A wall clock tests move by hand."""

    def __init__(self, t: float = SIMULATION_EPOCH) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def drbg(name: str = "test", seed: int = 7) -> SeededDrbg:
    return SeededDrbg(seed, name)


@dataclasses.dataclass
class Estate:
    infra: Infrastructure
    wall: Wall
    rand: SeededDrbg


def estate(seed: int = 7) -> Estate:
    wall = Wall()
    rand = drbg("infra", seed)
    return Estate(Infrastructure(rand.randbytes, wall), wall, rand)


class AttestationDouble:
    """The SaaS's SGX attestation service at protocol level: vendor signature, measurement list, key release.

    Like the product's service it hands every attested enclave a fresh database key wrapped to the
    enclave's key from the report; `refuse` makes it answer with an error instead.
    """

    def __init__(self, vendor_public_key: bytes, measurements: list[bytes], rand: SeededDrbg) -> None:
        self.vendor = vendor_public_key
        self.measurements = list(measurements)
        self.rand = rand
        self.seen: list[EnclaveReport] = []
        self.refuse: str | None = None

    async def __call__(self, report: bytes, signature: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        from cosigner_ha.node.errors import AttestationError

        Ed25519PublicKey.from_public_bytes(self.vendor).verify(signature, report)
        body = decode_as(report, EnclaveReport)
        self.seen.append(body)
        if self.refuse:
            raise AttestationError(f"attestation service refused: {self.refuse}")
        if body.measurement not in self.measurements:
            raise AttestationError(
                f"attestation service refused: measurement {body.measurement.hex()[:16]}... is not an "
                "accepted enclave"
            )
        return seal_to(body.enclave_key, self.rand.randbytes(32), self.rand.randbytes)


def nitro_policy(e: Estate, role: str = "cosigner-role") -> KeyPolicy:
    return KeyPolicy(roles=(role,), pcr8=e.infra.images.image("nitro").pcr8)


def gcp_policy(e: Estate, role: str = "cosigner-sa") -> KeyPolicy:
    return KeyPolicy(roles=(role,), image_digest=e.infra.images.image("gcp").digest)


def self_signed_certificate(key: object, host: str = "localhost") -> str:
    """A self-signed TLS certificate (PEM) for `host` and 127.0.0.1, signed deterministically (RSA PKCS#1)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(1000 + len(host))
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert.public_bytes(Encoding.PEM).decode()


def rsa_key(name: str) -> object:
    from cosigner_ha.node.rsa_keys import generate_rsa_key

    return generate_rsa_key(drbg(f"rsa/{name}").randbytes)
