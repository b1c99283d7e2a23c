"""Key material: what one holder keeps (`KeyPackage`), what everyone may know (`PublicKeyPackage`), and
trusted-dealer key generation with Feldman commitments (RFC 9591 Appendix C).

Decoding is strict and checks consistency, not only shape: a decoded `KeyPackage` must have
verifying_share = signing_share·B, so a corrupted or mismatched sealed store fails loudly on load instead of
producing signature shares that the aggregator later blames on this holder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _codec as codec
from .ed25519 import (
    ELEMENT_SIZE,
    base_mult,
    check_scalar,
    random_scalar,
    scalar_from_bytes,
    scalar_to_bytes,
    validate_element,
)
from .errors import DecodeError, DuplicateIdentifierError, KeyMismatchError, ThresholdError
from .rng import Rng
from .shamir import (
    check_identifiers,
    evaluate_polynomial,
    random_polynomial,
    vss_commit,
    vss_evaluate,
    vss_verify,
)


@dataclass(frozen=True)
class KeyPackage:
    """One holder's share of a group key. `signing_share` is secret (kept out of `repr`)."""

    identifier: int
    signing_share: int = field(repr=False)
    verifying_share: bytes
    group_public_key: bytes
    min_signers: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "signing_share": scalar_to_bytes(self.signing_share),
            "verifying_share": self.verifying_share,
            "group_public_key": self.group_public_key,
            "min_signers": self.min_signers,
        }

    @classmethod
    def from_dict(cls, data: object) -> KeyPackage:
        d = codec.expect_dict(data, "KeyPackage", _KEY_PACKAGE_KEYS)
        identifier = codec.check_identifier(
            codec.get_int(d, "identifier", "KeyPackage"), field="KeyPackage.identifier"
        )
        return cls._checked(
            identifier,
            codec.get_scalar(d, "signing_share", "KeyPackage", participant=identifier),
            codec.get_bytes(d, "verifying_share", "KeyPackage", size=ELEMENT_SIZE, participant=identifier),
            codec.get_bytes(d, "group_public_key", "KeyPackage", size=ELEMENT_SIZE, participant=identifier),
            codec.get_int(d, "min_signers", "KeyPackage", participant=identifier),
        )

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                codec.header("KeyPackage"),
                scalar_to_bytes(self.identifier),
                scalar_to_bytes(self.signing_share),
                self.verifying_share,
                self.group_public_key,
                codec.u16(self.min_signers, field="KeyPackage.min_signers"),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyPackage:
        body = codec.strip_header(data, "KeyPackage", min_body=130, exact=True)
        identifier = codec.identifier_from_bytes(body[:32], field="KeyPackage.identifier")
        share = scalar_from_bytes(body[32:64], field="KeyPackage.signing_share", participant=identifier)
        return cls._checked(
            identifier, share, body[64:96], body[96:128], int.from_bytes(body[128:130], "big")
        )

    @classmethod
    def _checked(
        cls, identifier: int, share: int, verifying_share: bytes, group_public_key: bytes, min_signers: int
    ) -> KeyPackage:
        validate_element(verifying_share, field="KeyPackage.verifying_share", participant=identifier)
        validate_element(group_public_key, field="KeyPackage.group_public_key", participant=identifier)
        if min_signers < 2:
            raise ThresholdError(
                f"the threshold is at least 2, got {min_signers}",
                participant=identifier,
                field="KeyPackage.min_signers",
            )
        if base_mult(share) != verifying_share:
            raise KeyMismatchError(
                "verifying_share is not signing_share·B: the package is corrupt or mixes two keys",
                participant=identifier,
                field="KeyPackage.verifying_share",
            )
        return cls(identifier, share, verifying_share, group_public_key, min_signers)


_KEY_PACKAGE_KEYS = ("identifier", "signing_share", "verifying_share", "group_public_key", "min_signers")


@dataclass(frozen=True)
class PublicKeyPackage:
    """The group key, every holder's verifying share, and the threshold: what a coordinator needs."""

    verifying_shares: Mapping[int, bytes]
    group_public_key: bytes
    min_signers: int

    @property
    def identifiers(self) -> tuple[int, ...]:
        return tuple(sorted(self.verifying_shares))

    def to_dict(self) -> dict[str, Any]:
        return {
            "verifying_shares": [[i, self.verifying_shares[i]] for i in self.identifiers],
            "group_public_key": self.group_public_key,
            "min_signers": self.min_signers,
        }

    @classmethod
    def from_dict(cls, data: object) -> PublicKeyPackage:
        d = codec.expect_dict(
            data, "PublicKeyPackage", ("verifying_shares", "group_public_key", "min_signers")
        )
        entries = codec.get_list(d, "verifying_shares", "PublicKeyPackage")
        pairs: list[tuple[int, bytes]] = []
        for index, entry in enumerate(entries):
            where = f"PublicKeyPackage.verifying_shares[{index}]"
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise DecodeError("expected an [identifier, verifying_share] pair", field=where)
            identifier = codec.check_identifier(entry[0], field=f"{where}[0]")
            pairs.append(
                (identifier, codec.element_shape(entry[1], field=f"{where}[1]", participant=identifier))
            )
        return cls._checked(
            pairs,
            codec.get_bytes(d, "group_public_key", "PublicKeyPackage", size=ELEMENT_SIZE),
            codec.get_int(d, "min_signers", "PublicKeyPackage"),
        )

    def to_bytes(self) -> bytes:
        parts = [
            codec.header("PublicKeyPackage"),
            self.group_public_key,
            codec.u16(self.min_signers, field="PublicKeyPackage.min_signers"),
            codec.u16(len(self.verifying_shares), field="PublicKeyPackage.verifying_shares"),
        ]
        for identifier in self.identifiers:
            parts += [scalar_to_bytes(identifier), self.verifying_shares[identifier]]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKeyPackage:
        body = codec.strip_header(data, "PublicKeyPackage", min_body=36, exact=False)
        count = int.from_bytes(body[34:36], "big")
        if len(body) != 36 + 64 * count:
            raise DecodeError(
                f"PublicKeyPackage: {count} verifying shares need {36 + 64 * count} bytes, got {len(body)}"
            )
        pairs = []
        for index in range(count):
            entry = body[36 + 64 * index : 100 + 64 * index]
            where = f"PublicKeyPackage.verifying_shares[{index}]"
            pairs.append((codec.identifier_from_bytes(entry[:32], field=where), entry[32:]))
        return cls._checked(pairs, body[:32], int.from_bytes(body[32:34], "big"))

    @classmethod
    def _checked(
        cls, pairs: Sequence[tuple[int, bytes]], group_public_key: bytes, min_signers: int
    ) -> PublicKeyPackage:
        shares: dict[int, bytes] = {}
        for identifier, share in pairs:
            if identifier in shares:
                raise DuplicateIdentifierError(
                    f"identifier {identifier} has two verifying shares",
                    field="PublicKeyPackage.verifying_shares",
                )
            shares[identifier] = validate_element(
                share, field="PublicKeyPackage.verifying_shares", participant=identifier
            )
        validate_element(group_public_key, field="PublicKeyPackage.group_public_key")
        codec.check_threshold(min_signers, len(shares), field="PublicKeyPackage.min_signers")
        return cls(shares, group_public_key, min_signers)


@dataclass(frozen=True)
class SecretShare:
    """What a dealer (or a resharing holder) sends one participant: its share plus the public commitment
    that lets it check the share before trusting it (`verify`)."""

    identifier: int
    signing_share: int = field(repr=False)
    commitment: tuple[bytes, ...]

    def verify(self) -> KeyPackage:
        """Feldman check share·B = Σ i^k·C_k, then the KeyPackage it defines (RFC 9591 `vss_verify`)."""
        for index, element in enumerate(self.commitment):
            validate_element(element, field=f"SecretShare.commitment[{index}]")
        if len(self.commitment) < 2:
            raise ThresholdError(
                f"a commitment has one element per coefficient, at least 2, got {len(self.commitment)}",
                participant=self.identifier,
                field="SecretShare.commitment",
            )
        vss_verify(self.signing_share, self.identifier, self.commitment, sender=None, what="secret share")
        return KeyPackage(
            self.identifier,
            self.signing_share,
            base_mult(self.signing_share),
            self.commitment[0],
            len(self.commitment),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "signing_share": scalar_to_bytes(self.signing_share),
            "commitment": list(self.commitment),
        }

    @classmethod
    def from_dict(cls, data: object) -> SecretShare:
        d = codec.expect_dict(data, "SecretShare", ("identifier", "signing_share", "commitment"))
        identifier = codec.check_identifier(
            codec.get_int(d, "identifier", "SecretShare"), field="SecretShare.identifier"
        )
        elements = codec.element_list(d, "commitment", "SecretShare", participant=identifier)
        return cls(
            identifier,
            codec.get_scalar(d, "signing_share", "SecretShare", participant=identifier),
            elements,
        )


def split_secret(secret: int, coefficients: Sequence[int], identifiers: Iterable[int]) -> dict[int, int]:
    """RFC 9591 `secret_share_shard` with explicit coefficients [a_1, ..., a_{t-1}]: {i: f(i)}."""
    polynomial = [check_scalar(secret, field="secret")] + [
        check_scalar(a, field=f"coefficients[{k}]") for k, a in enumerate(coefficients)
    ]
    return {
        i: evaluate_polynomial(polynomial, i) for i in check_identifiers(identifiers, field="identifiers")
    }


def trusted_dealer_shares(
    threshold: int, identifiers: Iterable[int], rng: Rng, *, secret: int | None = None
) -> tuple[dict[int, SecretShare], PublicKeyPackage]:
    """Deal a (new or given) secret to `identifiers`; each `SecretShare` carries the Feldman commitment."""
    ids = check_identifiers(identifiers, field="identifiers")
    codec.check_threshold(threshold, len(ids), field="threshold")
    s = random_scalar(rng) if secret is None else check_scalar(secret, field="secret", nonzero=True)
    polynomial = random_polynomial(s, threshold - 1, rng)
    commitment = vss_commit(polynomial)
    shares = {i: SecretShare(i, evaluate_polynomial(polynomial, i), commitment) for i in ids}
    public = PublicKeyPackage({i: base_mult(shares[i].signing_share) for i in ids}, commitment[0], threshold)
    return shares, public


def trusted_dealer_keygen(
    threshold: int, identifiers: Iterable[int], rng: Rng
) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    """A fresh group key split `threshold`-of-n over `identifiers` by a dealer who then forgets it.

    The dealer sees the secret: use the DKG where no single party may. Holders that receive their share
    over a network should receive a `SecretShare` (`trusted_dealer_shares`) and check it with `verify`."""
    shares, public = trusted_dealer_shares(threshold, identifiers, rng)
    packages = {
        i: KeyPackage(i, share.signing_share, public.verifying_shares[i], public.group_public_key, threshold)
        for i, share in shares.items()
    }
    return packages, public


def public_key_package_from_commitment(
    commitment: Sequence[bytes], identifiers: Iterable[int], min_signers: int
) -> PublicKeyPackage:
    """Everyone's verifying share from the (summed) Feldman commitment of the shared polynomial."""
    return PublicKeyPackage({i: vss_evaluate(commitment, i) for i in identifiers}, commitment[0], min_signers)


def check_same_key(packages: Mapping[int, KeyPackage], public: PublicKeyPackage | None = None) -> None:
    """All packages are for one group key and threshold, stored under their own identifiers."""
    for identifier, package in packages.items():
        if package.identifier != identifier:
            raise KeyMismatchError(
                f"stored under identifier {identifier} but belongs to {package.identifier}",
                participant=identifier,
            )
        reference = (
            public.group_public_key if public is not None else next(iter(packages.values())).group_public_key
        )
        if package.group_public_key != reference:
            raise KeyMismatchError("key package is for a different group key", participant=identifier)
        if public is not None:
            if package.min_signers != public.min_signers:
                raise KeyMismatchError(
                    f"key package threshold {package.min_signers} differs from the public package's "
                    f"{public.min_signers}",
                    participant=identifier,
                )
            if public.verifying_shares.get(identifier) != package.verifying_share:
                raise KeyMismatchError(
                    "verifying share differs from the public key package's", participant=identifier
                )
