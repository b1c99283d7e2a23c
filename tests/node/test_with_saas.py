"""The real node against the real SaaS simulator, over the simulated network (skipped until it lands)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha import mpc
from cosigner_ha.cluster.infra import Infrastructure, KeyPolicy
from cosigner_ha.env import Environment, run_simulated
from cosigner_ha.handler.reference import HandlerRules, ReferenceHandler
from cosigner_ha.net import LinkSpec, SimNetwork
from cosigner_ha.node.callback import HandlerDirectory, InProcessHandler
from cosigner_ha.node.enclave import CommunalEnclave, GcpEnclave, SgxEnclave
from cosigner_ha.node.errors import PairingError
from cosigner_ha.node.node import Node, NodeConfig
from cosigner_ha.node.records import CallbackSettings
from tests.node.helpers import rsa_key

saas_sim = pytest.importorskip("cosigner_ha.saas_sim")
if not hasattr(saas_sim, "Saas"):
    pytest.skip("the SaaS simulator has not landed on this branch yet", allow_module_level=True)

SPEC: dict[str, Any] = {
    "name": "acme",
    "env": "mainnet",
    "prices_usd": {"BTC": 60000, "ETH": 3000},
    "vaults": ["0", "hot"],
    "wallets": ["partner-a"],
    "users": [{"name": "olenna", "role": "OWNER"}, {"name": "tywin", "role": "ADMIN"}],
    "api_users": [
        {"name": "ops", "role": "EDITOR"},
        {"name": "signer-a", "role": "SIGNER"},
        {"name": "signer-b", "role": "SIGNER"},
    ],
    "groups": [{"name": "group-1", "members": ["signer-a", "signer-b"]}],
}
POLICY = {"rules": [{"action": "ALLOW", "source": "vault:*", "designated_signers": {"groups": ["group-1"]}}]}


class World:
    def __init__(
        self, env: Environment, net: SimNetwork, infra: Infrastructure, saas: Any, tasks: Any
    ) -> None:
        self.env, self.net, self.infra, self.saas, self.tasks = env, net, infra, saas, tasks
        self.handlers = HandlerDirectory()
        self.nodes: dict[str, Node] = {}

    async def sgx_node(self, name: str, api_user: str, callback: CallbackSettings | None = None) -> Node:
        host = self.infra.host(name, sgx=True)
        backend = SgxEnclave(
            host,
            self.infra.images.image("sgx"),
            trusted_signer=self.infra.images.public_key,
            randbytes=self.env.child(f"enclave/{name}").randbytes,
        )
        node = Node(
            self.env.child(name),
            name=name,
            backend=backend,
            network=self.net.host(name),
            saas=self.saas.address,
            handlers=self.handlers,
            config=NodeConfig(cosigner_id=name),
        )
        self.nodes[name] = node
        self.tasks.start_soon(node.run)
        await node.ready()
        await node.setup(self.saas.issue_pairing_token("acme", api_user), callback)
        return node

    def submit(self, **fields: Any) -> Any:
        defaults = {
            "initiator": "ops",
            "asset": "ETH",
            "amount": 1,
            "source": "vault:hot",
            "destination": "wallet:partner-a",
        }
        return self.saas.submit("acme", **{**defaults, **fields})

    async def settle(self, tx: Any, within: float = 3 * 3600.0) -> Any:
        with anyio.fail_after(within):
            while not tx.terminal:
                await self.env.clock.sleep(0.5)
        return tx


def run_world(scenario: Callable[[World], Awaitable[Any]], seed: int = 3) -> tuple[Any, Environment]:
    env = Environment.simulated(seed)

    async def main(env: Environment) -> Any:
        net = SimNetwork(env.rng("net"), default_link=LinkSpec(latency=0.01, jitter=0.005))
        infra = Infrastructure(env.child("infra").randbytes, env.clock.wall)
        saas = saas_sim.Saas(
            env.child("saas"),
            network=net.host("saas"),
            address="saas:443",
            vendor_key=infra.intel.public_key,
            expected_measurements=[infra.images.image(k).measurement for k in ("sgx", "communal")],
        )
        async with anyio.create_task_group() as tasks:
            await tasks.start(saas.run)
            saas.create_workspace(SPEC)
            for user in ("olenna", "tywin"):
                saas.set_approver("acme", user, saas_sim.ApproverBehaviour(latency=10.0))
            saas.publish_policy("acme", POLICY)
            world = World(env, net, infra, saas, tasks)
            try:
                return await scenario(world)
            finally:
                for node in world.nodes.values():
                    node.shutdown()
                tasks.cancel_scope.cancel()

    return run_simulated(main, env), env


def test_two_sgx_nodes_sign_a_transaction_the_saas_verifies() -> None:
    async def scenario(w: World) -> Any:
        await w.sgx_node("sgx-a", "signer-a")
        await w.sgx_node("sgx-b", "signer-b")
        await w.env.clock.sleep(35)
        return await w.settle(w.submit())

    tx, env = run_world(scenario)
    assert tx.status.value == "COMPLETED", tx
    (signed,) = env.trace.of_kind("signed")
    as_bytes = [
        bytes.fromhex(v) if isinstance(v, str) else v
        for v in (signed.get(k) for k in ("public_key", "message", "signature"))
    ]
    assert mpc.verify(*as_bytes)
    assert env.trace.of_kind("share_released")


def test_a_callback_reject_makes_the_transaction_rejected() -> None:
    async def scenario(w: World) -> Any:
        handler = ReferenceHandler(
            HandlerRules(reject_above_usd=1000), key=cast(rsa.RSAPrivateKey, rsa_key("handler"))
        )
        w.handlers.register("https://risk.acme", InProcessHandler(app=handler.app))
        settings = CallbackSettings(url="https://risk.acme", public_key=handler.public_key)
        await w.sgx_node("sgx-a", "signer-a", settings)
        await w.env.clock.sleep(35)
        return await w.settle(w.submit(amount=2))

    tx, env = run_world(scenario)
    assert tx.status.value == "REJECTED"
    assert any(
        "above the limit of 1000 USD" in (e.get("reason") or "") for e in env.trace.of_kind("callback_result")
    )
    assert not env.trace.of_kind("share_released")


def test_when_the_signing_node_crashes_another_node_signs_and_only_once() -> None:
    async def scenario(w: World) -> tuple[Any, str]:
        await w.sgx_node("sgx-a", "signer-a")
        await w.sgx_node("sgx-b", "signer-b")
        await w.env.clock.sleep(35)
        crashed: list[str] = []

        def crash_after_round_one(event: Any) -> None:
            if event.kind == "commitments_sent" and not crashed:
                crashed.append(event.get("node"))
                w.nodes[event.get("node")].crash("power cut")
                w.net.crash(event.get("node"))

        w.env.trace.subscribe(crash_after_round_one)
        tx = await w.settle(w.submit())
        return tx, crashed[0]

    (tx, first), env = run_world(scenario)
    assert tx.status.value == "COMPLETED"
    (signed,) = env.trace.of_kind("signed")
    assert signed.get("node") != first
    assert [e.get("node") for e in env.trace.of_kind("share_released")] == [signed.get("node")]


def test_a_gcp_node_is_paired_from_deployment_then_commanded_from_the_console() -> None:
    async def scenario(w: World) -> tuple[list[str], Any]:
        w.infra.gcp_kms.create_key(
            "cmk", KeyPolicy(roles=("sa",), image_digest=w.infra.images.image("gcp").digest)
        )
        bucket = w.infra.bucket("gcs", roles=("sa",))
        host = w.infra.host("gcp-1", confidential_space=True, role="sa")
        backend = GcpEnclave(
            host,
            w.infra.images.image("gcp"),
            kms=w.infra.gcp_kms,
            key_id="cmk",
            bucket=bucket,
            randbytes=w.env.child("enclave/gcp-1").randbytes,
        )
        node = Node(
            w.env.child("gcp-1"),
            name="gcp-1",
            backend=backend,
            network=w.net.host("gcp-1"),
            saas=w.saas.address,
            config=NodeConfig(cosigner_id="gcp-1"),
            initial_pairing_token=w.saas.issue_pairing_token("acme", "signer-a"),
        )
        w.nodes["gcp-1"] = node
        w.tasks.start_soon(node.run)
        while len(node._users()) < 1:
            await w.env.clock.sleep(1)
        w.saas.pair_api_key("acme", "gcp-1", "signer-b", requested_by="olenna")
        while len(node._users()) < 2:
            await w.env.clock.sleep(1)
        await w.env.clock.sleep(35)
        tx = await w.settle(w.submit())
        return [u.api_user for u in node._users()], tx

    (users, tx), env = run_world(scenario)
    assert len(users) == 2
    assert tx.status.value == "COMPLETED"
    assert env.trace.of_kind("command_done")[0].get("ok") is True


def test_the_communal_co_signer_pairs_testnet_workspaces_only() -> None:
    async def scenario(w: World) -> tuple[str, list[str]]:
        w.saas.create_workspace({**SPEC, "name": "sandbox", "env": "testnet"})
        host = w.infra.host("communal", sgx=True)
        backend = CommunalEnclave(
            host,
            w.infra.images.image("communal"),
            trusted_signer=w.infra.images.public_key,
            randbytes=w.env.child("enclave/communal").randbytes,
        )
        node = Node(
            w.env.child("communal"),
            name="communal",
            backend=backend,
            network=w.net.host("communal"),
            saas=w.saas.address,
            config=NodeConfig(cosigner_id="communal"),
        )
        w.nodes["communal"] = node
        w.tasks.start_soon(node.run)
        await node.ready()
        await node.setup(w.saas.issue_pairing_token("sandbox", "signer-a"))
        with pytest.raises(PairingError) as caught:
            await node.add_user(w.saas.issue_pairing_token("acme", "signer-a"))
        return caught.value.code, [u.workspace_id for u in node.list_users()]

    (code, workspaces), _ = run_world(scenario)
    assert code == "COMMUNAL_NOT_ALLOWED"
    assert len(workspaces) == 1
