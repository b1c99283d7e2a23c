"""The optional secp256k1 suite: BIP-340 signatures that libsecp256k1's x-only verifier accepts, on the
RFC 9591 machinery that the RFC's and the Zcash Foundation's secp256k1 vectors pin down."""

from __future__ import annotations

import pytest
from coincurve import PublicKeyXOnly
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.mpc import (
    CommitmentMismatchError,
    ConsumedNonces,
    DecodeError,
    IdentityElementError,
    InvalidSignatureShareError,
    KeyMismatchError,
    NonCanonicalElementError,
    NonceReuseError,
    NotOnCurveError,
    bip340,
)
from cosigner_ha.mpc.secp256k1 import P, base_mult, has_even_y

from .helpers import load_vector, make_rng

VECTORS = [
    "cfrg_frost-secp256k1-sha256.json",
    "zcash_frost-secp256k1_vectors.json",
    "zcash_frost-secp256k1_vectors-big-identifier.json",
]


def _int(hex_be: str) -> int:
    return int.from_bytes(bytes.fromhex(hex_be), "big")


@pytest.mark.parametrize("name", VECTORS)
def test_rfc_suite_reproduces_every_value_of_the_secp256k1_vectors(name: str) -> None:
    vector = load_vector(name)
    inputs = vector["inputs"]
    group_key = bytes.fromhex(inputs.get("group_public_key") or inputs["verifying_key_key"])
    ids = [p["identifier"] for p in inputs["participant_shares"]]
    shares = bip340.split_secret(
        _int(inputs["group_secret_key"]), [_int(c) for c in inputs["share_polynomial_coefficients"]], ids
    )
    assert shares == {p["identifier"]: _int(p["participant_share"]) for p in inputs["participant_shares"]}
    assert base_mult(_int(inputs["group_secret_key"])) == group_key
    threshold = int(vector["config"]["MIN_PARTICIPANTS"])
    keys = {i: bip340.KeyPackage(i, shares[i], base_mult(shares[i]), group_key, threshold) for i in ids}
    public = bip340.PublicKeyPackage({i: keys[i].verifying_share for i in ids}, group_key, threshold)
    suite = bip340.RFC9591_SUITE
    nonces, commitments = {}, {}
    for output in vector["round_one_outputs"]["outputs"]:
        i = output["identifier"]
        stream = [
            bytes.fromhex(output["hiding_nonce_randomness"]),
            bytes.fromhex(output["binding_nonce_randomness"]),
        ]
        nonces[i], commitments[i] = bip340.commit(keys[i], lambda n, s=stream: s.pop(0), suite=suite)
        assert (nonces[i]._hiding, nonces[i]._binding) == (
            _int(output["hiding_nonce"]),
            _int(output["binding_nonce"]),
        )
        assert commitments[i].hiding.hex() == output["hiding_nonce_commitment"]
        assert commitments[i].binding.hex() == output["binding_nonce_commitment"]
    package = bip340.SigningPackage(bytes.fromhex(inputs["message"]), commitments)
    factor_inputs = bip340.binding_factor_inputs(group_key, package, suite)
    for output in vector["round_one_outputs"]["outputs"]:
        assert factor_inputs[output["identifier"]].hex() == output["binding_factor_input"]
        assert suite.h1(factor_inputs[output["identifier"]]) == _int(output["binding_factor"])
    signature_shares = {}
    for output in vector["round_two_outputs"]["outputs"]:
        i = output["identifier"]
        signature_shares[i] = bip340.sign(package, nonces[i], keys[i], suite=suite)
        assert signature_shares[i].share == _int(output["sig_share"])
    signature = bip340.aggregate(package, signature_shares, public, suite=suite)
    assert signature.hex() == vector["final_output"]["sig"]
    # The RFC suite's signature is 65 bytes with a hash_to_field challenge: BIP-340 verifiers refuse it.
    assert not bip340.verify(group_key, package.message, signature[1:33] + signature[33:])


def _sign(keys, public, signers, message, rng):  # type: ignore[no-untyped-def]
    nonces, commitments = {}, {}
    for i in signers:
        nonces[i], commitments[i] = bip340.commit(keys[i], rng)
    package = bip340.SigningPackage(message, commitments)
    return package, bip340.aggregate(
        package, {i: bip340.sign(package, nonces[i], keys[i]) for i in signers}, public
    )


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 5),
    data=st.data(),
    message=st.binary(max_size=64) | st.binary(min_size=32, max_size=32),
    seed=st.integers(0, 2**32),
)
def test_bip340_signatures_verify_with_libsecp256k1(
    n: int, data: st.DataObject, message: bytes, seed: int
) -> None:
    threshold = data.draw(st.integers(2, n))
    ids = data.draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True))
    signers = data.draw(st.lists(st.sampled_from(ids), min_size=threshold, max_size=n, unique=True))
    rng = make_rng(seed)
    keys, public = bip340.trusted_dealer_keygen(threshold, ids, rng)
    _, signature = _sign(keys, public, signers, message, rng)
    assert len(signature) == 64
    assert PublicKeyXOnly(public.x_only_public_key).verify(signature, message)
    assert not PublicKeyXOnly(public.x_only_public_key).verify(signature, message + b"!")


def test_odd_group_keys_and_odd_commitments_are_both_handled() -> None:
    """BIP-340 keys and nonces have even y: both negations must happen, and the result must verify."""
    seen_key, seen_r = set(), set()
    for seed in range(40):
        rng = make_rng(seed)
        keys, public = bip340.trusted_dealer_keygen(2, [1, 2, 3], rng)
        package, signature = _sign(keys, public, [1, 3], b"parity", rng)
        key, _ = bip340._even_key(public.group_public_key, bip340.BIP340_SUITE)
        rho = {
            i: bip340.BIP340_SUITE.h1(d)
            for i, d in bip340.binding_factor_inputs(key, package, bip340.BIP340_SUITE).items()
        }
        _, nonce_sign = bip340._group_commitment(package, rho, bip340.BIP340_SUITE)
        seen_key.add(has_even_y(public.group_public_key))
        seen_r.add(nonce_sign)
        assert bip340.verify(public.group_public_key, b"parity", signature)
    assert seen_key == {True, False} and seen_r == {1, -1}


def test_identifiable_abort_names_the_culprit() -> None:
    rng = make_rng(5)
    keys, public = bip340.trusted_dealer_keygen(3, [1, 2, 3], rng)
    nonces, commitments = {}, {}
    for i in (1, 2, 3):
        nonces[i], commitments[i] = bip340.commit(keys[i], rng)
    package = bip340.SigningPackage(b"m", commitments)
    shares = {i: bip340.sign(package, nonces[i], keys[i]) for i in (1, 2, 3)}
    shares[2] = bip340.SignatureShare(2, (shares[2].share + 1) % bip340.N)
    with pytest.raises(InvalidSignatureShareError) as raised:
        bip340.aggregate(package, shares, public)
    assert raised.value.culprits == (2,)


def test_nonces_are_single_use_and_gated_by_the_consumed_set() -> None:
    rng = make_rng(6)
    keys, _ = bip340.trusted_dealer_keygen(2, [1, 2], rng)
    nonces, commitments = {}, {}
    for i in (1, 2):
        nonces[i], commitments[i] = bip340.commit(keys[i], rng)
    package = bip340.SigningPackage(b"m", commitments)
    backup = nonces[1].to_bytes()
    consumed = ConsumedNonces()
    bip340.sign_once(package, nonces[1], keys[1], consumed.mark)
    with pytest.raises(NonceReuseError):
        bip340.sign(package, nonces[1], keys[1])
    restored = bip340.SigningNonces.from_bytes(backup)
    assert restored.nonce_id == nonces[1].nonce_id
    with pytest.raises(NonceReuseError):
        consumed.check(restored)
    with pytest.raises(NonceReuseError):
        bip340.sign_once(package, restored, keys[1], consumed.mark)
    with pytest.raises(CommitmentMismatchError):
        bip340.sign(package, nonces[2], keys[1])


@pytest.mark.parametrize(
    ("element", "error"),
    [
        (bytes(33), IdentityElementError),
        (b"\x02" + P.to_bytes(32, "big"), NonCanonicalElementError),
        (b"\x02" + (5).to_bytes(32, "big"), NotOnCurveError),  # x^3 + 7 = 132 is not a square mod p
        (b"\x04" + bytes(32), DecodeError),
        (b"\x02" + bytes(31), DecodeError),
    ],
)
def test_bad_secp256k1_elements_get_specific_errors(element: bytes, error: type[Exception]) -> None:
    with pytest.raises(error, match="participant 4, binding commitment"):
        bip340.SigningCommitments(4, base_mult(7), element)


def test_key_packages_round_trip_and_refuse_inconsistency() -> None:
    keys, public = bip340.trusted_dealer_keygen(2, [1, 2], make_rng(7))
    assert bip340.KeyPackage.from_dict(keys[1].to_dict()) == keys[1]
    assert bip340.PublicKeyPackage.from_dict(public.to_dict()) == public
    with pytest.raises(KeyMismatchError):
        bip340.KeyPackage.from_dict({**keys[1].to_dict(), "verifying_share": keys[2].verifying_share})
