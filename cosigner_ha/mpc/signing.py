"""Two-round FROST signing (RFC 9591 sections 4 and 5) and the coordinator's aggregation.

Round one (`commit`) is message-independent, so nodes can commit ahead of time; round two (`sign`) turns a
nonce pair into one signature share; `aggregate` sums the shares, checks the result with a standard Ed25519
verifier and, only when that fails, checks each share to name the culprits (section 5.4; checking shares
only on failure is the cheaper order the Zcash Foundation adopted).

`SigningSession` is the fast path for parties that share one process (the cloud co-signers and the
aggregator): binding factors, the group commitment and the challenge are public values every party derives
identically, so the session computes them once; in-process signers may also fold their own nonce terms into
one base-point multiplication instead of a variable-base one each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _codec as codec
from .ed25519 import (
    ELEMENT_SIZE,
    L,
    base_mult,
    h1,
    h2,
    h3,
    h4,
    h5,
    mult,
    mult_element,
    scalar_from_bytes,
    scalar_to_bytes,
    sum_elements,
    validate_element,
    verify_signature,
)
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
from .keys import KeyPackage, PublicKeyPackage
from .nonces import SingleUseNonces
from .rng import Rng, random_bytes
from .shamir import lagrange_coefficient

_NONCE_ID_DOMAIN = b"cosigner-ha/frost-ed25519/nonce-id/v1"


# --------------------------------------------------------------------------------------------- round one


@dataclass(frozen=True, slots=True)
class SigningCommitments:
    """A signer's public round-one output: hiding D = d·B and binding E = e·B (32-byte points).

    Constructing one (or `from_dict`) validates both points (RFC 9591 `DeserializeElement`); `commit` builds
    its own output without re-checking. Decoding from bytes (`from_bytes`, `SigningPackage.from_bytes`: what
    travels between parties) validates the hiding commitment and leaves the binding commitment to the one
    place it is used, the variable-base multiplication ρ_i·E_i (`group_commitment`, `share_is_valid`), which
    validates its input anyway and refuses a bad point with the same error, before any share exists: that
    saves one full validation (a multiplication by L inside libsodium) per peer and signature."""

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
        """Stable 32-byte name of the nonce pair behind these commitments (what a node records as used)."""
        return hashlib.sha256(
            _NONCE_ID_DOMAIN + scalar_to_bytes(self.identifier) + self.hiding + self.binding
        ).digest()

    def encode(self) -> bytes:
        """The RFC 9591 commitment-list entry: identifier ‖ hiding ‖ binding."""
        return scalar_to_bytes(self.identifier) + self.hiding + self.binding

    def to_dict(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "hiding": self.hiding, "binding": self.binding}

    @classmethod
    def from_dict(cls, data: object) -> SigningCommitments:
        d = codec.expect_dict(data, "SigningCommitments", ("identifier", "hiding", "binding"))
        identifier = codec.get_int(d, "identifier", "SigningCommitments")
        return cls(
            identifier,
            codec.get_bytes(d, "hiding", "SigningCommitments", size=ELEMENT_SIZE, participant=identifier),
            codec.get_bytes(d, "binding", "SigningCommitments", size=ELEMENT_SIZE, participant=identifier),
        )

    def to_bytes(self) -> bytes:
        return codec.header("SigningCommitments") + self.encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SigningCommitments:
        body = codec.strip_header(data, "SigningCommitments", min_body=96, exact=True)
        return cls._decode_entry(body, field="SigningCommitments.identifier")

    @classmethod
    def _decode_entry(cls, entry: bytes, *, field: str) -> SigningCommitments:
        """The hiding commitment is validated here; the binding one where it is multiplied (class docstring)."""
        identifier = codec.identifier_from_bytes(entry[:32], field=field)
        hiding = validate_element(entry[32:64], field="hiding commitment", participant=identifier)
        return cls._trusted(identifier, hiding, entry[64:96])


class SigningNonces(SingleUseNonces[SigningCommitments]):
    """A signer's secret round-one nonce pair (d, e); usable for exactly one signature share.

    `sign` consumes the pair: its scalars are dropped and any later use raises `NonceReuseError`. Copying and
    pickling are refused, so the only way to get a second object for the same pair is `to_bytes` followed by
    `from_bytes` (the sealed-store path). A caller that restores a pair MUST check its `nonce_id` against the
    persisted consumed set (`ConsumedNonces`) and MUST durably record the `nonce_id` as consumed before it
    releases the share (`sign_once` does both in that order): otherwise a crash, restart or restore from an
    old backup could sign twice with one pair, and three shares from one pair give away the signing share.
    """

    __slots__ = ()

    def to_bytes(self) -> bytes:
        """For a sealed store only. See the class docstring for the restore contract."""
        hiding, binding = self._peek()
        return b"".join(
            (
                codec.header("SigningNonces"),
                scalar_to_bytes(self.identifier),
                scalar_to_bytes(hiding),
                scalar_to_bytes(binding),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SigningNonces:
        """Restore a pair; the caller checks `nonce_id` against its consumed set before signing with it."""
        body = codec.strip_header(data, "SigningNonces", min_body=96, exact=True)
        identifier = codec.identifier_from_bytes(body[:32], field="SigningNonces.identifier")
        hiding = scalar_from_bytes(body[32:64], field="SigningNonces.hiding", participant=identifier)
        binding = scalar_from_bytes(body[64:96], field="SigningNonces.binding", participant=identifier)
        if hiding == 0 or binding == 0:
            raise InvalidScalarError("a nonce is never zero", participant=identifier, field="SigningNonces")
        commitments = SigningCommitments._trusted(identifier, base_mult(hiding), base_mult(binding))
        return cls._new(hiding, binding, commitments)


def _nonce_generate(secret: bytes, rng: Rng) -> int:
    """RFC 9591 `nonce_generate`: H3(32 fresh random bytes ‖ secret), so a weak RNG alone cannot leak it."""
    while True:
        nonce = h3(random_bytes(rng, 32) + secret)
        if nonce:
            return nonce


def commit(key_package: KeyPackage, rng: Rng) -> tuple[SigningNonces, SigningCommitments]:
    """Round one (RFC 9591 section 5.1): a fresh nonce pair and its public commitments."""
    secret = scalar_to_bytes(key_package.signing_share)
    hiding = _nonce_generate(secret, rng)
    binding = _nonce_generate(secret, rng)
    commitments = SigningCommitments._trusted(key_package.identifier, base_mult(hiding), base_mult(binding))
    return SigningNonces._new(hiding, binding, commitments), commitments


# --------------------------------------------------------------------------------------------- round two


@dataclass(frozen=True)
class SigningPackage:
    """What the coordinator sends every signer: the message and the commitments of exactly the signers."""

    message: bytes
    commitments: Mapping[int, SigningCommitments]
    _signers: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.message) is not bytes:
            raise DecodeError(
                f"the message is bytes, got {type(self.message).__name__}", field="SigningPackage.message"
            )
        if not isinstance(self.commitments, Mapping) or not self.commitments:
            raise CommitmentMismatchError(
                "a signing package needs the signers' commitments", field="SigningPackage"
            )
        for key, commitments in self.commitments.items():
            if not isinstance(commitments, SigningCommitments):
                raise DecodeError(
                    f"expected SigningCommitments, got {type(commitments).__name__}",
                    field=f"SigningPackage.commitments[{key!r}]",
                )
            if key != commitments.identifier or type(key) is not int:
                raise CommitmentMismatchError(
                    f"the entry for {key!r} holds participant {commitments.identifier}'s commitments",
                    field=f"SigningPackage.commitments[{key!r}]",
                )
        signers = tuple(sorted(self.commitments))
        object.__setattr__(self, "commitments", {i: self.commitments[i] for i in signers})
        object.__setattr__(self, "_signers", signers)

    @property
    def signers(self) -> tuple[int, ...]:
        """Identifiers of the signers, ascending (the RFC's commitment-list order)."""
        return self._signers

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "commitments": [c.to_dict() for c in self.commitments.values()]}

    @classmethod
    def from_dict(cls, data: object) -> SigningPackage:
        d = codec.expect_dict(data, "SigningPackage", ("message", "commitments"))
        entries = codec.get_list(d, "commitments", "SigningPackage")
        return cls._from_entries(
            codec.get_bytes(d, "message", "SigningPackage"),
            [SigningCommitments.from_dict(e) for e in entries],
        )

    def to_bytes(self) -> bytes:
        parts = [
            codec.header("SigningPackage"),
            codec.u16(len(self.commitments), field="SigningPackage.commitments"),
        ]
        parts += [c.encode() for c in self.commitments.values()]
        parts.append(self.message)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, *, known: Iterable[SigningCommitments] = ()) -> SigningPackage:
        """Decode, validating every commitment except those byte-equal to one in `known` (a signer's own,
        already valid: it made them), which are taken as they are instead of being validated again. As for
        `SigningCommitments.from_bytes`, a binding commitment is validated where it is multiplied."""
        body = codec.strip_header(data, "SigningPackage", min_body=2, exact=False)
        count = int.from_bytes(body[:2], "big")
        end = 2 + 96 * count
        if len(body) < end:
            raise DecodeError(f"SigningPackage: {count} commitments need {end} body bytes, got {len(body)}")
        valid = {c.encode(): c for c in known}
        entries = []
        for k in range(count):
            entry = body[2 + 96 * k : 98 + 96 * k]
            same = valid.get(entry)
            entries.append(
                same
                if same is not None
                else SigningCommitments._decode_entry(entry, field=f"SigningPackage.commitments[{k}]")
            )
        return cls._from_entries(body[end:], entries)

    @classmethod
    def _from_entries(cls, message: bytes, entries: list[SigningCommitments]) -> SigningPackage:
        commitments: dict[int, SigningCommitments] = {}
        for entry in entries:
            if entry.identifier in commitments:
                raise DuplicateIdentifierError(
                    f"participant {entry.identifier} has two commitments", field="SigningPackage.commitments"
                )
            commitments[entry.identifier] = entry
        return cls(message, commitments)


@dataclass(frozen=True, slots=True)
class SignatureShare:
    """A signer's round-two output z_i."""

    identifier: int
    share: int

    def __post_init__(self) -> None:
        codec.check_identifier(self.identifier, field="SignatureShare.identifier")
        if type(self.share) is not int or not 0 <= self.share < L:
            raise InvalidScalarError(
                "a signature share is an int in [0, L)",
                participant=self.identifier,
                field="SignatureShare.share",
            )

    def to_dict(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "share": scalar_to_bytes(self.share)}

    @classmethod
    def from_dict(cls, data: object) -> SignatureShare:
        d = codec.expect_dict(data, "SignatureShare", ("identifier", "share"))
        identifier = codec.check_identifier(
            codec.get_int(d, "identifier", "SignatureShare"), field="SignatureShare.identifier"
        )
        return cls(identifier, codec.get_scalar(d, "share", "SignatureShare", participant=identifier))

    def to_bytes(self) -> bytes:
        return codec.header("SignatureShare") + scalar_to_bytes(self.identifier) + scalar_to_bytes(self.share)

    @classmethod
    def from_bytes(cls, data: bytes) -> SignatureShare:
        body = codec.strip_header(data, "SignatureShare", min_body=64, exact=True)
        identifier = codec.identifier_from_bytes(body[:32], field="SignatureShare.identifier")
        return cls(
            identifier, scalar_from_bytes(body[32:], field="SignatureShare.share", participant=identifier)
        )


# ------------------------------------------------------------------------------------------- the computation


def binding_factor_inputs(group_public_key: bytes, package: SigningPackage) -> dict[int, bytes]:
    """RFC 9591 `compute_binding_factors` inputs: PK ‖ H4(msg) ‖ H5(encoded commitment list) ‖ i."""
    encoded = b"".join(c.encode() for c in package.commitments.values())
    prefix = group_public_key + h4(package.message) + h5(encoded)
    return {i: prefix + scalar_to_bytes(i) for i in package.commitments}


def binding_factors(group_public_key: bytes, package: SigningPackage) -> dict[int, int]:
    """RFC 9591 `compute_binding_factors`: ρ_i = H1(binding factor input of i)."""
    return {i: h1(data) for i, data in binding_factor_inputs(group_public_key, package).items()}


def group_commitment(package: SigningPackage, rho: Mapping[int, int], known: Mapping[int, int]) -> bytes:
    """RFC 9591 `compute_group_commitment`: R = Σ D_i + ρ_i·E_i.

    `known` maps in-process signers to d_i + ρ_i·e_i: their terms are summed as scalars and cost one
    base-point multiplication in all, instead of a variable-base multiplication and an addition each. Every
    other signer's binding commitment is validated by its multiplication (`mult_element`)."""
    terms: list[bytes] = []
    folded = 0
    for identifier, commitments in package.commitments.items():
        if identifier in known:
            folded += known[identifier]
        else:
            terms.append(commitments.hiding)
            terms.append(
                mult_element(
                    rho[identifier], commitments.binding, field="binding commitment", participant=identifier
                )
            )
    if known:
        terms.insert(0, base_mult(folded % L))
    return sum_elements(terms)


def challenge(group_commitment_enc: bytes, group_public_key: bytes, message: bytes) -> int:
    """RFC 9591 `compute_challenge`: H2(R ‖ PK ‖ msg), exactly RFC 8032's Ed25519 challenge."""
    return h2(group_commitment_enc + group_public_key + message)


def _check_own_commitments(package: SigningPackage, nonces: SigningNonces, key_package: KeyPackage) -> None:
    identifier = key_package.identifier
    if nonces.identifier != identifier:
        raise CommitmentMismatchError(
            f"these nonces belong to participant {nonces.identifier}, the key package to {identifier}",
            participant=identifier,
        )
    if nonces.consumed:
        nonces._refuse()
    mine = package.commitments.get(identifier)
    if mine is None:
        raise CommitmentMismatchError(
            f"the signing package has no commitments for this signer (signers: {list(package.signers)})",
            participant=identifier,
        )
    if mine is not nonces.commitments and mine != nonces.commitments:
        raise CommitmentMismatchError(
            "the signing package's commitments for this signer are not the ones its nonces made",
            participant=identifier,
        )


def _check_signer_count(package: SigningPackage, min_signers: int) -> None:
    if len(package.commitments) < min_signers:
        raise ThresholdError(
            f"signers {list(package.signers)} are fewer than the threshold {min_signers}",
            field="SigningPackage.commitments",
        )


def sign(signing_package: SigningPackage, nonces: SigningNonces, key_package: KeyPackage) -> SignatureShare:
    """Round two (RFC 9591 section 5.2): z_i = d_i + e_i·ρ_i + λ_i·s_i·c. Consumes `nonces`.

    A signer's own term d_i·B + ρ_i·e_i·B is one base-point multiplication (it knows d_i and e_i). The group
    commitment, which validates the other signers' binding commitments, comes before the nonces are
    consumed: a package with a bad point is refused and leaves the pair unused."""
    _check_own_commitments(signing_package, nonces, key_package)
    _check_signer_count(signing_package, key_package.min_signers)
    identifier = key_package.identifier
    group_key = key_package.group_public_key
    rho = binding_factors(group_key, signing_package)
    hiding, binding = nonces._peek()
    own = (hiding + binding * rho[identifier]) % L
    r = group_commitment(signing_package, rho, {identifier: own})
    c = challenge(r, group_key, signing_package.message)
    nonces._take()
    lam = lagrange_coefficient(identifier, signing_package.signers)
    return SignatureShare(identifier, (own + lam * key_package.signing_share * c) % L)


def sign_once(
    signing_package: SigningPackage,
    nonces: SigningNonces,
    key_package: KeyPackage,
    persist: Callable[[bytes], None],
) -> SignatureShare:
    """`sign`, then `persist(nonce_id)` BEFORE the share is returned.

    `persist` must make "this pair is consumed" durable (and should refuse an id it already holds, as
    `ConsumedNonces.mark` does). If it raises, the share is dropped and the pair stays consumed."""
    share = sign(signing_package, nonces, key_package)
    persist(nonces.nonce_id)
    return share


class SigningSession:
    """One signature's public values, computed once for every party in this process.

    Binding factors, the group commitment R, the challenge and the Lagrange coefficients are the same for
    every signer and for the aggregator; computing them once is legitimate when the parties share a process.
    `local_nonces` are in-process signers' nonce pairs (not consumed here): their terms are folded into a
    single base-point multiplication. Building a session validates the other signers' binding commitments
    (their ρ_i·E_i), so a coordinator that builds it on receiving the commitments refuses a bad one there."""

    def __init__(
        self,
        signing_package: SigningPackage,
        public_key_package: PublicKeyPackage,
        *,
        local_nonces: Iterable[SigningNonces] = (),
    ) -> None:
        self.package = signing_package
        self.public_key_package = public_key_package
        signers = signing_package.signers
        unknown = [i for i in signers if i not in public_key_package.verifying_shares]
        if unknown:
            raise UnknownIdentifierError(
                f"signers {unknown} hold no share of this key "
                f"(holders: {list(public_key_package.identifiers)})",
                field="SigningPackage.commitments",
            )
        _check_signer_count(signing_package, public_key_package.min_signers)
        group_key = public_key_package.group_public_key
        self.binding_factors = binding_factors(group_key, signing_package)
        known: dict[int, int] = {}
        for nonces in local_nonces:
            mine = signing_package.commitments.get(nonces.identifier)
            if mine is not nonces.commitments and mine != nonces.commitments:
                raise CommitmentMismatchError(
                    "local nonces do not match the signing package's commitments",
                    participant=nonces.identifier,
                )
            hiding, binding = nonces._peek()
            known[nonces.identifier] = hiding + binding * self.binding_factors[nonces.identifier]
        self.group_commitment = group_commitment(signing_package, self.binding_factors, known)
        self.challenge = challenge(self.group_commitment, group_key, signing_package.message)

    def sign(
        self,
        nonces: SigningNonces,
        key_package: KeyPackage,
        *,
        persist: Callable[[bytes], None] | None = None,
    ) -> SignatureShare:
        """Round two with the session's R; consumes `nonces`; calls `persist(nonce_id)` before returning."""
        if key_package.group_public_key != self.public_key_package.group_public_key:
            raise KeyMismatchError(
                "the key package is for another group key", participant=key_package.identifier
            )
        _check_own_commitments(self.package, nonces, key_package)
        identifier = key_package.identifier
        hiding, binding = nonces._take()
        lam = lagrange_coefficient(identifier, self.package.signers)
        z = (
            hiding
            + binding * self.binding_factors[identifier]
            + lam * key_package.signing_share * self.challenge
        ) % L
        share = SignatureShare(identifier, z)
        if persist is not None:
            persist(nonces.nonce_id)
        return share

    def aggregate(self, shares: Mapping[int, SignatureShare]) -> bytes:
        """RFC 9591 section 5.3 `aggregate`, verified; on failure, blame per section 5.4."""
        signers = self.package.signers
        extra = sorted(i for i in shares if i not in self.package.commitments)
        if extra:
            raise UnknownIdentifierError(
                f"shares from {extra}, who have no commitments in the signing package "
                f"(signers: {list(signers)})",
                field="shares",
            )
        missing = [i for i in signers if i not in shares]
        if missing:
            raise CommitmentMismatchError(
                f"no signature share from {missing}, listed as signers in the signing package", field="shares"
            )
        total = 0
        for identifier in signers:
            share = shares[identifier]
            if share.identifier != identifier:
                raise CommitmentMismatchError(
                    f"the share stored under {identifier} is participant {share.identifier}'s", field="shares"
                )
            total += share.share
        group_key = self.public_key_package.group_public_key
        signature = self.group_commitment + scalar_to_bytes(total % L)
        if verify_signature(group_key, self.package.message, signature):
            return signature
        culprits = tuple(i for i in signers if not self.share_is_valid(shares[i]))
        if not culprits:
            raise KeyMismatchError(
                "the aggregate signature does not verify although every share checks out against its "
                "verifying share: the public key package's verifying shares do not belong to its group key"
            )
        raise InvalidSignatureShareError(
            f"the aggregate signature does not verify; wrong signature shares from {list(culprits)}",
            culprits,
        )

    def share_is_valid(self, share: SignatureShare) -> bool:
        """RFC 9591 `verify_signature_share`: z_i·B = D_i + ρ_i·E_i + (c·λ_i)·PK_i."""
        identifier = share.identifier
        commitments = self.package.commitments[identifier]
        lam = lagrange_coefficient(identifier, self.package.signers)
        expected = sum_elements(
            [
                commitments.hiding,
                mult_element(
                    self.binding_factors[identifier],
                    commitments.binding,
                    field="binding commitment",
                    participant=identifier,
                ),
                mult(self.challenge * lam % L, self.public_key_package.verifying_shares[identifier]),
            ]
        )
        return base_mult(share.share) == expected


def aggregate(
    signing_package: SigningPackage,
    shares: Mapping[int, SignatureShare],
    public_key_package: PublicKeyPackage,
) -> bytes:
    """Coordinator: the 64-byte RFC 8032 signature (R ‖ z), verified; `InvalidSignatureShareError` names
    the participants whose shares are wrong when it does not verify."""
    return SigningSession(signing_package, public_key_package).aggregate(shares)


def verify_signature_share(
    signing_package: SigningPackage, share: SignatureShare, public_key_package: PublicKeyPackage
) -> None:
    """Check one share on its own (RFC 9591 section 5.4); raises `InvalidSignatureShareError` if wrong."""
    if share.identifier not in signing_package.commitments:
        raise UnknownIdentifierError(
            "the share's signer has no commitments in the signing package", participant=share.identifier
        )
    if not SigningSession(signing_package, public_key_package).share_is_valid(share):
        raise InvalidSignatureShareError(
            f"the signature share of participant {share.identifier} is wrong", (share.identifier,)
        )


def verify(group_public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Standard RFC 8032 Ed25519 verification (libsodium via PyNaCl): what any third party would check."""
    for name, value in (
        ("group_public_key", group_public_key),
        ("message", message),
        ("signature", signature),
    ):
        if not isinstance(value, bytes):
            raise DecodeError(f"expected bytes, got {type(value).__name__}", field=name)
    return verify_signature(group_public_key, message, signature)
