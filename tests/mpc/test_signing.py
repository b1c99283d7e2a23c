"""Signing on random keys, thresholds, signer sets and messages: every signature verifies with PyNaCl and
with `cryptography`, and the in-process fast path produces exactly the RFC path's signature."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.mpc import (
    MpcError,
    SigningPackage,
    SigningSession,
    aggregate,
    run_dkg,
    scheme,
    sign,
    sign_once,
    trusted_dealer_keygen,
    verify,
)
from cosigner_ha.mpc.ed25519 import L

from .helpers import cryptography_verifies, make_rng, nacl_verifies, run_round_one, sign_message


@st.composite
def signing_setups(draw: st.DrawFn) -> tuple[int, list[int], list[int]]:
    """(threshold, holder identifiers, signer subset): small and multi-byte identifiers alike."""
    n = draw(st.integers(2, 5))
    threshold = draw(st.integers(2, n))
    identifiers = draw(
        st.lists(st.integers(1, 300) | st.integers(1, L - 1), min_size=n, max_size=n, unique=True)
    )
    signers = draw(st.lists(st.sampled_from(identifiers), min_size=threshold, max_size=n, unique=True))
    return threshold, identifiers, signers


@settings(max_examples=30, deadline=None)
@given(setup=signing_setups(), message=st.binary(max_size=80), seed=st.integers(0, 2**32), dkg=st.booleans())
def test_every_signature_verifies_with_standard_verifiers(
    setup: tuple[int, list[int], list[int]], message: bytes, seed: int, dkg: bool
) -> None:
    threshold, identifiers, signers = setup
    rng = make_rng(seed)
    keys, public = (
        run_dkg(identifiers, threshold, rng) if dkg else trusted_dealer_keygen(threshold, identifiers, rng)
    )
    signature = sign_message(keys, public, signers, message, rng)
    assert len(signature) == 64
    assert verify(public.group_public_key, message, signature)
    assert nacl_verifies(public.group_public_key, message, signature)
    assert cryptography_verifies(public.group_public_key, message, signature)
    assert not verify(public.group_public_key, message + b"x", signature)
    assert not cryptography_verifies(public.group_public_key, message + b"x", signature)


@settings(max_examples=20, deadline=None)
@given(
    setup=signing_setups(),
    message=st.binary(max_size=40),
    seed=st.integers(0, 2**32),
    local=st.integers(0, 5),
)
def test_session_fast_path_gives_the_rfc_signature(
    setup: tuple[int, list[int], list[int]], message: bytes, seed: int, local: int
) -> None:
    threshold, identifiers, signers = setup
    keys, public = trusted_dealer_keygen(threshold, identifiers, make_rng(seed))
    reference = sign_message(keys, public, signers, message, make_rng(seed + 1))

    # Same nonce randomness, so the same commitments: the fast path must give the same bytes.
    nonces, commitments = run_round_one(keys, signers, make_rng(seed + 1))
    package = SigningPackage(message, commitments)
    session = SigningSession(package, public, local_nonces=[nonces[i] for i in signers[:local]])
    shares = {i: session.sign(nonces[i], keys[i]) for i in signers}
    assert session.aggregate(shares) == reference
    assert all(nonces[i].consumed for i in signers)


def test_signers_may_exceed_the_threshold_and_any_quorum_signs() -> None:
    keys, public = trusted_dealer_keygen(2, [1, 2, 3, 4], make_rng(7))
    rng = make_rng(8)
    for signers in ([1, 2], [3, 4], [1, 3, 4], [1, 2, 3, 4]):
        signature = sign_message(keys, public, signers, b"quorum", rng)
        assert nacl_verifies(public.group_public_key, b"quorum", signature)


def test_sign_once_persists_before_it_returns_and_shares_match_sign() -> None:
    keys, public = trusted_dealer_keygen(3, [1, 2, 3], make_rng(1))
    nonces, commitments = run_round_one(keys, [1, 2, 3], make_rng(2))
    package = SigningPackage(b"tx", commitments)
    persisted: list[bytes] = []
    shares = {i: sign_once(package, nonces[i], keys[i], persisted.append) for i in (1, 2, 3)}
    assert persisted == [nonces[i].nonce_id for i in (1, 2, 3)]
    assert nacl_verifies(public.group_public_key, b"tx", aggregate(package, shares, public))


def test_verify_rejects_malformed_signatures_without_raising() -> None:
    keys, public = trusted_dealer_keygen(2, [1, 2], make_rng(3))
    signature = sign_message(keys, public, [1, 2], b"m", make_rng(4))
    assert verify(public.group_public_key, b"m", signature)
    assert not verify(public.group_public_key, b"m", signature[:63])
    assert not verify(public.group_public_key, b"m", signature[:32] + bytes(32))
    assert not verify(public.group_public_key, b"m", bytes(64))
    assert scheme == "frost-ed25519"


def test_signature_is_a_plain_ed25519_signature_under_the_group_key() -> None:
    """z < L (canonical), R is the group commitment: a verifier needs nothing FROST-specific."""
    keys, public = trusted_dealer_keygen(2, [1, 2, 3], make_rng(5))
    nonces, commitments = run_round_one(keys, [2, 3], make_rng(6))
    package = SigningPackage(b"plain", commitments)
    session = SigningSession(package, public)
    signature = session.aggregate({i: sign(package, nonces[i], keys[i]) for i in (2, 3)})
    assert signature[:32] == session.group_commitment
    assert int.from_bytes(signature[32:], "little") < L


def test_a_seeded_source_replays_keys_and_signatures_exactly() -> None:
    """Simulation replays a seed event for event: the core draws randomness only from `rng`."""

    def run(seed: int) -> tuple[bytes, bytes]:
        rng = make_rng(seed)
        keys, public = trusted_dealer_keygen(3, [1, 2, 3], rng)
        return public.group_public_key, sign_message(keys, public, [1, 2, 3], b"replay", rng)

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_a_signer_s_own_commitments_decode_without_validation_and_others_still_are_checked() -> None:
    keys, public = trusted_dealer_keygen(3, [1, 2, 3], make_rng(5))
    nonces, commitments = run_round_one(keys, [1, 2, 3], make_rng(6))
    package = SigningPackage(b"tx", commitments)
    decoded = SigningPackage.from_bytes(package.to_bytes(), known=(commitments[1],))
    assert decoded == SigningPackage.from_bytes(package.to_bytes()) == package
    assert decoded.commitments[1] is commitments[1]  # taken as it is, not decoded again
    shares = {i: sign(decoded, nonces[i], keys[i]) for i in (1, 2, 3)}
    assert nacl_verifies(public.group_public_key, b"tx", aggregate(package, shares, public))

    # Another signer's small-order hiding commitment (y = 0) is refused even though signer 1's are known.
    data = bytearray(package.to_bytes())
    start = data.index(commitments[2].encode()) + 32
    data[start : start + 32] = bytes(32)  # y = 0: a point of order 4
    with pytest.raises(MpcError):
        SigningPackage.from_bytes(bytes(data), known=(commitments[1],))
