"""Pairing through the gateway: the owner's approval (latency, refusal), the resharing, and the co-signer
type rules."""

from __future__ import annotations

import pytest

from cosigner_ha import mpc, wire
from cosigner_ha.env import Environment, simulate
from cosigner_ha.saas_sim import ApproverBehaviour, Verdict

from .harness import SPEC, running_world
from .protocol_node import ProtocolError, ProtocolNode


def test_pairing_waits_for_the_owner_and_reshares_a_fresh_set() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[]) as w:
            w.saas.set_approver("acme", "olenna", ApproverBehaviour(latency=300.0))
            node = ProtocolNode(env.child("n1"), w.net, host="n1", saas=w.saas.address)
            token = w.saas.issue_pairing_token("acme", "signer-a")
            pending = await node.call_ok(node.pair_message(token))
            assert isinstance(pending, wire.PairPending) and pending.status == "WAITING_FOR_APPROVAL"
            assert w.saas.workspace("acme").api_user("signer-a").status.value == "PENDING_DEVICE_SETUP"
            # PairStatus is held for the long-poll interval while the owner thinks
            start = env.clock.now()
            again = await node.call_ok(wire.PairStatus(pending.request_id, "n1", token))
            assert isinstance(again, wire.PairPending) and env.clock.now() - start == pytest.approx(
                30, abs=0.1
            )
            while True:
                done = await node.call_ok(wire.PairStatus(pending.request_id, "n1", token))
                if isinstance(done, wire.PairCompleted):
                    break
            assert env.clock.now() == pytest.approx(300, abs=1)
            node._install(done)
            ws = w.saas.workspace("acme")
            assert done.api_user == ws.api_user("signer-a").id and done.identifier == 1
            public = mpc.PublicKeyPackage.from_bytes(done.public_package)
            assert public.group_public_key == ws.public_key and public.identifiers == (1, 2, 3)
            assert w.saas.request_status(pending.request_id)["status"] == "COMPLETED"
            # a second user gets a different share set under the same group key
            second = await ProtocolNode(env.child("n2"), w.net, host="n2", saas=w.saas.address).pair(
                w.saas.issue_pairing_token("acme", "signer-b")
            )
            other = mpc.PublicKeyPackage.from_bytes(second.public_package)
            assert other.group_public_key == public.group_public_key
            assert other.verifying_shares[2] != public.verifying_shares[2]
            assert other.verifying_shares[3] != public.verifying_shares[3]
            # a non-signing API user holds no shares
            with pytest.raises(ProtocolError, match="only SIGNER and ADMIN"):
                await ProtocolNode(env.child("n3"), w.net, host="n3", saas=w.saas.address).pair(
                    w.saas.issue_pairing_token("acme", "ops")
                )

    simulate(main, seed=31)


def test_the_owner_can_refuse_a_pairing() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[]) as w:
            w.saas.set_approver(
                "acme", "olenna", ApproverBehaviour(latency=5.0, verdict=Verdict.REJECT, reason="who?")
            )
            node = ProtocolNode(env.child("n1"), w.net, host="n1", saas=w.saas.address)
            with pytest.raises(ProtocolError, match="PAIRING_REJECTED: refused by olenna: who"):
                await node.pair(w.saas.issue_pairing_token("acme", "signer-a"))
            assert w.saas.workspace("acme").api_user("signer-a").status.value == "PENDING_ACTIVATION"
            assert w.saas.cosigner("n1").pairings == []

    simulate(main, seed=32)


def test_an_absent_owner_lets_the_pairing_expire() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[]) as w:
            w.saas.set_approver("acme", "olenna", ApproverBehaviour(verdict=Verdict.ABSENT))
            node = ProtocolNode(env.child("n1"), w.net, host="n1", saas=w.saas.address)
            with pytest.raises(
                ProtocolError, match="PAIRING_CANCELLED: olenna did not answer within 43200 s"
            ):
                await node.pair(w.saas.issue_pairing_token("acme", "signer-a"))

    simulate(main, seed=33)


def test_gcp_serves_one_workspace_and_the_communal_cosigner_no_mainnet() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[]) as w:
            testnet = {**SPEC, "name": "acme-test", "env": "testnet"}
            w.saas.create_workspace(testnet)
            for ws in ("acme", "acme-test"):
                w.saas.set_approver(ws, "olenna", ApproverBehaviour(latency=1.0))
            gcp = ProtocolNode(
                env.child("gcp"), w.net, host="gcp", saas=w.saas.address, cosigner_type="GCP-CONFSPACE"
            )
            await gcp.pair(w.saas.issue_pairing_token("acme", "signer-a"))
            await gcp.pair(w.saas.issue_pairing_token("acme", "signer-b"))  # same workspace: fine
            with pytest.raises(ProtocolError, match=r"GCP_SINGLE_WORKSPACE: .*serves one workspace only"):
                await gcp.pair(w.saas.issue_pairing_token("acme-test", "signer-a"))
            # the refused token was not spent
            assert w.saas.workspace("acme-test").api_user("signer-a").status.value == "PENDING_ACTIVATION"

            communal = ProtocolNode(
                env.child("communal"), w.net, host="communal", saas=w.saas.address, cosigner_type="SANDBOX"
            )
            with pytest.raises(ProtocolError, match=r"COMMUNAL_NOT_ALLOWED: .*testnet and sandbox"):
                await communal.pair(w.saas.issue_pairing_token("acme", "signer-c"))
            await communal.pair(w.saas.issue_pairing_token("acme-test", "signer-c"))
            assert [c["id"] for c in w.saas.cosigners()] == ["gcp", "communal"]
            assert w.saas.cosigners()[0]["api_users"] == ["signer-a", "signer-b"]

    simulate(main, seed=34)


def test_console_management_requests() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a")]) as w:
            req = w.saas.add_cosigner(
                "acme", "nitro-b", name="Nitro B", type="AWS-NITRO", api_user="signer-b", requested_by="tywin"
            )
            assert w.saas.request_status(req.id)["status"] == "APPROVED"  # pending its pairing
            node = ProtocolNode(
                env.child("nb"),
                w.net,
                host="nb",
                saas=w.saas.address,
                cosigner_id="nitro-b",
                cosigner_type="AWS-NITRO",
            )
            await node.pair(w.saas.issue_pairing_token("acme", "signer-b"))
            assert w.saas.request_status(req.id)["status"] == "COMPLETED"
            assert w.saas.cosigner("nitro-b").name == "Nitro B"
            rename = w.saas.rename_cosigner("nitro-b", "Nitro Bravo", requested_by="tywin")
            assert w.saas.request_status(rename.id)["status"] == "COMPLETED"
            update = w.saas.update_callback(
                "acme", "signer-a", {"url": "https://cb:8443"}, requested_by="tywin"
            )
            assert w.saas.request_status(update.id)["status"] == "WAITING_FOR_APPROVAL"
            await env.clock.sleep(25)
            assert w.saas.request_status(update.id)["status"] == "COMPLETED"
            assert w.saas.workspace("acme").api_user("signer-a").callback == {"url": "https://cb:8443"}
            await env.clock.sleep(35)  # the node hears about it on its next poll
            statuses = [(s.request_id, s.status) for s in w.nodes["node-a"].sent("request_status")]
            assert (update.id, "COMPLETED") in statuses
            waiting = w.saas.unpair("acme", "signer-b", requested_by="tywin")
            w.saas.cancel_request(waiting.id, by="tywin")
            assert w.saas.request_status(waiting.id)["status"] == "CANCELLED"
            await env.clock.sleep(30)
            assert w.saas.workspace("acme").api_user("signer-b").status.value == "READY"

    simulate(main, seed=35)


def test_the_same_pair_request_again_is_a_retry_not_a_replay() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[]) as w:
            node = ProtocolNode(env.child("n1"), w.net, host="n1", saas=w.saas.address)
            token = w.saas.issue_pairing_token("acme", "signer-a")
            first = await node.call_ok(node.pair_message(token))
            again = await node.call_ok(node.pair_message(token))  # the answer was lost; the node asks again
            assert isinstance(first, wire.PairPending) and isinstance(again, wire.PairPending)
            assert again.request_id == first.request_id
            await env.clock.sleep(25)
            done = await node.call_ok(node.pair_message(token))
            assert isinstance(done, wire.PairCompleted) and done.request_id == first.request_id
            # the same token with other keys, or from another co-signer, is a replay
            other = ProtocolNode(env.child("n2"), w.net, host="n2", saas=w.saas.address, cosigner_id="n1")
            refused = await other.call(other.pair_message(token))
            assert isinstance(refused, wire.Error) and refused.code == "TOKEN_REPLAYED"
            assert len(w.events("pairing_requested")) == 1

    simulate(main, seed=36)
