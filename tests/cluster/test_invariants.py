"""Each invariant of DESIGN.md section 6 catches the violation it exists for, from events alone."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cosigner_ha.cluster import invariants
from cosigner_ha.env import Event

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def ev(kind: str, t: float = 0.0, **fields: Any) -> Event:
    return Event(t, kind, fields)


def signed(tx: str, node: str = "n1", message: bytes = b"m", signature: bytes | None = None) -> Event:
    sig = KEY.sign(message) if signature is None else signature
    return ev(
        "signed", tx=tx, node=node, cosigner=node, api_user="signer-a",
        scheme="frost-ed25519", public_key=PUBLIC, message=message.hex(), signature=sig.hex(),
    )  # fmt: skip


def good_run(tx: str = "tx-1") -> list[Event]:
    return [
        ev("submitted", tx=tx),
        ev("policy_decision", tx=tx, status="PENDING_SIGNATURE", designated_signers=["signer-a"]),
        ev("dispatched", tx=tx, session="s1", node="n1", cosigner="n1"),
        ev("callback_request", request=tx, node="n1"),
        ev("callback_response", request=tx, node="n1", action="APPROVE"),
        ev("callback_result", tx=tx, cosigner="n1", action="APPROVE"),
        ev("mpc_round", session="s1", signers=[1, 2, 3]),
        ev("share_released", node="n1", session="s1", nonce_id="aa"),
        ev("nonce_used", party="cloud-1", nonce="bb"),
        ev("nonce_used", party="cloud-2", nonce="cc"),
        signed(tx),
        ev("completed", tx=tx, status="COMPLETED"),
    ]


def test_a_good_run_passes_every_invariant() -> None:
    results = invariants.check_all(good_run())
    assert all(v.ok for v in results.values()), results


def test_two_signatures_for_one_transaction_are_caught() -> None:
    verdict = invariants.at_most_one_signature([*good_run(), signed("tx-1", node="n2")])
    assert not verdict.ok and "tx-1" in verdict.detail


def test_a_signature_that_does_not_verify_is_caught() -> None:
    bad = [e for e in good_run() if e.kind != "signed"] + [signed("tx-1", signature=KEY.sign(b"other"))]
    verdict = invariants.signatures_verify(bad)
    assert not verdict.ok and "fail Ed25519 verification" in verdict.detail


def test_each_signature_is_verified_though_the_parsed_key_is_reused() -> None:
    """The fold keeps the latest public key parsed (a run signs under one group key a workspace): a bad
    signature after good ones under that key, and a good signature under another key written after it,
    still get their own verdicts."""
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    other_public = other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    under_other = signed("tx-3", message=b"m3", signature=other.sign(b"m3"))
    under_other = Event(under_other.t, "signed", {**under_other.fields, "public_key": other_public})
    wrong_key = Event(0.0, "signed", {**signed("tx-5", message=b"m5").fields, "public_key": other_public})
    events = [
        signed("tx-1"),
        signed("tx-2", message=b"m2", signature=KEY.sign(b"not m2")),  # bad, under the key just parsed
        under_other,  # good, under another key
        signed("tx-4", message=b"m4"),  # good, back under the first key
        wrong_key,  # KEY's signature written with the other key: bad
    ]
    verdict = invariants.signatures_verify(events)
    assert not verdict.ok and verdict.detail.startswith("2 released signature(s)")
    assert "tx-2" in verdict.detail and "tx-5" in verdict.detail and "tx-4" not in verdict.detail


@pytest.mark.parametrize(
    ("decision", "why"),
    [
        ({"status": "BLOCKED", "designated_signers": []}, "decided BLOCKED"),
        ({"status": "PENDING_SIGNATURE", "designated_signers": ["signer-b"]}, "not a designated signer"),
        ({"status": "PENDING_AUTHORIZATION", "designated_signers": ["signer-a"]}, "approval not granted"),
    ],
)
def test_a_signature_against_policy_is_caught(decision: dict[str, Any], why: str) -> None:
    run = [
        ev("policy_decision", tx="tx-1", **decision) if e.kind == "policy_decision" else e for e in good_run()
    ]
    verdict = invariants.signed_within_policy(run)
    assert not verdict.ok and why in verdict.detail


def test_a_signature_without_any_approve_is_caught() -> None:
    run = [e for e in good_run() if e.kind != "callback_result"]
    verdict = invariants.signed_with_callback_approval(run)
    assert not verdict.ok and "no APPROVE reported" in verdict.detail


def test_a_node_that_reports_approve_its_handler_never_gave_is_caught() -> None:
    run = [
        ev("callback_response", request="tx-1", node="n1", action="REJECT")
        if e.kind == "callback_response"
        else e
        for e in good_run()
    ]
    verdict = invariants.signed_with_callback_approval(run)
    assert not verdict.ok and "recorded no APPROVE" in verdict.detail


@pytest.mark.parametrize("kind", ["share_released", "nonce_used"])
def test_a_nonce_used_twice_by_one_party_is_caught(kind: str) -> None:
    again = (
        ev("share_released", node="n1", nonce_id="aa")
        if kind == "share_released"
        else ev("nonce_used", party="cloud-1", nonce="bb")
    )
    verdict = invariants.no_nonce_reuse([*good_run(), again])
    assert not verdict.ok and "used twice" in verdict.detail


def test_a_32_byte_nonce_id_used_twice_is_caught_as_hex_or_bytes() -> None:
    """The ids a real run writes (32 bytes: hex from a node, raw bytes from a cloud co-signer) go to the
    compact per-party store; a second use is reuse whichever form each use has, and only it is counted."""
    nonce = bytes(range(32))
    run = [
        ev("share_released", node="n1", nonce_id=nonce.hex()),
        ev("nonce_used", party="cloud-1", nonce=nonce),
        ev("nonce_used", party="n1", nonce=nonce),  # n1's nonce again, this time as bytes
        ev("share_released", node="n1", nonce_id=bytes(32).hex()),
    ]
    verdict = invariants.no_nonce_reuse(run)
    assert not verdict.ok and "1 nonce(s) used twice: n1:0001020304050607" in verdict.detail
    assert invariants.no_nonce_reuse([run[0], run[1], run[3]]).detail == "3 nonce(s) used, each once"


def test_the_same_nonce_id_at_two_parties_is_not_reuse() -> None:
    run = [*good_run(), ev("nonce_used", party="cloud-2", nonce="bb")]
    assert invariants.no_nonce_reuse(run).ok


def test_a_transaction_left_open_is_caught() -> None:
    run = [*good_run(), ev("submitted", tx="tx-2")]
    verdict = invariants.all_terminal(run)
    assert not verdict.ok and "tx-2" in verdict.detail


def test_an_internal_error_is_caught() -> None:
    verdict = invariants.no_internal_errors([*good_run(), ev("internal_error", error="KeyError: 'x'")])
    assert not verdict.ok and "KeyError" in verdict.detail


def test_a_signing_node_lost_with_nothing_left_to_sign_is_not_a_failed_failover() -> None:
    from cosigner_ha.cluster.analysis import failovers
    from cosigner_ha.cluster.report import FaultSpan, SignatureMark, TxPoint

    signatures = [SignatureMark(10.0, "a", "tx-1", "u")]
    crash = [FaultSpan(100.0, None, "crash", "a", ("a",))]
    done = [TxPoint(5.0, 10.0, "COMPLETED", None, 5.0, "a")]
    assert failovers(signatures, crash, done) == []
    waiting = [*done, TxPoint(150.0, None, "PENDING_SIGNATURE", None, None, None)]
    (lost,) = failovers(signatures, crash, waiting)
    assert lost.from_node == "a" and lost.to_node is None and lost.gap_seconds is None
    blocked = [*done, TxPoint(150.0, 150.0, "BLOCKED", "BLOCKED_BY_POLICY", None, None)]
    assert failovers(signatures, crash, blocked) == []
