"""The SaaS's checks of a node's signing: a bad commitment point is refused when the approval arrives (the
same error whether the point is validated on decoding, the hiding one, or by the multiplication that uses
it, the binding one), before round two is sent and before either cloud co-signer produces a share; and a
signature is released only when the standard verifier accepts it."""

from __future__ import annotations

import pytest
from nacl.exceptions import BadSignatureError

from cosigner_ha import mpc, wire
from cosigner_ha.env import Environment, simulate
from cosigner_ha.mpc import ed25519
from cosigner_ha.mpc.ed25519 import BASE_POINT, P, add, validate_element
from cosigner_ha.saas_sim import Status, SubStatus, Transaction
from cosigner_ha.saas_sim.causes import Cause

from .harness import World, ready, running_world
from .protocol_node import ProtocolNode

ORDER_2 = (P - 1).to_bytes(32, "little")
BAD = {
    "mixed-order": add(BASE_POINT, ORDER_2),
    "order-8": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    "not-on-curve": (2).to_bytes(32, "little"),
}


async def signing_by_hand(
    env: Environment, w: World
) -> tuple[ProtocolNode, Transaction, wire.SignRequest, mpc.KeyPackage]:
    """A transaction dispatched to node-a, whose part is played by hand from another host; returns that
    host, the transaction, its signing request and node-a's key package for the API user."""
    await ready(w)
    node = w.nodes["node-a"]
    node.crash()
    by_hand = ProtocolNode(
        env.child("by-hand"), w.net, host="by-hand", saas=w.saas.address, cosigner_id="node-a"
    )
    by_hand.refresh_tokens = dict(node.refresh_tokens)
    await by_hand.refresh()
    token, users = by_hand.access_token, list(node.keys)
    polls = await by_hand.connect()
    tx = w.submit()
    work = await by_hand.exchange(polls, wire.Poll(token, "node-a", users))
    assert isinstance(work, wire.PollResult)
    (probe,) = work.items
    assert isinstance(probe, wire.AvailabilityProbe)
    answer = wire.Availability(probe.probe_id, probe.api_user, True)
    work = await by_hand.exchange(polls, wire.Poll(token, "node-a", users, [answer]))
    assert isinstance(work, wire.PollResult)
    (request,) = work.items
    assert isinstance(request, wire.SignRequest)
    return by_hand, tx, request, node.keys[probe.api_user]


@pytest.mark.parametrize("which", ["binding", "hiding"])
@pytest.mark.parametrize("point", BAD)
def test_a_bad_point_in_the_node_s_commitments_is_refused_before_any_share(which: str, point: str) -> None:
    bad = BAD[point]
    with pytest.raises(mpc.InvalidElementError) as raised:
        validate_element(bad, field=f"{which} commitment", participant=wire.NODE_IDENTIFIER)
    expected = str(raised.value)  # "participant 1, binding commitment: <why>"

    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a")]) as w:
            by_hand, tx, request, key = await signing_by_hand(env, w)
            _, commitments = mpc.commit(key, env.randbytes)
            data = commitments.to_bytes()
            at = len(data) - (32 if which == "binding" else 64)
            data = data[:at] + bad + data[at + 32 :]
            approve = wire.CallbackResult(by_hand.access_token, request.session_id, "APPROVE", "", "", data)
            refusal = await by_hand.call(approve)
            assert isinstance(refusal, wire.Error), "no round two for a bad point"
            assert (refusal.code, refusal.message) == ("SESSION_CLOSED", f"commitments refused: {expected}")
            (ended,) = w.events("attempt_ended", session=request.session_id)
            assert ended.get("reason") == f"bad commitments from the node: {expected}"
            assert ended.get("outcome") == "retry" and ended.get("cause") == Cause.SIGNING_ERROR
            # nothing was signed: no round, no cloud nonce used, and the clouds hold no nonces for it
            assert not w.events("mpc_round", session=request.session_id)
            assert not w.events("nonce_used", session=request.session_id)
            assert not tx.signature
            assert all(cloud.open_sessions == 0 for cloud in w.saas.ctx.clouds)

    simulate(main, seed=31)


def test_no_signature_is_released_when_the_standard_verifier_refuses_the_aggregate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SaaS releases a signature only after libsodium's RFC 8032 verifier (inside `aggregate`) accepts
    it; when it refuses although every share checks out, the transaction fails and nothing is signed."""
    refused: list[bytes] = []

    def refusing_verifier(signed: bytes, public_key: bytes) -> bytes:
        refused.append(signed[:64])
        raise BadSignatureError("refused for the test")

    monkeypatch.setattr(ed25519, "_sign_open", refusing_verifier)

    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a")]) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert (tx.status, tx.sub_status) == (Status.FAILED, SubStatus.SIGNING_ERROR)
            assert tx.signature is None and not w.events("signed", tx=tx.id)
            (ended,) = w.events("attempt_ended", tx=tx.id)
            assert ended.get("reason") == "the aggregate signature failed standard Ed25519 verification"
            assert not w.events("mpc_error", tx=tx.id), "every share checked out: no one is blamed"

    simulate(main, seed=32)
    assert len(refused) == 1


def test_round_two_is_released_under_the_key_package_current_at_release() -> None:
    """The session's public values are computed when the commitments arrive; if the user's public key
    package object was replaced by the time the share arrives, they are computed again from the new one."""

    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a")]) as w:
            by_hand, tx, request, key = await signing_by_hand(env, w)
            nonces, commitments = mpc.commit(key, env.randbytes)
            approve = wire.CallbackResult(
                by_hand.access_token, request.session_id, "APPROVE", "", "", commitments.to_bytes()
            )
            round2 = await by_hand.call(approve)
            assert isinstance(round2, wire.SignRound2)
            state = w.saas.ctx.workspace_named("acme")
            before = state.user_keys["signer-a"]
            state.user_keys["signer-a"] = mpc.PublicKeyPackage.from_bytes(before.to_bytes())
            share = mpc.sign(mpc.SigningPackage.from_bytes(round2.signing_package), nonces, key)
            done = await by_hand.call(
                wire.SignatureShare(by_hand.access_token, request.session_id, share.to_bytes())
            )
            assert isinstance(done, wire.Ack)
            assert tx.status is Status.COMPLETED and tx.signature is not None
            assert mpc.verify(before.group_public_key, tx.message, tx.signature)

    simulate(main, seed=33)
