"""New shares for an existing group key, without ever reconstructing it.

Refresh (Herzberg, Jarecki, Krawczyk, Yung, CRYPTO '95): every holder deals a random sharing of zero and
each holder adds what it receives, s_j' = s_j + Σ_i g_i(j). The key is unchanged; old and new shares lie on
different polynomials, so they no longer combine, and shares an attacker stole before the refresh are
useless after it. Holders left out of a refresh are left out of the key.

Resharing (Desmedt–Jajodia, Wong–Wang–Wing redistribution): each holder i of a qualified old set S turns
its share into an additive piece w_i = λ_i·s_i (Σ w_i = s) and deals a fresh sharing of w_i, with a new
threshold, to the new holders; each new holder sums what it receives. Nobody sees s, the new holder set and
threshold are free, and each new holder checks every piece against the old verifying shares
(C_i0 = λ_i·PK_i), so an old holder cannot slip in a different key. This is how a workspace key gets a fresh
share set for each paired API user: cloud co-signers and the API co-signer all receive new, never reused
shares.

Both are offered as per-party steps (`*_contribute` by each dealer, `*_combine` by each receiver) to run
over a network, plus a function that runs every step in one process. Commitments must be broadcast
consistently; shares travel over confidential, authenticated channels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import _codec as codec
from .ed25519 import (
    IDENTITY,
    L,
    add,
    base_mult,
    mult,
    sum_elements,
)
from .errors import (
    CommitmentMismatchError,
    InvalidSecretShareError,
    KeyMismatchError,
    ThresholdError,
    UnknownIdentifierError,
)
from .keys import KeyPackage, PublicKeyPackage, check_same_key, public_key_package_from_commitment
from .rng import Rng
from .shamir import (
    DealtShare,
    check_identifiers,
    evaluate_polynomial,
    lagrange_coefficient,
    random_polynomial,
    vss_commit,
    vss_evaluate,
    vss_verify,
)


@dataclass(frozen=True)
class DealerCommitment:
    """Broadcast by `sender`: the Feldman commitment of the polynomial it dealt.

    For a refresh the polynomial's constant term is zero and its commitment (the identity) is omitted, so
    `commitment` holds t-1 elements; for a reshare it holds t_new elements starting with w_i·B."""

    sender: int
    commitment: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"sender": self.sender, "commitment": list(self.commitment)}

    @classmethod
    def from_dict(cls, data: object) -> DealerCommitment:
        name = "DealerCommitment"
        d = codec.expect_dict(data, name, ("sender", "commitment"))
        sender = codec.check_identifier(codec.get_int(d, "sender", name), field=f"{name}.sender")
        elements = codec.element_list(d, "commitment", name, participant=sender)
        return cls(sender, elements)


def _deal(sender: int, polynomial: list[int], receivers: Iterable[int]) -> dict[int, DealtShare]:
    return {j: DealtShare(sender, j, evaluate_polynomial(polynomial, j)) for j in receivers}


def _check_contributions(
    receiver: int,
    commitments: Mapping[int, DealerCommitment],
    shares: Mapping[int, DealtShare],
    commitment_length: int,
) -> tuple[int, ...]:
    """Same senders on both sides, each entry stored under its own sender and addressed to `receiver`."""
    senders = check_identifiers(commitments, field="commitments")
    received = check_identifiers(shares, field="shares")
    if received != senders:
        missing = sorted(set(senders) - set(received))
        extra = sorted(set(received) - set(senders))
        raise (UnknownIdentifierError if extra else CommitmentMismatchError)(
            f"shares must come from exactly the committed dealers {list(senders)}; "
            f"missing {missing}, without a commitment {extra}",
            participant=receiver,
            field="shares",
        )
    for sender in senders:
        commitment, share = commitments[sender], shares[sender]
        if commitment.sender != sender or share.sender != sender:
            raise CommitmentMismatchError(
                f"an entry stored under dealer {sender} was made by another dealer",
                field=f"contributions[{sender}]",
            )
        if share.receiver != receiver:
            raise CommitmentMismatchError(
                f"dealer {sender}'s share is addressed to {share.receiver}",
                participant=receiver,
                field="shares",
            )
        if len(commitment.commitment) != commitment_length:
            raise ThresholdError(
                f"the commitment has {len(commitment.commitment)} elements, expected {commitment_length}",
                participant=sender,
                field="DealerCommitment.commitment",
            )
    return senders


def _summed_commitment(commitments: Iterable[tuple[bytes, ...]], length: int) -> tuple[bytes, ...]:
    columns = list(commitments)
    return tuple(sum_elements([c[k] for c in columns if c[k] != IDENTITY]) for k in range(length))


# --------------------------------------------------------------------------------------------- refresh


def refresh_contribute(
    key_package: KeyPackage, identifiers: Iterable[int], rng: Rng
) -> tuple[DealerCommitment, dict[int, DealtShare]]:
    """Deal a random sharing of zero (degree t-1) to `identifiers`: the holders that stay, this one too."""
    holders = check_identifiers(identifiers, field="identifiers")
    if key_package.identifier not in holders:
        raise UnknownIdentifierError(
            f"a refresh dealer must be one of the holders {list(holders)}", participant=key_package.identifier
        )
    codec.check_threshold(key_package.min_signers, len(holders), field="identifiers")
    polynomial = random_polynomial(0, key_package.min_signers - 1, rng)
    commitment = DealerCommitment(key_package.identifier, vss_commit(polynomial[1:]))
    return commitment, _deal(key_package.identifier, polynomial, holders)


def refresh_combine(
    key_package: KeyPackage,
    public_key_package: PublicKeyPackage,
    commitments: Mapping[int, DealerCommitment],
    shares: Mapping[int, DealtShare],
) -> tuple[KeyPackage, PublicKeyPackage]:
    """Check every zero-share, add them to this holder's share; the key package for the refreshed set."""
    me = key_package.identifier
    check_same_key({me: key_package}, public_key_package)
    t = key_package.min_signers
    holders = _check_contributions(me, commitments, shares, t - 1)
    if me not in holders:
        raise CommitmentMismatchError(
            f"this holder did not deal in the refresh (dealers: {list(holders)}); every holder must",
            participant=me,
        )
    unknown = [i for i in holders if i not in public_key_package.verifying_shares]
    if unknown:
        raise UnknownIdentifierError(f"dealers {unknown} hold no share of this key", field="commitments")
    codec.check_threshold(t, len(holders), field="commitments")
    full = {i: (IDENTITY, *commitments[i].commitment) for i in holders}
    for sender in holders:
        vss_verify(shares[sender].value, me, full[sender], sender=sender, what="refresh share")
    delta = _summed_commitment(full.values(), t)
    new_share = (key_package.signing_share + sum(shares[i].value for i in holders)) % L
    verifying = {j: add(public_key_package.verifying_shares[j], vss_evaluate(delta, j)) for j in holders}
    public = PublicKeyPackage(verifying, public_key_package.group_public_key, t)
    return _new_key_package(me, new_share, public), public


def refresh(
    key_packages: Mapping[int, KeyPackage], public_key_package: PublicKeyPackage, rng: Rng
) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    """Every holder in `key_packages` deals and combines, in one process. Holders not given are dropped."""
    check_same_key(key_packages, public_key_package)
    holders = check_identifiers(key_packages, field="key_packages")
    dealt = {i: refresh_contribute(key_packages[i], holders, rng) for i in holders}
    broadcast = {i: commitment for i, (commitment, _) in dealt.items()}
    results = {
        j: refresh_combine(
            key_packages[j], public_key_package, broadcast, {i: dealt[i][1][j] for i in holders}
        )
        for j in holders
    }
    return _agree(results)


# --------------------------------------------------------------------------------------------- reshare


def reshare_contribute(
    key_package: KeyPackage,
    old_signers: Iterable[int],
    new_identifiers: Iterable[int],
    new_threshold: int,
    rng: Rng,
) -> tuple[DealerCommitment, dict[int, DealtShare]]:
    """As old holder i of the qualified set `old_signers`: deal w_i = λ_i·s_i to the new holders."""
    me = key_package.identifier
    signers = check_identifiers(old_signers, field="old_signers")
    if me not in signers:
        raise UnknownIdentifierError(
            f"a resharing dealer must be one of the old signers {list(signers)}", participant=me
        )
    if len(signers) < key_package.min_signers:
        raise ThresholdError(
            f"{len(signers)} old signers cannot reshare a {key_package.min_signers}-of-n key",
            field="old_signers",
        )
    receivers = check_identifiers(new_identifiers, field="new_identifiers")
    codec.check_threshold(new_threshold, len(receivers), field="new_threshold")
    piece = lagrange_coefficient(me, signers) * key_package.signing_share % L
    polynomial = random_polynomial(piece, new_threshold - 1, rng)
    return DealerCommitment(me, vss_commit(polynomial)), _deal(me, polynomial, receivers)


def reshare_combine(
    identifier: int,
    new_identifiers: Iterable[int],
    new_threshold: int,
    old_public_key_package: PublicKeyPackage,
    commitments: Mapping[int, DealerCommitment],
    shares: Mapping[int, DealtShare],
) -> tuple[KeyPackage, PublicKeyPackage]:
    """As new holder `identifier`: check every piece against the old verifying shares, sum them."""
    receivers = check_identifiers(new_identifiers, field="new_identifiers")
    if identifier not in receivers:
        raise UnknownIdentifierError(f"not one of the new holders {list(receivers)}", participant=identifier)
    codec.check_threshold(new_threshold, len(receivers), field="new_threshold")
    dealers = _check_contributions(identifier, commitments, shares, new_threshold)
    old = old_public_key_package
    unknown = [i for i in dealers if i not in old.verifying_shares]
    if unknown:
        raise UnknownIdentifierError(f"dealers {unknown} held no share of the old key", field="commitments")
    if len(dealers) < old.min_signers:
        raise ThresholdError(
            f"{len(dealers)} dealers {list(dealers)} cannot reshare a {old.min_signers}-of-n key",
            field="commitments",
        )
    for dealer in dealers:
        expected = mult(lagrange_coefficient(dealer, dealers), old.verifying_shares[dealer])
        if commitments[dealer].commitment[0] != expected:
            raise InvalidSecretShareError(
                "the dealt constant term is not λ_i times the dealer's old share: "
                "it would change the group key or come from another key",
                participant=dealer,
                field="DealerCommitment.commitment[0]",
            )
    for dealer in dealers:
        vss_verify(
            shares[dealer].value,
            identifier,
            commitments[dealer].commitment,
            sender=dealer,
            what="reshare share",
        )
    summed = _summed_commitment((commitments[i].commitment for i in dealers), new_threshold)
    if summed[0] != old.group_public_key:
        raise KeyMismatchError("the dealt pieces do not add up to the group key", field="commitments")
    new_share = sum(shares[i].value for i in dealers) % L
    public = public_key_package_from_commitment(summed, receivers, new_threshold)
    return _new_key_package(identifier, new_share, public), public


def reshare(
    key_packages: Mapping[int, KeyPackage],
    old_public_key_package: PublicKeyPackage,
    new_identifiers: Iterable[int],
    new_threshold: int,
    rng: Rng,
) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    """Old holders `key_packages` (a qualified set) reshare to `new_identifiers`, all in one process."""
    check_same_key(key_packages, old_public_key_package)
    dealers = check_identifiers(key_packages, field="key_packages")
    receivers = check_identifiers(new_identifiers, field="new_identifiers")
    dealt = {i: reshare_contribute(key_packages[i], dealers, receivers, new_threshold, rng) for i in dealers}
    broadcast = {i: commitment for i, (commitment, _) in dealt.items()}
    results = {
        j: reshare_combine(
            j,
            receivers,
            new_threshold,
            old_public_key_package,
            broadcast,
            {i: dealt[i][1][j] for i in dealers},
        )
        for j in receivers
    }
    return _agree(results)


# --------------------------------------------------------------------------------------------- helpers


def _new_key_package(identifier: int, share: int, public: PublicKeyPackage) -> KeyPackage:
    verifying_share = base_mult(share)
    if public.verifying_shares[identifier] != verifying_share:
        raise KeyMismatchError("the new share does not match the summed commitments", participant=identifier)
    return KeyPackage(identifier, share, verifying_share, public.group_public_key, public.min_signers)


def _agree(
    results: Mapping[int, tuple[KeyPackage, PublicKeyPackage]],
) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    public = next(iter(results.values()))[1]
    for identifier, (_, theirs) in results.items():
        if theirs != public:
            raise KeyMismatchError("holders derived different public key packages", participant=identifier)
    return {i: package for i, (package, _) in results.items()}, public
