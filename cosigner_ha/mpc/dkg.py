"""Distributed key generation: Pedersen's DKG with Schnorr proofs of knowledge (FROST paper, KeyGen,
Figure 1), in the three parts and with the hash of the Zcash Foundation implementation
(`frost-core/src/keys/dkg.rs`), whose test vectors it reproduces.

Every participant deals a random polynomial as a Feldman VSS dealer; the group secret is the sum of the
constant terms and nobody ever holds it. The proof of knowledge of each constant term stops a rogue-key
attack (a last participant choosing its commitment to cancel the others'). Part 1's package must reach
everyone identically (a broadcast channel, e.g. with an echo round); part 2's packages are private and go
over confidential, authenticated channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _codec as codec
from .ed25519 import (
    L,
    add,
    base_mult,
    hdkg,
    mult,
    random_scalar,
    scalar_from_bytes,
    scalar_to_bytes,
    sum_elements,
    validate_element,
)
from .errors import (
    CommitmentMismatchError,
    InvalidProofOfKnowledgeError,
    KeyMismatchError,
    ThresholdError,
    UnknownIdentifierError,
)
from .keys import KeyPackage, PublicKeyPackage, public_key_package_from_commitment
from .rng import Rng
from .shamir import (
    DealtShare,
    check_identifiers,
    evaluate_polynomial,
    random_polynomial,
    vss_commit,
    vss_verify,
)


@dataclass(frozen=True)
class DkgRound1Package:
    """Broadcast by `identifier`: its Feldman commitment and a proof of knowledge of its constant term."""

    identifier: int
    commitment: tuple[bytes, ...]
    proof_of_knowledge: bytes  # R (32 bytes) ‖ μ (32 bytes, little-endian)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "commitment": list(self.commitment),
            "proof_of_knowledge": self.proof_of_knowledge,
        }

    @classmethod
    def from_dict(cls, data: object) -> DkgRound1Package:
        name = "DkgRound1Package"
        d = codec.expect_dict(data, name, ("identifier", "commitment", "proof_of_knowledge"))
        identifier = codec.check_identifier(codec.get_int(d, "identifier", name), field=f"{name}.identifier")
        elements = codec.element_list(d, "commitment", name, participant=identifier)
        proof = codec.get_bytes(d, "proof_of_knowledge", name, size=64, participant=identifier)
        return cls(identifier, elements, proof)


@dataclass(frozen=True)
class DkgRound1Secret:
    """Kept by the participant between parts 1 and 2. Holds its secret polynomial."""

    identifier: int
    coefficients: tuple[int, ...] = field(repr=False)
    commitment: tuple[bytes, ...]
    min_signers: int
    max_signers: int


#: Sent privately in part 2 from `sender` to `receiver`: f_sender(receiver) (ZF's `round2::Package`).
DkgRound2Package = DealtShare


@dataclass(frozen=True)
class DkgRound2Secret:
    """Kept by the participant between parts 2 and 3: its own commitment and f_i(i)."""

    identifier: int
    commitment: tuple[bytes, ...]
    own_share: int = field(repr=False)
    min_signers: int
    max_signers: int


def _pok_challenge(identifier: int, constant_commitment: bytes, r: bytes) -> int:
    return hdkg(scalar_to_bytes(identifier) + constant_commitment + r)


def proof_of_knowledge(
    identifier: int, coefficients: tuple[int, ...], commitment: tuple[bytes, ...], rng: Rng
) -> bytes:
    """σ = (R, μ) with R = k·B, c = HDKG(i ‖ C_0 ‖ R), μ = k + a_0·c."""
    k = random_scalar(rng)
    r = base_mult(k)
    c = _pok_challenge(identifier, commitment[0], r)
    return r + scalar_to_bytes((k + coefficients[0] * c) % L)


def verify_proof_of_knowledge(package: DkgRound1Package) -> None:
    """μ·B = R + c·C_0, or `InvalidProofOfKnowledgeError` naming the sender."""
    identifier = package.identifier
    r = validate_element(
        package.proof_of_knowledge[:32], field="proof_of_knowledge.R", participant=identifier
    )
    mu = scalar_from_bytes(
        package.proof_of_knowledge[32:], field="proof_of_knowledge.mu", participant=identifier
    )
    c = _pok_challenge(identifier, package.commitment[0], r)
    if base_mult(mu) != add(r, mult(c, package.commitment[0])):
        raise InvalidProofOfKnowledgeError(
            "the proof of knowledge of the constant term does not verify", participant=identifier
        )


def dkg_round1_from_coefficients(
    identifier: int, coefficients: tuple[int, ...], max_signers: int, rng: Rng
) -> tuple[DkgRound1Secret, DkgRound1Package]:
    """Part 1 with a given polynomial (test vectors; `dkg_part1` draws it)."""
    commitment = vss_commit(coefficients)
    proof = proof_of_knowledge(identifier, coefficients, commitment, rng)
    secret = DkgRound1Secret(identifier, coefficients, commitment, len(coefficients), max_signers)
    return secret, DkgRound1Package(identifier, commitment, proof)


def dkg_part1(
    identifier: int, max_signers: int, min_signers: int, rng: Rng
) -> tuple[DkgRound1Secret, DkgRound1Package]:
    """Draw a secret polynomial of degree min_signers-1; broadcast its commitment and proof of knowledge."""
    codec.check_identifier(identifier, field="identifier")
    codec.check_threshold(min_signers, max_signers)
    polynomial = random_polynomial(random_scalar(rng), min_signers - 1, rng)
    return dkg_round1_from_coefficients(identifier, tuple(polynomial), max_signers, rng)


def _check_round1_packages(
    identifier: int, min_signers: int, max_signers: int, packages: Mapping[int, DkgRound1Package]
) -> tuple[int, ...]:
    others = check_identifiers(packages, field="round1_packages")
    if identifier in packages:
        raise CommitmentMismatchError(
            "round1_packages holds this participant's own package; pass only the others'",
            participant=identifier,
        )
    if len(others) != max_signers - 1:
        raise ThresholdError(
            f"expected round-1 packages from the {max_signers - 1} other participants, got {len(others)} "
            f"(from {list(others)})",
            participant=identifier,
            field="round1_packages",
        )
    for sender in others:
        package = packages[sender]
        if package.identifier != sender:
            raise CommitmentMismatchError(
                f"the package stored under {sender} was made by participant {package.identifier}",
                field=f"round1_packages[{sender}]",
            )
        if len(package.commitment) != min_signers:
            raise ThresholdError(
                f"commitment has {len(package.commitment)} elements, threshold {min_signers} needs as many",
                participant=sender,
                field="DkgRound1Package.commitment",
            )
    return others


def dkg_part2(
    secret: DkgRound1Secret, round1_packages: Mapping[int, DkgRound1Package]
) -> tuple[DkgRound2Secret, dict[int, DkgRound2Package]]:
    """Check everyone's proof of knowledge; return the private share f_i(ℓ) for each other participant ℓ."""
    others = _check_round1_packages(
        secret.identifier, secret.min_signers, secret.max_signers, round1_packages
    )
    for sender in others:
        verify_proof_of_knowledge(round1_packages[sender])
    outgoing = {
        receiver: DkgRound2Package(
            secret.identifier, receiver, evaluate_polynomial(secret.coefficients, receiver)
        )
        for receiver in others
    }
    own = evaluate_polynomial(secret.coefficients, secret.identifier)
    state = DkgRound2Secret(secret.identifier, secret.commitment, own, secret.min_signers, secret.max_signers)
    return state, outgoing


def dkg_part3(
    secret: DkgRound2Secret,
    round1_packages: Mapping[int, DkgRound1Package],
    round2_packages: Mapping[int, DkgRound2Package],
) -> tuple[KeyPackage, PublicKeyPackage]:
    """Check each received share against its sender's commitment, sum them, derive everyone's public data."""
    identifier = secret.identifier
    others = _check_round1_packages(identifier, secret.min_signers, secret.max_signers, round1_packages)
    received = check_identifiers(round2_packages, field="round2_packages")
    if received != others:
        missing = sorted(set(others) - set(received))
        extra = sorted(set(received) - set(others))
        raise (UnknownIdentifierError if extra else CommitmentMismatchError)(
            f"round-2 packages must come from the round-1 senders {list(others)}; "
            f"missing {missing}, unexpected {extra}",
            participant=identifier,
            field="round2_packages",
        )
    signing_share = secret.own_share
    for sender in others:
        package = round2_packages[sender]
        if package.sender != sender or package.receiver != identifier:
            raise CommitmentMismatchError(
                f"package stored under {sender} is from {package.sender} to {package.receiver}",
                participant=identifier,
                field=f"round2_packages[{sender}]",
            )
        vss_verify(
            package.value,
            identifier,
            round1_packages[sender].commitment,
            sender=sender,
            what="DKG share",
        )
        signing_share += package.value
    signing_share %= L
    commitments = [secret.commitment] + [round1_packages[s].commitment for s in others]
    summed = tuple(sum_elements([c[k] for c in commitments]) for k in range(secret.min_signers))
    public = public_key_package_from_commitment(summed, sorted((identifier, *others)), secret.min_signers)
    verifying_share = base_mult(signing_share)
    if public.verifying_shares[identifier] != verifying_share:
        raise KeyMismatchError(
            "the summed share does not match the summed commitments", participant=identifier
        )
    key_package = KeyPackage(
        identifier, signing_share, verifying_share, public.group_public_key, secret.min_signers
    )
    return key_package, public


def run_dkg(
    identifiers: list[int] | tuple[int, ...], min_signers: int, rng: Rng
) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    """All three parts for every participant in one process (tests, simulations)."""
    ids = check_identifiers(identifiers, field="identifiers")
    codec.check_threshold(min_signers, len(ids))
    round1 = {i: dkg_part1(i, len(ids), min_signers, rng) for i in ids}
    broadcast = {i: package for i, (_, package) in round1.items()}
    round2 = {i: dkg_part2(round1[i][0], {j: broadcast[j] for j in ids if j != i}) for i in ids}
    results = {}
    for i in ids:
        inbox = {j: round2[j][1][i] for j in ids if j != i}
        results[i] = dkg_part3(round2[i][0], {j: broadcast[j] for j in ids if j != i}, inbox)
    public = results[ids[0]][1]
    for i in ids:
        if results[i][1] != public:
            raise KeyMismatchError("participants derived different public key packages", participant=i)
    return {i: results[i][0] for i in ids}, public
