"""Every kind of bad input gets its own error class and a message naming the participant and the field."""

from __future__ import annotations

import pytest

from cosigner_ha.mpc import (
    CommitmentMismatchError,
    DecodeError,
    DuplicateIdentifierError,
    IdentityElementError,
    InvalidIdentifierError,
    InvalidScalarError,
    KeyPackage,
    MpcError,
    NonCanonicalElementError,
    NotInSubgroupError,
    NotOnCurveError,
    PublicKeyPackage,
    SignatureShare,
    SigningCommitments,
    SigningPackage,
    SigningSession,
    SmallOrderElementError,
    ThresholdError,
    UnknownIdentifierError,
    aggregate,
    commit,
    sign,
    trusted_dealer_keygen,
    verify,
)
from cosigner_ha.mpc.ed25519 import BASE_POINT, IDENTITY, L, P, add, scalar_to_bytes

from .helpers import make_rng, run_round_one

ORDER_2 = (P - 1).to_bytes(32, "little")
BAD_ELEMENTS = [
    pytest.param(IDENTITY, IdentityElementError, "identity", id="identity"),
    pytest.param((P + 1).to_bytes(32, "little"), NonCanonicalElementError, "not below 2", id="y-not-reduced"),
    pytest.param(IDENTITY[:31] + b"\x80", NonCanonicalElementError, "sign bit", id="negative-zero-x"),
    pytest.param(bytes(32), SmallOrderElementError, "small-order", id="order-4"),
    pytest.param(ORDER_2, SmallOrderElementError, "small-order", id="order-2"),
    pytest.param(
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        SmallOrderElementError,
        "small-order",
        id="order-8",
    ),
    pytest.param((2).to_bytes(32, "little"), NotOnCurveError, "not encode a point", id="not-on-curve"),
    pytest.param(add(BASE_POINT, ORDER_2), NotInSubgroupError, "torsion component", id="mixed-order"),
    pytest.param(BASE_POINT[:31], DecodeError, "32 bytes, got 31", id="short"),
]


@pytest.fixture(scope="module")
def key_set():  # type: ignore[no-untyped-def]
    return trusted_dealer_keygen(2, [1, 2, 3], make_rng(41))


@pytest.mark.parametrize(("element", "error", "text"), BAD_ELEMENTS)
def test_bad_commitment_elements_are_named(element: bytes, error: type[MpcError], text: str, key_set) -> None:  # type: ignore[no-untyped-def]
    keys, _ = key_set
    _, good = commit(keys[2], make_rng(42))
    with pytest.raises(error, match=text) as raised:
        SigningCommitments(2, good.hiding, element)
    assert raised.value.participant == 2 and raised.value.field == "binding commitment"
    assert str(raised.value).startswith("participant 2, binding commitment: ")
    with pytest.raises(error, match=text):
        SigningCommitments.from_dict({"identifier": 2, "hiding": element, "binding": good.binding})
    if len(element) == 32:
        with pytest.raises(error, match=text):
            SigningCommitments.from_bytes(b"\x01\x03" + scalar_to_bytes(2) + element + good.binding)


@pytest.mark.parametrize(("element", "error", "text"), BAD_ELEMENTS)
def test_bad_key_material_elements_are_named(
    element: bytes, error: type[MpcError], text: str, key_set
) -> None:  # type: ignore[no-untyped-def]
    _, public = key_set
    entries = public.to_dict()
    entries["verifying_shares"][1][1] = element
    with pytest.raises(error, match=text) as raised:
        PublicKeyPackage.from_dict(entries)
    assert raised.value.participant == 2
    entries = public.to_dict()
    entries["group_public_key"] = element
    with pytest.raises(error, match=text):
        PublicKeyPackage.from_dict(entries)


def test_out_of_range_scalars(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, _ = key_set
    with pytest.raises(InvalidScalarError, match=r"participant 1, SignatureShare.share: scalar is not below"):
        SignatureShare.from_bytes(b"\x01\x04" + scalar_to_bytes(1) + L.to_bytes(32, "little"))
    with pytest.raises(InvalidScalarError, match=r"participant 3, SignatureShare\.share"):
        SignatureShare(3, L)
    with pytest.raises(InvalidScalarError):
        SignatureShare(3, -1)
    data = keys[1].to_dict()
    data["signing_share"] = (L + 5).to_bytes(32, "little")
    with pytest.raises(InvalidScalarError, match=r"participant 1, KeyPackage\.signing_share"):
        KeyPackage.from_dict(data)


@pytest.mark.parametrize("bad", [0, -1, L, L + 1, True, "1", 1.0, None])
def test_bad_identifiers(bad: object) -> None:
    with pytest.raises(InvalidIdentifierError, match="identifier"):
        trusted_dealer_keygen(2, [1, 2, bad], make_rng(1))  # type: ignore[list-item]
    with pytest.raises((InvalidIdentifierError, DecodeError)):
        SignatureShare.from_dict({"identifier": bad, "share": bytes(32)})


def test_zero_identifier_in_binary_encoding_is_refused() -> None:
    with pytest.raises(
        InvalidIdentifierError, match=r"SignatureShare.identifier: an identifier lies in \[1, L\)"
    ):
        SignatureShare.from_bytes(b"\x01\x04" + bytes(64))


def test_duplicate_identifiers(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, public = key_set
    with pytest.raises(DuplicateIdentifierError, match="identifier 2 appears more than once"):
        trusted_dealer_keygen(2, [1, 2, 2], make_rng(1))
    _, commitments = run_round_one(keys, [1, 2], make_rng(43))
    data = SigningPackage(b"m", commitments).to_dict()
    data["commitments"].append(data["commitments"][0])
    with pytest.raises(DuplicateIdentifierError, match="participant 1 has two commitments"):
        SigningPackage.from_dict(data)
    entries = public.to_dict()
    entries["verifying_shares"].append(entries["verifying_shares"][0])
    with pytest.raises(DuplicateIdentifierError, match="identifier 1 has two verifying shares"):
        PublicKeyPackage.from_dict(entries)


def test_unknown_identifiers(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, public = key_set
    nonces, commitments = run_round_one(keys, [1, 2], make_rng(44))
    package = SigningPackage(b"m", commitments)
    shares = {i: sign(package, nonces[i], keys[i]) for i in (1, 2)}
    with pytest.raises(UnknownIdentifierError, match=r"shares from \[3\], who have no commitments"):
        aggregate(package, {**shares, 3: SignatureShare(3, 1)}, public)
    outsider_keys, _ = trusted_dealer_keygen(2, [1, 7], make_rng(45))
    _, outsider = commit(outsider_keys[7], make_rng(46))
    with pytest.raises(UnknownIdentifierError, match=r"signers \[7\] hold no share of this key"):
        SigningSession(SigningPackage(b"m", {1: commitments[1], 7: outsider}), public)


def test_commitment_lists_that_do_not_match_the_signers(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, public = key_set
    nonces, commitments = run_round_one(keys, [1, 2, 3], make_rng(47))
    with pytest.raises(
        CommitmentMismatchError, match=r"commitments\[1\]: the entry for 1 holds participant 2"
    ):
        SigningPackage(b"m", {1: commitments[2], 2: commitments[2]})
    without_me = SigningPackage(b"m", {1: commitments[1], 2: commitments[2]})
    with pytest.raises(
        CommitmentMismatchError, match="participant 3: the signing package has no commitments"
    ):
        sign(without_me, nonces[3], keys[3])
    _, replaced = commit(keys[3], make_rng(48))
    tampered = SigningPackage(b"m", {1: commitments[1], 3: replaced})
    with pytest.raises(CommitmentMismatchError, match=r"participant 3: .* not the ones its nonces made"):
        sign(tampered, nonces[3], keys[3])
    with pytest.raises(CommitmentMismatchError, match="nonces belong to participant 1, the key package to 3"):
        sign(without_me, nonces[1], keys[3])
    package = SigningPackage(b"m", {1: commitments[1], 2: commitments[2]})
    share = sign(package, nonces[1], keys[1])
    with pytest.raises(CommitmentMismatchError, match=r"no signature share from \[2\]"):
        aggregate(package, {1: share}, public)
    with pytest.raises(CommitmentMismatchError, match="the share stored under 2 is participant 1's"):
        aggregate(package, {1: share, 2: share}, public)
    assert not nonces[2].consumed and not nonces[3].consumed


@pytest.mark.parametrize(("threshold", "holders"), [(1, [1, 2]), (4, [1, 2, 3]), (0, [1, 2]), (2, [1])])
def test_threshold_out_of_range(threshold: int, holders: list[int]) -> None:
    with pytest.raises(ThresholdError, match=r"threshold: the threshold must lie in \[2, "):
        trusted_dealer_keygen(threshold, holders, make_rng(1))


def test_fewer_signers_than_the_threshold() -> None:
    keys, public = trusted_dealer_keygen(3, [1, 2, 3], make_rng(49))
    nonces, commitments = run_round_one(keys, [1, 2], make_rng(50))
    package = SigningPackage(b"m", commitments)
    with pytest.raises(ThresholdError, match=r"signers \[1, 2\] are fewer than the threshold 3"):
        sign(package, nonces[1], keys[1])
    with pytest.raises(ThresholdError):
        aggregate(package, {}, public)
    assert not nonces[1].consumed


def test_signing_package_rejects_non_bytes_message_and_empty_lists() -> None:
    with pytest.raises(DecodeError, match=r"SigningPackage\.message: the message is bytes, got str"):
        SigningPackage("m", {})  # type: ignore[arg-type]
    with pytest.raises(CommitmentMismatchError, match="needs the signers' commitments"):
        SigningPackage(b"m", {})


def test_verify_wants_bytes() -> None:
    with pytest.raises(DecodeError, match="message: expected bytes, got str"):
        verify(BASE_POINT, "m", bytes(64))  # type: ignore[arg-type]


def test_rng_returning_the_wrong_length_is_refused(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, _ = key_set
    with pytest.raises(MpcError, match="random source returned 31 bytes, expected 32"):
        commit(keys[1], lambda n: bytes(31))
