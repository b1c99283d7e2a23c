"""Key generation (dealer with Feldman commitments, DKG) and strict, round-tripping encodings."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.mpc import (
    CommitmentMismatchError,
    DealerCommitment,
    DealtShare,
    DecodeError,
    DkgRound2Package,
    InvalidProofOfKnowledgeError,
    InvalidSecretShareError,
    KeyMismatchError,
    KeyPackage,
    PublicKeyPackage,
    SignatureShare,
    SigningCommitments,
    SigningPackage,
    ThresholdError,
    UnknownIdentifierError,
    dkg_part1,
    dkg_part2,
    dkg_part3,
    run_dkg,
    trusted_dealer_keygen,
    trusted_dealer_shares,
)
from cosigner_ha.mpc.ed25519 import BASE_POINT, L, base_mult
from cosigner_ha.mpc.shamir import lagrange_coefficient

from .helpers import make_rng, nacl_verifies, run_round_one, sign_message


def _interpolate(shares: dict[int, int]) -> int:
    ids = tuple(sorted(shares))
    return sum(lagrange_coefficient(i, ids) * shares[i] for i in ids) % L


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 6), data=st.data(), seed=st.integers(0, 2**32))
def test_dealer_shares_check_out_and_any_quorum_recovers_the_key(
    n: int, data: st.DataObject, seed: int
) -> None:
    threshold = data.draw(st.integers(2, n))
    ids = list(range(1, n + 1))
    shares, public = trusted_dealer_shares(threshold, ids, make_rng(seed))
    packages = {i: shares[i].verify() for i in ids}  # each holder's Feldman check
    assert all(packages[i].verifying_share == public.verifying_shares[i] for i in ids)
    assert {p.group_public_key for p in packages.values()} == {public.group_public_key}
    quorum = data.draw(st.lists(st.sampled_from(ids), min_size=threshold, max_size=threshold, unique=True))
    secret = _interpolate({i: shares[i].signing_share for i in quorum})
    assert base_mult(secret) == public.group_public_key
    if threshold > 2:  # one holder short of the threshold interpolates to something else
        assert (
            base_mult(_interpolate({i: shares[i].signing_share for i in quorum[:-1]}))
            != public.group_public_key
        )


def test_a_tampered_dealer_share_fails_the_feldman_check() -> None:
    shares, _ = trusted_dealer_shares(2, [1, 2, 3], make_rng(61))
    with pytest.raises(InvalidSecretShareError, match="secret share for participant 2 does not match"):
        replace(shares[2], signing_share=(shares[2].signing_share + 1) % L).verify()
    forged = (shares[2].commitment[0], base_mult(5))
    with pytest.raises(InvalidSecretShareError):
        replace(shares[2], commitment=forged).verify()
    with pytest.raises(ThresholdError, match="at least 2"):
        replace(shares[2], commitment=shares[2].commitment[:1]).verify()


def test_secret_key_material_stays_out_of_repr() -> None:
    keys, _ = trusted_dealer_keygen(2, [1, 2], make_rng(62))
    assert str(keys[1].signing_share) not in repr(keys[1])
    assert "signing_share" not in repr(keys[1])


# ------------------------------------------------------------------------------------------------ DKG


@settings(max_examples=8, deadline=None)
@given(n=st.integers(2, 5), data=st.data(), seed=st.integers(0, 2**32))
def test_dkg_keys_sign_and_no_dealer_knew_the_secret(n: int, data: st.DataObject, seed: int) -> None:
    threshold = data.draw(st.integers(2, n))
    ids = data.draw(st.lists(st.integers(1, 2**64), min_size=n, max_size=n, unique=True))
    keys, public = run_dkg(ids, threshold, make_rng(seed))
    assert all(keys[i].verifying_share == public.verifying_shares[i] for i in ids)
    for quorum in list(combinations(sorted(ids), threshold))[:3]:
        signature = sign_message(keys, public, list(quorum), b"dkg", make_rng(seed + 1))
        assert nacl_verifies(public.group_public_key, b"dkg", signature)


def _dkg_round1(ids: list[int], threshold: int, seed: int) -> dict[int, Any]:
    rng = make_rng(seed)
    return {i: dkg_part1(i, len(ids), threshold, rng) for i in ids}


def test_dkg_blames_a_bad_proof_of_knowledge() -> None:
    round1 = _dkg_round1([1, 2, 3], 2, 63)
    packages = {i: package for i, (_, package) in round1.items()}
    # Participant 3 copies participant 2's proof: a rogue key without knowledge of its secret.
    packages[3] = replace(packages[3], proof_of_knowledge=packages[2].proof_of_knowledge)
    with pytest.raises(InvalidProofOfKnowledgeError, match="participant 3: the proof of knowledge") as raised:
        dkg_part2(round1[1][0], {2: packages[2], 3: packages[3]})
    assert raised.value.participant == 3


def test_dkg_blames_a_share_that_does_not_match_its_commitment() -> None:
    ids = [1, 2, 3]
    round1 = _dkg_round1(ids, 2, 64)
    packages = {i: package for i, (_, package) in round1.items()}
    round2 = {i: dkg_part2(round1[i][0], {j: packages[j] for j in ids if j != i}) for i in ids}
    inbox = {j: round2[j][1][1] for j in (2, 3)}
    inbox[2] = replace(inbox[2], value=(inbox[2].value + 1) % L)
    with pytest.raises(
        InvalidSecretShareError, match="DKG share from participant 2 for participant 1"
    ) as raised:
        dkg_part3(round2[1][0], {2: packages[2], 3: packages[3]}, inbox)
    assert raised.value.participant == 2


def test_dkg_refuses_wrong_package_sets() -> None:
    ids = [1, 2, 3]
    round1 = _dkg_round1(ids, 2, 65)
    packages = {i: package for i, (_, package) in round1.items()}
    secret = round1[1][0]
    with pytest.raises(ThresholdError, match=r"from the 2 other participants, got 1"):
        dkg_part2(secret, {2: packages[2]})
    with pytest.raises(CommitmentMismatchError, match="own package"):
        dkg_part2(secret, packages)
    with pytest.raises(CommitmentMismatchError, match="stored under 2 was made by participant 3"):
        dkg_part2(secret, {2: packages[3], 3: packages[3]})
    longer = replace(packages[2], commitment=(*packages[2].commitment, BASE_POINT))
    with pytest.raises(ThresholdError, match=r"participant 2, DkgRound1Package\.commitment"):
        dkg_part2(secret, {2: longer, 3: packages[3]})
    with pytest.raises(ThresholdError):
        dkg_part1(1, 3, 4, make_rng(1))
    state, _ = dkg_part2(secret, {2: packages[2], 3: packages[3]})
    stray = {2: DkgRound2Package(2, 1, 5), 4: DkgRound2Package(4, 1, 5)}
    with pytest.raises(UnknownIdentifierError, match=r"missing \[3\], unexpected \[4\]"):
        dkg_part3(state, {2: packages[2], 3: packages[3]}, stray)


# ------------------------------------------------------------------------------------------------ codecs


def _examples() -> list[Any]:
    keys, public = trusted_dealer_keygen(2, [1, 2, 300], make_rng(66))
    shares, _ = trusted_dealer_shares(2, [1, 2], make_rng(67))
    _, commitments = run_round_one(keys, [1, 300], make_rng(68))
    package = SigningPackage(b"\x00message", commitments)
    round1 = dkg_part1(5, 3, 2, make_rng(69))[1]
    return [
        keys[300],
        public,
        shares[1],
        commitments[300],
        package,
        SignatureShare(300, L - 1),
        round1,
        DkgRound2Package(5, 6, 7),
        DealerCommitment(4, round1.commitment),
        DealtShare(4, 5, 6),
    ]


@pytest.mark.parametrize("value", _examples(), ids=lambda v: type(v).__name__)
def test_dicts_round_trip_through_msgpack_with_default_settings(value: Any) -> None:
    data = value.to_dict()
    assert type(value).from_dict(data) == value
    assert type(value).from_dict(msgpack.unpackb(msgpack.packb(data))) == value


@pytest.mark.parametrize(
    "value", [v for v in _examples() if hasattr(v, "to_bytes")], ids=lambda v: type(v).__name__
)
def test_bytes_round_trip_and_refuse_truncation_and_trailing_bytes(value: Any) -> None:
    data = value.to_bytes()
    cls = type(value)
    assert cls.from_bytes(data) == value
    if cls is not SigningPackage:  # a signing package's message runs to the end: trailing bytes are message
        with pytest.raises(DecodeError):
            cls.from_bytes(data + b"\x00")
    with pytest.raises((DecodeError, ValueError)):
        cls.from_bytes(data[:-40])
    with pytest.raises(DecodeError, match="unknown format version 9"):
        cls.from_bytes(b"\x09" + data[1:])


def test_bytes_of_one_type_are_not_another() -> None:
    keys, _ = trusted_dealer_keygen(2, [1, 2], make_rng(70))
    with pytest.raises(DecodeError, match="these bytes encode a KeyPackage, not a SignatureShare"):
        SignatureShare.from_bytes(keys[1].to_bytes())
    with pytest.raises(DecodeError, match="expects bytes, got str"):
        KeyPackage.from_bytes("x")  # type: ignore[arg-type]


def test_dict_decoding_is_strict_about_keys_and_types() -> None:
    keys, _ = trusted_dealer_keygen(2, [1, 2], make_rng(71))
    good = keys[1].to_dict()
    with pytest.raises(DecodeError, match="KeyPackage: missing min_signers"):
        KeyPackage.from_dict({k: v for k, v in good.items() if k != "min_signers"})
    with pytest.raises(DecodeError, match="unexpected 'extra'"):
        KeyPackage.from_dict({**good, "extra": 1})
    with pytest.raises(DecodeError, match=r"KeyPackage\.min_signers: expected an int, got bool"):
        KeyPackage.from_dict({**good, "min_signers": True})
    with pytest.raises(DecodeError, match=r"KeyPackage\.verifying_share: expected bytes, got bytearray"):
        KeyPackage.from_dict({**good, "verifying_share": bytearray(good["verifying_share"])})
    with pytest.raises(DecodeError, match="expects a dict, got list"):
        SigningCommitments.from_dict([])
    with pytest.raises(ThresholdError, match="threshold is at least 2, got 1"):
        KeyPackage.from_dict({**good, "min_signers": 1})


def test_a_key_package_whose_parts_disagree_is_refused_on_load() -> None:
    keys, _ = trusted_dealer_keygen(2, [1, 2], make_rng(72))
    mixed = {**keys[1].to_dict(), "verifying_share": keys[2].verifying_share}
    with pytest.raises(
        KeyMismatchError, match=r"participant 1, KeyPackage\.verifying_share: verifying_share is not"
    ):
        KeyPackage.from_dict(mixed)


def test_public_key_package_threshold_must_fit_its_holders() -> None:
    _, public = trusted_dealer_keygen(2, [1, 2], make_rng(73))
    with pytest.raises(ThresholdError, match=r"must lie in \[2, 2\] for 2 participants, got 3"):
        PublicKeyPackage.from_dict({**public.to_dict(), "min_signers": 3})
