"""A round-one nonce pair yields at most one signature share: in a process by construction, across crashes
and restores through the persisted consumed set. And why it matters: reuse gives the signing share away."""

from __future__ import annotations

import copy
import hashlib
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosigner_ha.mpc import (
    CommitmentMismatchError,
    ConsumedNonces,
    DecodeError,
    NonceReuseError,
    SigningNonces,
    SigningPackage,
    SigningSession,
    commit,
    sign,
    sign_once,
    trusted_dealer_keygen,
)
from cosigner_ha.mpc.ed25519 import L, base_mult
from cosigner_ha.mpc.shamir import lagrange_coefficient

from .helpers import make_rng, run_round_one


@pytest.fixture
def key_set():  # type: ignore[no-untyped-def]
    return trusted_dealer_keygen(2, [1, 2, 3], make_rng(21))


def test_a_pair_signs_once_then_refuses(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, _ = key_set
    nonces, commitments = run_round_one(keys, [1, 2], make_rng(22))
    package = SigningPackage(b"first", commitments)
    sign(package, nonces[1], keys[1])
    assert nonces[1].consumed
    with pytest.raises(NonceReuseError, match=r"participant 1: nonce pair .* was already used"):
        sign(package, nonces[1], keys[1])
    with pytest.raises(NonceReuseError):
        sign(SigningPackage(b"second", commitments), nonces[1], keys[1])
    with pytest.raises(NonceReuseError):
        SigningSession(package, key_set[1]).sign(nonces[1], keys[1])
    with pytest.raises(NonceReuseError):
        nonces[1].to_bytes()


def test_a_rejected_package_does_not_consume_the_pair(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, _ = key_set
    nonces, commitments = run_round_one(keys, [1, 2], make_rng(23))
    _, stranger = commit(keys[2], make_rng(24))
    with pytest.raises(CommitmentMismatchError):
        sign(SigningPackage(b"m", {1: commitments[1], 2: stranger}), nonces[2], keys[2])
    assert not nonces[2].consumed
    sign(SigningPackage(b"m", commitments), nonces[2], keys[2])


def test_nonces_cannot_be_copied_pickled_or_built_by_hand(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, _ = key_set
    nonces, _ = commit(keys[1], make_rng(25))
    for clone in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match=r"at most once|sealed store"):
            clone(nonces)
    with pytest.raises(TypeError, match="commit"):
        SigningNonces()
    assert "consumed" not in repr(nonces) and "unused" in repr(nonces)
    assert str(nonces._hiding) not in repr(nonces)


def test_sealed_store_round_trip_keeps_the_pair_and_its_id(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, _ = key_set
    nonces, commitments = commit(keys[3], make_rng(26))
    restored = SigningNonces.from_bytes(nonces.to_bytes())
    assert restored.nonce_id == nonces.nonce_id == commitments.nonce_id
    assert restored.commitments == commitments
    with pytest.raises(DecodeError, match="encode a SigningCommitments, not a SigningNonces"):
        SigningNonces.from_bytes(commitments.to_bytes())


def test_restore_from_an_old_backup_cannot_sign_again(key_set) -> None:  # type: ignore[no-untyped-def]
    """The node's flow: persist the consumed id before releasing a share; gate restored pairs on it."""
    keys, _ = key_set
    consumed = ConsumedNonces()
    nonces, commitments = run_round_one(keys, [1, 2], make_rng(27))
    backup = nonces[1].to_bytes()  # sealed store snapshot taken before signing
    sign_once(SigningPackage(b"tx-1", commitments), nonces[1], keys[1], persist=consumed.mark)
    assert nonces[1].nonce_id in consumed

    # Crash, restore the old snapshot: the pair is back in memory, the consumed set (durable) is not lost.
    durable = ConsumedNonces.from_bytes(consumed.to_bytes())
    restored = SigningNonces.from_bytes(backup)
    with pytest.raises(NonceReuseError, match=r"restored nonce pair .* was already used"):
        durable.check(restored)
    # Even a caller that forgets the gate cannot get a share out: persist refuses a known id first.
    with pytest.raises(NonceReuseError, match="already recorded as consumed"):
        sign_once(SigningPackage(b"tx-2", commitments), restored, keys[1], persist=durable.mark)


def test_a_failed_persist_releases_no_share_and_burns_the_pair(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, _ = key_set
    nonces, commitments = run_round_one(keys, [1, 2], make_rng(28))

    def disk_full(nonce_id: bytes) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        sign_once(SigningPackage(b"m", commitments), nonces[1], keys[1], persist=disk_full)
    assert nonces[1].consumed


def test_session_sign_persists_before_returning(key_set) -> None:  # type: ignore[no-untyped-def]
    keys, public = key_set
    nonces, commitments = run_round_one(keys, [2, 3], make_rng(29))
    consumed = ConsumedNonces()
    session = SigningSession(SigningPackage(b"m", commitments), public)
    session.sign(nonces[2], keys[2], persist=consumed.mark)
    assert list(consumed) == [nonces[2].nonce_id] and len(consumed) == 1


def test_consumed_set_rejects_malformed_ids() -> None:
    consumed = ConsumedNonces()
    with pytest.raises(DecodeError, match="32 bytes"):
        consumed.mark(b"short")
    with pytest.raises(DecodeError, match="multiple of 32"):
        ConsumedNonces.from_bytes(bytes(33))
    with pytest.raises(NonceReuseError):
        ConsumedNonces([bytes(32), bytes(32)])


class _SmallMerges(ConsumedNonces):
    __slots__ = ()
    MERGE_AT = 3  # merges every few ids, so that every path of the blob is taken


@given(
    st.lists(st.binary(min_size=32, max_size=32) | st.sampled_from([bytes(32), b"\xff" * 32]), max_size=40)
)
def test_consumed_set_answers_as_a_set_of_the_ids_would(ids: list[bytes]) -> None:
    """Marks, refusals, membership, order and the durable bytes are those of a plain set."""
    consumed, plain = _SmallMerges(), set()
    for nonce_id in ids:
        if nonce_id in plain:
            with pytest.raises(NonceReuseError, match="already recorded"):
                consumed.mark(nonce_id)
        else:
            consumed.mark(nonce_id)
            plain.add(nonce_id)
        assert nonce_id in consumed and len(consumed) == len(plain)
    assert list(consumed) == sorted(plain)
    assert consumed.to_bytes() == b"".join(sorted(plain))
    for other in ids[::2]:
        flipped = bytes([other[0] ^ 1]) + other[1:]
        assert (flipped in consumed) == (flipped in plain)
    assert ConsumedNonces.from_bytes(consumed.to_bytes()).to_bytes() == consumed.to_bytes()


def test_consumed_set_costs_about_its_ids_bytes_however_many() -> None:
    """A long-lived co-signer remembers every pair: 32 bytes an id, not an object an id."""
    consumed = ConsumedNonces()
    for n in range(5_000):
        consumed.mark(hashlib.sha256(n.to_bytes(4, "big")).digest())
    assert len(consumed) == 5_000
    assert len(consumed._recent) < ConsumedNonces.MERGE_AT  # the rest is one blob of 32 bytes an id
    assert len(consumed._sorted) == 32 * (5_000 - len(consumed._recent))
    assert hashlib.sha256((4_999).to_bytes(4, "big")).digest() in consumed
    assert hashlib.sha256((5_000).to_bytes(4, "big")).digest() not in consumed


def _solve_mod_l(rows: list[list[int]], rhs: list[int]) -> list[int]:
    """Gaussian elimination mod L (the attacker's whole toolkit)."""
    n = len(rows)
    m = [[*row, b] for row, b in zip(rows, rhs, strict=True)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if m[r][col] % L)
        m[col], m[pivot] = m[pivot], m[col]
        inverse = pow(m[col][col], -1, L)
        m[col] = [v * inverse % L for v in m[col]]
        for r in range(n):
            if r != col and m[r][col]:
                factor = m[r][col]
                m[r] = [(a - factor * b) % L for a, b in zip(m[r], m[col], strict=True)]
    return [m[r][n] for r in range(n)]


def test_why_reuse_is_fatal_reused_pair_gives_away_the_signing_share(key_set) -> None:  # type: ignore[no-untyped-def]
    """z = d + e·ρ + λ·s·c is linear in the secrets (d, e, s); every message gives fresh public ρ and c.
    Two shares from one pair tie e to s; a third (one more restore from the same backup) solves for s.
    The coordinator sees all of these values, so it would own this holder's share of the key."""
    keys, public = key_set
    victim = 2
    nonces, commitments = run_round_one(keys, [1, victim], make_rng(30))
    backup = nonces[victim].to_bytes()
    rows, rhs = [], []
    for k, message in enumerate((b"pay alice", b"pay bob", b"pay carol")):
        pair = nonces[victim] if k == 0 else SigningNonces.from_bytes(backup)  # the restore the gate prevents
        _, other = commit(keys[1], make_rng(31 + k))
        package = SigningPackage(message, {1: other, victim: commitments[victim]})
        share = sign(package, pair, keys[victim])
        session = SigningSession(package, public)  # every value below is public to the coordinator
        lam = lagrange_coefficient(victim, package.signers)
        rows.append([1, session.binding_factors[victim], lam * session.challenge % L])
        rhs.append(share.share)
    d, e, s = _solve_mod_l(rows, rhs)
    assert base_mult(s) == public.verifying_shares[victim]
    assert s == keys[victim].signing_share
    assert (base_mult(d), base_mult(e)) == (commitments[victim].hiding, commitments[victim].binding)
