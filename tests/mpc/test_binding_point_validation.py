"""A peer's binding commitment is validated by the multiplication that uses it, not again on decoding.

libsodium's variable-base multiplication refuses exactly the points `crypto_core_ed25519_is_valid_point`
refuses; these tests hold that against every kind of bad point and show the refusal is the same error as
decoding-time validation gave (class, participant, field, text), raised before a share exists and before
the signer's nonce pair is consumed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.mpc import (
    InvalidElementError,
    KeyPackage,
    MpcError,
    PublicKeyPackage,
    SigningCommitments,
    SigningNonces,
    SigningPackage,
    SigningSession,
    aggregate,
    commit,
    sign,
    sign_once,
    trusted_dealer_keygen,
    verify_signature_share,
)
from cosigner_ha.mpc.ed25519 import (
    BASE_POINT,
    IDENTITY,
    L,
    P,
    add,
    base_mult,
    mult,
    mult_element,
    validate_element,
)

from .helpers import cryptography_verifies, make_rng, nacl_verifies, run_round_one

ORDER_2 = (P - 1).to_bytes(32, "little")
#: Every 32-byte kind of invalid element: each is refused by decoding-time validation with its own class.
BAD_POINTS = {
    "identity": IDENTITY,
    "y-not-reduced": (P + 1).to_bytes(32, "little"),
    "negative-zero-x": IDENTITY[:31] + b"\x80",
    "order-4": bytes(32),
    "order-2": ORDER_2,
    "order-8": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    "not-on-curve": (2).to_bytes(32, "little"),
    "mixed-order": add(BASE_POINT, ORDER_2),
}


def decoding_error(point: bytes, participant: int) -> InvalidElementError:
    """What validating the point on decoding raises (what every bad binding commitment got before)."""
    with pytest.raises(InvalidElementError) as raised:
        validate_element(point, field="binding commitment", participant=participant)
    return raised.value


def same_error(got: InvalidElementError, expected: InvalidElementError) -> None:
    assert type(got) is type(expected)
    assert (got.participant, got.field, str(got)) == (expected.participant, expected.field, str(expected))


@pytest.mark.parametrize("name", BAD_POINTS)
@pytest.mark.parametrize("k", [1, 2, L - 1, 0])
def test_multiplying_a_bad_point_raises_the_decoding_error(name: str, k: int) -> None:
    point = BAD_POINTS[name]
    with pytest.raises(InvalidElementError) as raised:
        mult_element(k, point, field="binding commitment", participant=3)
    same_error(raised.value, decoding_error(point, 3))


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=L - 1), st.integers(min_value=0, max_value=L - 1))
def test_multiplying_a_valid_point_is_the_plain_multiplication(a: int, k: int) -> None:
    point = base_mult(a)
    assert mult_element(k, point, field="binding commitment", participant=2) == mult(k, point)


Rig = tuple[
    dict[int, KeyPackage], PublicKeyPackage, dict[int, SigningNonces], dict[int, SigningCommitments], bytes
]


def bad_binding_package(index: int, point: bytes) -> Rig:
    """A package (as bytes) in which signer `index`'s binding commitment is `point`; signer 1 is ours."""
    keys, public = trusted_dealer_keygen(3, [1, 2, 3], make_rng(70))
    nonces, commitments = run_round_one(keys, [1, 2, 3], make_rng(71))
    bad = SigningCommitments._trusted(index, commitments[index].hiding, point)
    package = SigningPackage(b"tx", {**commitments, index: bad})
    return keys, public, nonces, commitments, package.to_bytes()


@pytest.mark.parametrize("name", BAD_POINTS)
def test_a_peer_s_bad_binding_point_gets_no_share_and_leaves_the_nonces_unused(name: str) -> None:
    point = BAD_POINTS[name]
    keys, public, nonces, commitments, data = bad_binding_package(2, point)
    package = SigningPackage.from_bytes(data, known=(commitments[1],))
    persisted: list[bytes] = []
    attempts: list[Callable[[], object]] = [
        lambda: sign_once(package, nonces[1], keys[1], persist=persisted.append),
        lambda: sign(package, nonces[1], keys[1]),
        lambda: SigningSession(package, public),
        lambda: SigningSession(package, public, local_nonces=[nonces[1], nonces[3]]),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidElementError) as raised:
            attempt()
        same_error(raised.value, decoding_error(point, 2))
    assert persisted == [] and not nonces[1].consumed

    # the same nonces then sign a good package: nothing was spent on the bad one
    good = SigningPackage(b"tx", commitments)
    shares = {i: sign(good, nonces[i], keys[i]) for i in (1, 2, 3)}
    signature = aggregate(good, shares, public)
    assert nacl_verifies(public.group_public_key, b"tx", signature)
    assert cryptography_verifies(public.group_public_key, b"tx", signature)


@pytest.mark.parametrize("name", ["order-8", "mixed-order", "not-on-curve"])
def test_a_bad_binding_point_is_named_when_a_share_is_checked(name: str) -> None:
    point = BAD_POINTS[name]
    keys, public, nonces, commitments, data = bad_binding_package(3, point)
    good = SigningPackage(b"tx", commitments)
    share = sign(good, nonces[3], keys[3])
    with pytest.raises(InvalidElementError) as raised:
        verify_signature_share(SigningPackage.from_bytes(data), share, public)
    same_error(raised.value, decoding_error(point, 3))


@pytest.mark.parametrize("name", BAD_POINTS)
def test_hiding_commitments_are_still_validated_on_decoding(name: str) -> None:
    """The hiding point is only added (libsodium's addition checks the curve, not the subgroup)."""
    keys, _ = trusted_dealer_keygen(3, [1, 2, 3], make_rng(72))
    _, good = commit(keys[2], make_rng(73))
    entry = good.encode()
    with pytest.raises(InvalidElementError) as raised:
        SigningCommitments.from_bytes(b"\x01\x03" + entry[:32] + BAD_POINTS[name] + entry[64:])
    assert (raised.value.participant, raised.value.field) == (2, "hiding commitment")
    # and the public constructor still validates both points at once
    with pytest.raises(MpcError, match="participant 2, binding commitment"):
        SigningCommitments(2, good.hiding, BAD_POINTS[name])
