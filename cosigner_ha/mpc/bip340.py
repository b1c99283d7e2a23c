"""FROST over secp256k1 with BIP-340 compatible signatures (optional second suite).

RFC 9591's own FROST(secp256k1, SHA-256) suite (section 6.5) outputs a 33-byte R and hashes its challenge
with `hash_to_field`: neither BIP-340 nor ECDSA, so no standard verifier accepts its signatures. This module
follows the Zcash Foundation's `frost-secp256k1-tr` instead, without a Taproot tweak:

- the challenge is BIP-340's tagged hash, c = H_"BIP0340/challenge"(x(R) ‖ x(PK) ‖ m) mod N;
- the group key must have an even y: when it does not, every signer uses -s_i (and verifying shares are
  negated), which signs for -PK, the key whose x-only form BIP-340 verifiers use;
- the group commitment R must have an even y: when it does not, every signer negates its nonces;
- the signature is x(R) ‖ z (64 bytes) and libsecp256k1's BIP-340 verifier (coincurve's
  `PublicKeyXOnly.verify`) accepts it for the x-only group key.

Nonces, binding factors and the commitment-list encoding are RFC 9591 section 6.5's, with the context string
`FROST-secp256k1-SHA256-TR-v1`. `RFC9591_SUITE` runs the RFC's suite itself: it exists to reproduce the RFC
and Zcash Foundation secp256k1 test vectors, which pins the shared machinery; it is not standard-verifiable
and nothing else should use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coincurve import PublicKeyXOnly

from . import _codec as codec
from .errors import (
    CommitmentMismatchError,
    DecodeError,
    DuplicateIdentifierError,
    InvalidScalarError,
    InvalidSignatureShareError,
    KeyMismatchError,
    ThresholdError,
    UnknownIdentifierError,
)
from .nonces import SingleUseNonces
from .rng import Rng, random_bytes
from .secp256k1 import (
    ELEMENT_SIZE,
    N,
    base_mult,
    has_even_y,
    hash_to_scalar,
    mult,
    negate,
    scalar_from_bytes,
    scalar_to_bytes,
    sum_elements,
    tagged_hash,
    validate_element,
)
from .shamir import check_identifiers, evaluate_polynomial, lagrange_coefficient

#: Scheme name carried by trace events.
scheme = "frost-secp256k1-bip340"


@dataclass(frozen=True)
class Suite:
    """The hashes of one FROST(secp256k1, SHA-256) variant."""

    context: bytes
    bip340: bool

    def h1(self, m: bytes) -> int:
        return hash_to_scalar(m, self.context + b"rho")

    def h3(self, m: bytes) -> int:
        return hash_to_scalar(m, self.context + b"nonce")

    def h4(self, m: bytes) -> bytes:
        return hashlib.sha256(self.context + b"msg" + m).digest()

    def h5(self, m: bytes) -> bytes:
        return hashlib.sha256(self.context + b"com" + m).digest()

    def challenge(self, r: bytes, public_key: bytes, message: bytes) -> int:
        if self.bip340:
            return (
                int.from_bytes(tagged_hash(b"BIP0340/challenge", r[1:] + public_key[1:] + message), "big") % N
            )
        return hash_to_scalar(r + public_key + message, self.context + b"chal")


BIP340_SUITE = Suite(b"FROST-secp256k1-SHA256-TR-v1", bip340=True)
#: RFC 9591 section 6.5 as written: for its test vectors only (its signatures fit no standard verifier).
RFC9591_SUITE = Suite(b"FROST-secp256k1-SHA256-v1", bip340=False)


# --------------------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class KeyPackage:
    """One holder's share of a secp256k1 group key (points are 33-byte compressed)."""

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
        name = "secp256k1.KeyPackage"
        d = codec.expect_dict(
            data, name, ("identifier", "signing_share", "verifying_share", "group_public_key", "min_signers")
        )
        identifier = codec.check_identifier(codec.get_int(d, "identifier", name), field=f"{name}.identifier")
        share = scalar_from_bytes(
            codec.get_bytes(d, "signing_share", name), field=f"{name}.signing_share", participant=identifier
        )
        verifying = validate_element(
            d["verifying_share"], field=f"{name}.verifying_share", participant=identifier
        )
        group = validate_element(
            d["group_public_key"], field=f"{name}.group_public_key", participant=identifier
        )
        min_signers = codec.get_int(d, "min_signers", name, participant=identifier)
        if min_signers < 2:
            raise ThresholdError(
                f"the threshold is at least 2, got {min_signers}", participant=identifier, field=name
            )
        if share == 0 or base_mult(share) != verifying:
            raise KeyMismatchError(
                "verifying_share is not signing_share·G", participant=identifier, field=name
            )
        return cls(identifier, share, verifying, group, min_signers)


@dataclass(frozen=True)
class PublicKeyPackage:
    verifying_shares: Mapping[int, bytes]
    group_public_key: bytes
    min_signers: int

    @property
    def x_only_public_key(self) -> bytes:
        """The 32-byte key BIP-340 verifiers take."""
        return self.group_public_key[1:]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verifying_shares": [[i, self.verifying_shares[i]] for i in sorted(self.verifying_shares)],
            "group_public_key": self.group_public_key,
            "min_signers": self.min_signers,
        }

    @classmethod
    def from_dict(cls, data: object) -> PublicKeyPackage:
        name = "secp256k1.PublicKeyPackage"
        d = codec.expect_dict(data, name, ("verifying_shares", "group_public_key", "min_signers"))
        shares: dict[int, bytes] = {}
        for index, entry in enumerate(codec.get_list(d, "verifying_shares", name)):
            where = f"{name}.verifying_shares[{index}]"
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise DecodeError("expected an [identifier, verifying_share] pair", field=where)
            identifier = codec.check_identifier(entry[0], field=f"{where}[0]")
            if identifier in shares:
                raise DuplicateIdentifierError(
                    f"identifier {identifier} has two verifying shares", field=where
                )
            shares[identifier] = validate_element(entry[1], field=f"{where}[1]", participant=identifier)
        group = validate_element(d["group_public_key"], field=f"{name}.group_public_key")
        min_signers = codec.check_threshold(
            codec.get_int(d, "min_signers", name), len(shares), field=f"{name}.min_signers"
        )
        return cls(shares, group, min_signers)


def split_secret(secret: int, coefficients: Sequence[int], identifiers: Iterable[int]) -> dict[int, int]:
    """Shamir shares f(i) of f = secret + a_1·x + ... (RFC 9591 `secret_share_shard`, mod N)."""
    polynomial = [secret, *coefficients]
    return {
        i: evaluate_polynomial(polynomial, i, N) for i in check_identifiers(identifiers, field="identifiers")
    }


def trusted_dealer_keygen(
    threshold: int, identifiers: Iterable[int], rng: Rng
) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    """A fresh secp256k1 group key split `threshold`-of-n over `identifiers` by a dealer who forgets it."""
    ids = check_identifiers(identifiers, field="identifiers")
    codec.check_threshold(threshold, len(ids), field="threshold")
    secret = _random_scalar(rng)
    shares = split_secret(secret, [_random_scalar(rng) for _ in range(threshold - 1)], ids)
    if 0 in shares.values():  # probability about n/2^256; the identity has no encoding
        return trusted_dealer_keygen(threshold, ids, rng)
    group_key = base_mult(secret)
    verifying = {i: base_mult(shares[i]) for i in ids}
    packages = {i: KeyPackage(i, shares[i], verifying[i], group_key, threshold) for i in ids}
    return packages, PublicKeyPackage(verifying, group_key, threshold)


def _random_scalar(rng: Rng) -> int:
    while True:
        k = int.from_bytes(random_bytes(rng, 48), "big") % N
        if k:
            return k


# --------------------------------------------------------------------------------------------- signing


@dataclass(frozen=True, slots=True)
class SigningCommitments:
    """Round-one output: hiding D = d·G and binding E = e·G, validated on construction."""

    identifier: int
    hiding: bytes
    binding: bytes

    def __post_init__(self) -> None:
        identifier = codec.check_identifier(self.identifier, field="SigningCommitments.identifier")
        validate_element(self.hiding, field="hiding commitment", participant=identifier)
        validate_element(self.binding, field="binding commitment", participant=identifier)

    @classmethod
    def _trusted(cls, identifier: int, hiding: bytes, binding: bytes) -> SigningCommitments:
        commitments = object.__new__(cls)
        object.__setattr__(commitments, "identifier", identifier)
        object.__setattr__(commitments, "hiding", hiding)
        object.__setattr__(commitments, "binding", binding)
        return commitments

    @property
    def nonce_id(self) -> bytes:
        return hashlib.sha256(b"cosigner-ha/frost-secp256k1/nonce-id/v1" + self.encode()).digest()

    def encode(self) -> bytes:
        """The RFC 9591 commitment-list entry: identifier (32 bytes, big-endian) ‖ hiding ‖ binding."""
        return scalar_to_bytes(self.identifier) + self.hiding + self.binding

    def to_dict(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "hiding": self.hiding, "binding": self.binding}

    @classmethod
    def from_dict(cls, data: object) -> SigningCommitments:
        d = codec.expect_dict(data, "SigningCommitments", ("identifier", "hiding", "binding"))
        identifier = codec.get_int(d, "identifier", "SigningCommitments")
        return cls(identifier, d["hiding"], d["binding"])


class SigningNonces(SingleUseNonces[SigningCommitments]):
    """A secret nonce pair, single use; the same contract as the Ed25519 `SigningNonces` (docs/mpc.md)."""

    __slots__ = ()

    def to_bytes(self) -> bytes:
        hiding, binding = self._peek()
        return b"\x01" + scalar_to_bytes(self.identifier) + scalar_to_bytes(hiding) + scalar_to_bytes(binding)

    @classmethod
    def from_bytes(cls, data: bytes) -> SigningNonces:
        if not isinstance(data, bytes) or len(data) != 97 or data[0] != 1:
            raise DecodeError("secp256k1 SigningNonces: expected 97 bytes starting with version 1")
        identifier = codec.check_identifier(
            int.from_bytes(data[1:33], "big"), field="SigningNonces.identifier"
        )
        hiding = scalar_from_bytes(data[33:65], field="SigningNonces.hiding", participant=identifier)
        binding = scalar_from_bytes(data[65:97], field="SigningNonces.binding", participant=identifier)
        if not hiding or not binding:
            raise InvalidScalarError("a nonce is never zero", participant=identifier, field="SigningNonces")
        return cls._new(
            hiding, binding, SigningCommitments._trusted(identifier, base_mult(hiding), base_mult(binding))
        )


@dataclass(frozen=True)
class SigningPackage:
    message: bytes
    commitments: Mapping[int, SigningCommitments]

    def __post_init__(self) -> None:
        if type(self.message) is not bytes:
            raise DecodeError("the message is bytes", field="SigningPackage.message")
        if not self.commitments:
            raise CommitmentMismatchError(
                "a signing package needs the signers' commitments", field="SigningPackage"
            )
        for key, commitments in self.commitments.items():
            if not isinstance(commitments, SigningCommitments) or key != commitments.identifier:
                raise CommitmentMismatchError(
                    f"the entry for {key!r} is not that participant's commitments",
                    field=f"SigningPackage.commitments[{key!r}]",
                )
        object.__setattr__(self, "commitments", {i: self.commitments[i] for i in sorted(self.commitments)})

    @property
    def signers(self) -> tuple[int, ...]:
        return tuple(self.commitments)


@dataclass(frozen=True, slots=True)
class SignatureShare:
    identifier: int
    share: int

    def __post_init__(self) -> None:
        codec.check_identifier(self.identifier, field="SignatureShare.identifier")
        if type(self.share) is not int or not 0 <= self.share < N:
            raise InvalidScalarError(
                "a signature share is an int in [0, N)", participant=self.identifier, field="share"
            )


def commit(
    key_package: KeyPackage, rng: Rng, *, suite: Suite = BIP340_SUITE
) -> tuple[SigningNonces, SigningCommitments]:
    """Round one: RFC 9591 `nonce_generate` twice, and the commitments."""
    secret = scalar_to_bytes(key_package.signing_share)
    hiding = _nonce(suite, secret, rng)
    binding = _nonce(suite, secret, rng)
    commitments = SigningCommitments._trusted(key_package.identifier, base_mult(hiding), base_mult(binding))
    return SigningNonces._new(hiding, binding, commitments), commitments


def _nonce(suite: Suite, secret: bytes, rng: Rng) -> int:
    while True:
        nonce = suite.h3(random_bytes(rng, 32) + secret)
        if nonce:
            return nonce


def _even_key(group_public_key: bytes, suite: Suite) -> tuple[bytes, int]:
    """(the key signatures are made for, ±1): BIP-340 signs for the even-y one of ±PK."""
    if suite.bip340 and not has_even_y(group_public_key):
        return negate(group_public_key), -1
    return group_public_key, 1


def binding_factor_inputs(group_public_key: bytes, package: SigningPackage, suite: Suite) -> dict[int, bytes]:
    """RFC 9591 section 4.4 inputs: PK ‖ H4(msg) ‖ H5(encoded commitment list) ‖ i."""
    encoded = b"".join(c.encode() for c in package.commitments.values())
    prefix = group_public_key + suite.h4(package.message) + suite.h5(encoded)
    return {i: prefix + scalar_to_bytes(i) for i in package.commitments}


def _group_commitment(
    package: SigningPackage, rho: Mapping[int, int], suite: Suite, own: tuple[int, int] | None = None
) -> tuple[bytes, int]:
    """(R as the signature uses it, ±1 every signer applies to its nonces). `own` = (signer, d + ρ·e)."""
    terms: list[bytes] = []
    for i, c in package.commitments.items():
        if own is not None and i == own[0]:
            terms.append(base_mult(own[1]))
        else:
            terms += [c.hiding, mult(rho[i], c.binding)]
    r = sum_elements(terms)
    if suite.bip340 and not has_even_y(r):
        return negate(r), -1
    return r, 1


def sign(
    signing_package: SigningPackage,
    nonces: SigningNonces,
    key_package: KeyPackage,
    *,
    suite: Suite = BIP340_SUITE,
) -> SignatureShare:
    """Round two; consumes `nonces`."""
    me = key_package.identifier
    if nonces.identifier != me:
        raise CommitmentMismatchError(
            f"these nonces belong to participant {nonces.identifier}", participant=me
        )
    if nonces.consumed:
        nonces._refuse()
    mine = signing_package.commitments.get(me)
    if mine is None or mine != nonces.commitments:
        raise CommitmentMismatchError(
            "the signing package does not hold this signer's commitments", participant=me
        )
    if len(signing_package.commitments) < key_package.min_signers:
        raise ThresholdError(
            f"signers {list(signing_package.signers)} are fewer than the threshold {key_package.min_signers}"
        )
    key, key_sign = _even_key(key_package.group_public_key, suite)
    rho = {i: suite.h1(data) for i, data in binding_factor_inputs(key, signing_package, suite).items()}
    hiding, binding = nonces._take()
    own = (hiding + binding * rho[me]) % N
    r, nonce_sign = _group_commitment(signing_package, rho, suite, (me, own))
    c = suite.challenge(r, key, signing_package.message)
    lam = lagrange_coefficient(me, signing_package.signers, N)
    return SignatureShare(me, (nonce_sign * own + lam * key_sign * key_package.signing_share * c) % N)


def sign_once(
    signing_package: SigningPackage,
    nonces: SigningNonces,
    key_package: KeyPackage,
    persist: Callable[[bytes], None],
    *,
    suite: Suite = BIP340_SUITE,
) -> SignatureShare:
    """`sign`, then `persist(nonce_id)` before the share is returned (the contract of docs/mpc.md)."""
    share = sign(signing_package, nonces, key_package, suite=suite)
    persist(nonces.nonce_id)
    return share


def aggregate(
    signing_package: SigningPackage,
    shares: Mapping[int, SignatureShare],
    public_key_package: PublicKeyPackage,
    *,
    suite: Suite = BIP340_SUITE,
) -> bytes:
    """The signature (BIP-340: x(R) ‖ z; RFC suite: R ‖ z), verified; culprits named on failure."""
    signers = signing_package.signers
    if sorted(shares) != list(signers):
        raise CommitmentMismatchError(f"shares come from {sorted(shares)}, the signers are {list(signers)}")
    unknown = [i for i in signers if i not in public_key_package.verifying_shares]
    if unknown:
        raise UnknownIdentifierError(f"signers {unknown} hold no share of this key")
    if len(signers) < public_key_package.min_signers:
        raise ThresholdError(
            f"signers {list(signers)} are fewer than the threshold {public_key_package.min_signers}"
        )
    key, key_sign = _even_key(public_key_package.group_public_key, suite)
    rho = {i: suite.h1(data) for i, data in binding_factor_inputs(key, signing_package, suite).items()}
    r, nonce_sign = _group_commitment(signing_package, rho, suite)
    c = suite.challenge(r, key, signing_package.message)
    z = sum(shares[i].share for i in signers) % N
    if suite.bip340:
        signature = r[1:] + scalar_to_bytes(z)
        ok = verify(key, signing_package.message, signature)
    else:
        signature = r + scalar_to_bytes(z)
        ok = base_mult(z) == sum_elements([r, mult(c, key)]) if z else False
    if ok:
        return signature
    culprits = []
    for i in signers:  # RFC 9591 section 5.4, with the parities the signers applied
        commitments = signing_package.commitments[i]
        nonce_term = sum_elements([commitments.hiding, mult(rho[i], commitments.binding)])
        verifying = public_key_package.verifying_shares[i]
        expected = sum_elements(
            [
                nonce_term if nonce_sign == 1 else negate(nonce_term),
                mult(
                    c * lagrange_coefficient(i, signers, N) % N,
                    verifying if key_sign == 1 else negate(verifying),
                ),
            ]
        )
        if shares[i].share == 0 or base_mult(shares[i].share) != expected:
            culprits.append(i)
    if not culprits:
        raise KeyMismatchError(
            "the aggregate does not verify although every share checks out: inconsistent key material"
        )
    raise InvalidSignatureShareError(f"wrong signature shares from {culprits}", tuple(culprits))


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """BIP-340 verification by libsecp256k1 (coincurve); `public_key` x-only (32 bytes) or compressed (33)."""
    if len(public_key) == ELEMENT_SIZE:
        public_key = public_key[1:]
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        return bool(PublicKeyXOnly(public_key).verify(signature, message))
    except ValueError:
        return False
