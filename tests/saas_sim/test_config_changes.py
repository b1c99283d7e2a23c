"""Configuration changes approved by an ADMIN API user's co-signer, signed with its configuration key."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cosigner_ha import wire
from cosigner_ha.env import Environment, simulate
from cosigner_ha.saas_sim import ApproverBehaviour, Status, Verdict

from .harness import POLICY, ready, running_world


def test_a_new_wallet_is_approved_by_the_admin_cosigner_and_then_usable() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a"), ("node-admin", "admin-bot")]) as w:
            await ready(w)
            req = w.saas.add_whitelisted_wallet("acme", "new-partner", "0xfeed")
            assert await req.wait() == "COMPLETED"
            assert req.decided_by == "admin-bot" and req.sent_to == [("node-admin", "admin-bot")]
            (sent,) = w.nodes["node-admin"].sent("config_change")
            assert sent.kind == "UNMANAGED_WALLET" and sent.payload["walletName"] == "new-partner"
            assert "new-partner" in w.saas.workspace("acme").wallets
            tx = await w.settle(w.submit(destination="wallet:new-partner"))
            assert tx.status is Status.COMPLETED

    simulate(main, seed=51)


def test_a_rejected_change_changes_nothing() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-admin", "admin-bot")]) as w:
            await ready(w)
            w.nodes["node-admin"].auto_config_answer = False
            req = w.saas.add_whitelisted_wallet("acme", "shady")
            assert await req.wait() == "REJECTED" and "rejected by admin-bot" in req.detail
            assert "shady" not in w.saas.workspace("acme").wallets

    simulate(main, seed=52)


def test_an_answer_not_signed_with_the_configuration_key_is_refused() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-admin", "admin-bot")]) as w:
            await ready(w)
            node = w.nodes["node-admin"]
            node.auto_config_answer = None  # answer by hand
            req = w.saas.add_whitelisted_wallet("acme", "shady")
            await env.clock.sleep(5)
            (item,) = node.sent("config_change")
            wrong = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
            signed = wire.encode(
                wire.ConfigChangeApproval(item.request_id, item.api_user, item.kind, item.payload, True)
            )
            answer = await node.call(
                wire.ConfigChangeAnswer(
                    node.access_token, item.request_id, item.api_user, True, wrong.sign(signed), ""
                )
            )
            assert isinstance(answer, wire.Error) and answer.code == "BAD_SIGNATURE"
            # signing a different payload than the one sent is just as bad
            tampered = wire.encode(
                wire.ConfigChangeApproval(
                    item.request_id, item.api_user, item.kind, {"walletName": "x"}, True
                )
            )
            answer = await node.call(
                wire.ConfigChangeAnswer(
                    node.access_token, item.request_id, item.api_user, True, node._config.sign(tampered), ""
                )
            )
            assert isinstance(answer, wire.Error) and answer.code == "BAD_SIGNATURE"
            assert req.status == "WAITING_FOR_APPROVAL" and "shady" not in w.saas.workspace("acme").wallets
            # until answered, the request is re-sent (a lost poll answer does not strand it)
            await env.clock.sleep(310)
            assert len(node.sent("config_change")) == 2

    simulate(main, seed=53)


def test_a_policy_publish_goes_through_the_admin_cosigner() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a"), ("node-admin", "admin-bot")]) as w:
            await ready(w)
            block_all = {"rules": [{"action": "BLOCK"}]}
            req = w.saas.publish_policy("acme", block_all, origin="block-all.toml")
            assert req is not None and await req.wait() == "COMPLETED"
            (published,) = [e for e in w.events("policy_published") if e.get("origin") == "block-all.toml"]
            assert published.get("rules") == 1
            tx = await w.settle(w.submit())
            assert tx.status is Status.BLOCKED

    simulate(main, seed=54)


def test_without_an_admin_api_user_the_owner_approves() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a")]) as w:
            w.saas.set_approver("acme", "olenna", ApproverBehaviour(latency=30.0, verdict=Verdict.REJECT))
            req = w.saas.publish_policy("acme", POLICY, origin="again")
            assert req is not None and await req.wait() == "REJECTED"
            assert req.decided_by == "olenna" and req.sent_to == []

    simulate(main, seed=55)


def test_an_offline_admin_cosigner_keeps_one_copy_queued() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-admin", "admin-bot")]) as w:
            await ready(w)
            w.nodes["node-admin"].crash()
            req = w.saas.add_whitelisted_wallet("acme", "later")
            await env.clock.sleep(1000)  # three resends
            assert len(w.events("config_change_sent", request=req.id)) == 4
            queued = [i for i in w.saas.ctx.mailbox("node-admin").items if isinstance(i, wire.ConfigChange)]
            assert [i.request_id for i in queued] == [req.id]
            assert req.status == "WAITING_FOR_APPROVAL"

    simulate(main, seed=56)
