"""When the aggregate does not verify, the coordinator names exactly the participants with wrong shares."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.mpc import (
    InvalidSignatureShareError,
    KeyMismatchError,
    PublicKeyPackage,
    SignatureShare,
    SigningPackage,
    aggregate,
    sign,
    trusted_dealer_keygen,
    verify_signature_share,
)
from cosigner_ha.mpc.ed25519 import L

from .helpers import make_rng, run_round_one


def _signed(threshold: int, holders: list[int], signers: list[int], seed: int):  # type: ignore[no-untyped-def]
    keys, public = trusted_dealer_keygen(threshold, holders, make_rng(seed))
    nonces, commitments = run_round_one(keys, signers, make_rng(seed + 1))
    package = SigningPackage(b"pay 10 BTC", commitments)
    shares = {i: sign(package, nonces[i], keys[i]) for i in signers}
    return keys, public, package, shares


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), data=st.data())
def test_culprits_are_exactly_the_tampered_shares(seed: int, data: st.DataObject) -> None:
    signers = [1, 2, 3, 4]
    _, public, package, shares = _signed(3, signers, signers, seed)
    culprits = data.draw(st.lists(st.sampled_from(signers), min_size=1, unique=True))
    for i in culprits:
        delta = data.draw(st.integers(1, L - 1))
        shares[i] = SignatureShare(i, (shares[i].share + delta) % L)
    with pytest.raises(InvalidSignatureShareError) as raised:
        aggregate(package, shares, public)
    assert raised.value.culprits == tuple(sorted(culprits))
    assert str(sorted(culprits)) in str(raised.value)


def test_a_share_computed_for_another_message_is_blamed() -> None:
    keys, public, package, shares = _signed(2, [1, 2, 3], [1, 3], 11)
    nonces, commitments = run_round_one(keys, [1, 3], make_rng(99))
    other = SigningPackage(b"pay 10 BTC to mallory", commitments)
    shares[3] = sign(other, nonces[3], keys[3])
    with pytest.raises(InvalidSignatureShareError) as raised:
        aggregate(package, shares, public)
    assert raised.value.culprits == (3,)


def test_verify_signature_share_checks_one_share() -> None:
    _, public, package, shares = _signed(2, [1, 2, 3], [1, 2], 12)
    verify_signature_share(package, shares[1], public)
    with pytest.raises(InvalidSignatureShareError) as raised:
        verify_signature_share(package, SignatureShare(2, (shares[2].share + 1) % L), public)
    assert raised.value.culprits == (2,)


def test_shares_of_one_key_under_another_group_key_are_not_blamed_on_signers() -> None:
    """Every share checks out against its verifying share, yet the sum is not a signature under the claimed
    group key: the key material is inconsistent, and no participant is named."""
    keys, public = trusted_dealer_keygen(2, [1, 2, 3], make_rng(13))
    _, stranger = trusted_dealer_keygen(2, [1, 2, 3], make_rng(14))
    mixed = {i: replace(k, group_public_key=stranger.group_public_key) for i, k in keys.items()}
    wrong = PublicKeyPackage(public.verifying_shares, stranger.group_public_key, 2)
    nonces, commitments = run_round_one(mixed, [1, 2], make_rng(15))
    package = SigningPackage(b"m", commitments)
    shares = {i: sign(package, nonces[i], mixed[i]) for i in (1, 2)}
    with pytest.raises(KeyMismatchError, match="verifying shares do not belong to its group key"):
        aggregate(package, shares, wrong)
