"""Refresh and resharing keep the group key, produce working shares, and old and new shares never combine."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.mpc import (
    CommitmentMismatchError,
    InvalidSecretShareError,
    InvalidSignatureShareError,
    KeyMismatchError,
    KeyPackage,
    PublicKeyPackage,
    SigningPackage,
    ThresholdError,
    UnknownIdentifierError,
    aggregate,
    refresh,
    refresh_combine,
    refresh_contribute,
    reshare,
    reshare_combine,
    reshare_contribute,
    sign,
    trusted_dealer_keygen,
)
from cosigner_ha.mpc.ed25519 import L, base_mult, sum_elements
from cosigner_ha.mpc.shamir import lagrange_coefficient

from .helpers import cryptography_verifies, make_rng, nacl_verifies, run_round_one, sign_message


def _interpolate(shares: dict[int, int]) -> int:
    ids = tuple(sorted(shares))
    return sum(lagrange_coefficient(i, ids) * shares[i] for i in ids) % L


def _mixed_signature_fails(
    keys: dict[int, KeyPackage], public: PublicKeyPackage, signers: list[int], seed: int
) -> tuple[int, ...]:
    nonces, commitments = run_round_one(keys, signers, make_rng(seed))
    package = SigningPackage(b"mixed", commitments)
    shares = {i: sign(package, nonces[i], keys[i]) for i in signers}
    with pytest.raises(InvalidSignatureShareError) as raised:
        aggregate(package, shares, public)
    return raised.value.culprits


# ------------------------------------------------------------------------------------------------ refresh


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 5), data=st.data(), seed=st.integers(0, 2**32))
def test_refresh_keeps_the_key_and_retires_old_shares(n: int, data: st.DataObject, seed: int) -> None:
    threshold = data.draw(st.integers(2, n))
    ids = list(range(1, n + 1))
    old, old_public = trusted_dealer_keygen(threshold, ids, make_rng(seed))
    new, public = refresh(old, old_public, make_rng(seed + 1))
    assert public.group_public_key == old_public.group_public_key
    assert all(new[i].signing_share != old[i].signing_share for i in ids)
    signers = ids[:threshold]
    signature = sign_message(new, public, signers, b"after refresh", make_rng(seed + 2))
    assert nacl_verifies(public.group_public_key, b"after refresh", signature)
    assert cryptography_verifies(public.group_public_key, b"after refresh", signature)
    # One old share among new ones: the coordinator names it; the mix does not interpolate to the key.
    mixed = {**{i: new[i] for i in signers}, signers[0]: old[signers[0]]}
    assert _mixed_signature_fails(mixed, public, signers, seed + 3) == (signers[0],)
    secret = _interpolate({i: old[i].signing_share for i in signers})
    assert _interpolate({i: mixed[i].signing_share for i in signers}) != secret


def test_refresh_over_the_network_steps_and_dropping_a_holder() -> None:
    keys, public = trusted_dealer_keygen(2, [1, 2, 3], make_rng(81))
    stay = [1, 3]  # holder 2 is being removed
    dealt = {i: refresh_contribute(keys[i], stay, make_rng(82 + i)) for i in stay}
    broadcast = {i: c for i, (c, _) in dealt.items()}
    results = {
        j: refresh_combine(keys[j], public, broadcast, {i: dealt[i][1][j] for i in stay}) for j in stay
    }
    new_public = results[1][1]
    assert results[3][1] == new_public and new_public.identifiers == (1, 3)
    new = {j: results[j][0] for j in stay}
    assert nacl_verifies(
        public.group_public_key, b"m", sign_message(new, new_public, stay, b"m", make_rng(85))
    )
    # The removed holder's old share no longer combines with the refreshed ones.
    assert _interpolate({1: new[1].signing_share, 2: keys[2].signing_share}) != _interpolate(
        {1: keys[1].signing_share, 3: keys[3].signing_share}
    )


def test_refresh_blames_a_dealer_whose_sharing_of_zero_is_not_zero() -> None:
    keys, public = trusted_dealer_keygen(2, [1, 2], make_rng(86))
    commitment_1, shares_1 = refresh_contribute(keys[1], [1, 2], make_rng(87))
    commitment_2, shares_2 = refresh_contribute(keys[2], [1, 2], make_rng(88))
    # Dealer 2 shifts every share by 5: a sharing of 5, which would change the key.
    cheat = replace(shares_2[1], value=(shares_2[1].value + 5) % L)
    with pytest.raises(InvalidSecretShareError, match="refresh share from participant 2 for participant 1"):
        refresh_combine(keys[1], public, {1: commitment_1, 2: commitment_2}, {1: shares_1[1], 2: cheat})
    with pytest.raises(CommitmentMismatchError, match="did not deal in the refresh"):
        refresh_combine(keys[1], public, {2: commitment_2}, {2: shares_2[1]})
    with pytest.raises(CommitmentMismatchError, match=r"missing \[2\]"):
        refresh_combine(keys[1], public, {1: commitment_1, 2: commitment_2}, {1: shares_1[1]})
    with pytest.raises(UnknownIdentifierError, match="must be one of the holders"):
        refresh_contribute(keys[1], [2, 3], make_rng(89))
    other_keys, _ = trusted_dealer_keygen(2, [1, 2], make_rng(90))
    with pytest.raises(KeyMismatchError, match="different group key"):
        refresh_combine(
            other_keys[1], public, {1: commitment_1, 2: commitment_2}, {1: shares_1[1], 2: shares_2[1]}
        )


# ------------------------------------------------------------------------------------------------ reshare


@settings(max_examples=10, deadline=None)
@given(
    n_old=st.integers(2, 5),
    n_new=st.integers(2, 5),
    data=st.data(),
    seed=st.integers(0, 2**32),
)
def test_reshare_to_a_new_holder_set_and_threshold(
    n_old: int, n_new: int, data: st.DataObject, seed: int
) -> None:
    t_old = data.draw(st.integers(2, n_old))
    t_new = data.draw(st.integers(2, n_new))
    old_ids = list(range(1, n_old + 1))
    new_ids = data.draw(st.lists(st.integers(1, 1000), min_size=n_new, max_size=n_new, unique=True))
    old, old_public = trusted_dealer_keygen(t_old, old_ids, make_rng(seed))
    dealers = data.draw(st.lists(st.sampled_from(old_ids), min_size=t_old, max_size=n_old, unique=True))
    new, public = reshare({i: old[i] for i in dealers}, old_public, new_ids, t_new, make_rng(seed + 1))
    assert public.group_public_key == old_public.group_public_key
    assert public.min_signers == t_new and set(public.identifiers) == set(new_ids)
    signers = data.draw(st.lists(st.sampled_from(new_ids), min_size=t_new, max_size=n_new, unique=True))
    signature = sign_message(new, public, signers, b"reshared", make_rng(seed + 2))
    assert nacl_verifies(public.group_public_key, b"reshared", signature)


def test_each_paired_api_user_gets_a_fresh_share_set_that_does_not_mix_with_others() -> None:
    """3-of-3 over cloud co-signer 1, cloud co-signer 2 and the API co-signer (identifiers 1, 2, 3).
    Pairing a new API user reshares the workspace key: every share is new, including the cloud ones."""
    workspace, public = trusted_dealer_keygen(3, [1, 2, 3], make_rng(91))
    user_a, public_a = reshare(workspace, public, [1, 2, 3], 3, make_rng(92))
    user_b, public_b = reshare(user_a, public_a, [1, 2, 3], 3, make_rng(93))
    for new in (user_a, user_b):
        assert sign_message(new, public, [1, 2, 3], b"tx", make_rng(94))
    shares = [s[i].signing_share for s in (workspace, user_a, user_b) for i in (1, 2, 3)]
    assert len(set(shares)) == 9  # nothing reused, cloud shares included
    assert public_a.group_public_key == public_b.group_public_key == public.group_public_key
    # API user B's co-signer with user A's cloud shares: no signature, and B's co-signer share is blamed.
    mixed = {1: user_a[1], 2: user_a[2], 3: user_b[3]}
    assert _mixed_signature_fails(mixed, public_a, [1, 2, 3], 95) == (3,)
    secret = _interpolate({i: workspace[i].signing_share for i in (1, 2, 3)})
    assert base_mult(secret) == public.group_public_key
    assert _interpolate({i: mixed[i].signing_share for i in (1, 2, 3)}) != secret


def test_reshare_steps_over_the_network_and_a_dealer_that_lies_about_its_piece() -> None:
    old, old_public = trusted_dealer_keygen(2, [1, 2, 3], make_rng(96))
    dealers, receivers = [1, 3], [10, 11, 12]
    dealt = {i: reshare_contribute(old[i], dealers, receivers, 2, make_rng(97 + i)) for i in dealers}
    broadcast = {i: c for i, (c, _) in dealt.items()}
    inbox = {i: dealt[i][1][11] for i in dealers}
    key_package, public = reshare_combine(11, receivers, 2, old_public, broadcast, inbox)
    assert public.group_public_key == old_public.group_public_key and key_package.identifier == 11

    # Dealer 3 deals a sharing of a different piece (consistently, with a matching commitment).
    rng = make_rng(100)
    wrong = reshare_contribute(
        replace(old[3], signing_share=(old[3].signing_share + 1) % L), dealers, receivers, 2, rng
    )
    with pytest.raises(
        InvalidSecretShareError, match=r"participant 3, DealerCommitment\.commitment\[0\]: the dealt"
    ):
        reshare_combine(
            11, receivers, 2, old_public, {1: broadcast[1], 3: wrong[0]}, {1: inbox[1], 3: wrong[1][11]}
        )
    tampered = replace(inbox[1], value=(inbox[1].value + 1) % L)
    with pytest.raises(InvalidSecretShareError, match="reshare share from participant 1 for participant 11"):
        reshare_combine(11, receivers, 2, old_public, broadcast, {1: tampered, 3: inbox[3]})
    with pytest.raises(ThresholdError, match=r"1 dealers \[1\] cannot reshare a 2-of-n key"):
        reshare_combine(11, receivers, 2, old_public, {1: broadcast[1]}, {1: inbox[1]})
    with pytest.raises(ThresholdError, match="new_threshold"):
        reshare_combine(11, receivers, 4, old_public, broadcast, inbox)
    with pytest.raises(UnknownIdentifierError, match="not one of the new holders"):
        reshare_combine(13, receivers, 2, old_public, broadcast, inbox)
    with pytest.raises(ThresholdError, match="1 old signers cannot reshare"):
        reshare_contribute(old[1], [1], receivers, 2, make_rng(101))


def test_reshare_never_needs_the_secret_in_one_place() -> None:
    """Each dealer's piece is λ_i·s_i, committed as λ_i·PK_i; the pieces' commitments sum to the key."""
    old, old_public = trusted_dealer_keygen(3, [1, 2, 3, 4], make_rng(102))
    dealers = [1, 2, 4]
    constants = []
    for i in dealers:
        commitment, _ = reshare_contribute(old[i], dealers, [1, 2], 2, make_rng(103 + i))
        lam = lagrange_coefficient(i, tuple(dealers))
        assert commitment.commitment[0] == base_mult(lam * old[i].signing_share % L)
        constants.append(commitment.commitment[0])
    assert sum_elements(constants) == old_public.group_public_key
