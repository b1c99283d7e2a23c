"""A running SaaS on a simulated network with protocol-speaking test nodes, for end-to-end tests."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import anyio
import anyio.abc

from cosigner_ha.env import Environment, Event
from cosigner_ha.net import LinkSpec, SimNetwork
from cosigner_ha.saas_sim import ApproverBehaviour, Saas, SaasConfig, Transaction

from .protocol_node import Behaviour, ProtocolNode

SPEC: dict[str, Any] = {
    "name": "acme",
    "env": "mainnet",
    "prices_usd": {"BTC": 60000, "ETH": 3000, "USDC": 1},
    "vaults": ["0", "hot", "treasury"],
    "exchanges": ["exch-main"],
    "fiat_accounts": ["bank-usd"],
    "wallets": ["cold", "partner-a"],
    "users": [
        {"name": "olenna", "role": "OWNER"},
        {"name": "tywin", "role": "ADMIN"},
        {"name": "varys", "role": "APPROVER"},
        {"name": "sansa", "role": "VIEWER"},
    ],
    "api_users": [
        {"name": "ops", "role": "EDITOR"},
        {"name": "signer-a", "role": "SIGNER"},
        {"name": "signer-b", "role": "SIGNER"},
        {"name": "signer-c", "role": "SIGNER"},
        {"name": "admin-bot", "role": "ADMIN"},
    ],
    "groups": [{"name": "group-1", "members": ["signer-a", "signer-b", "signer-c"]}],
}

POLICY: dict[str, Any] = {
    "rules": [
        {"action": "BLOCK", "destination_address": "one-time"},
        {
            "action": "2-TIER",
            "source": "vault:*",
            "amount": {"min": 1_000_000, "currency": "USD"},
            "approvers": {"groups": [{"users": ["tywin", "varys"], "threshold": 2}]},
            "designated_signers": {"groups": ["group-1"]},
        },
        {"action": "ALLOW", "source": "vault:*", "designated_signers": {"groups": ["group-1"]}},
        {
            "action": "ALLOW",
            "source": ["exchange:*", "fiat:*"],
            "designated_signers": {"groups": ["group-1"]},
        },
    ]
}

DEFAULT_NODES = (("node-a", "signer-a"), ("node-b", "signer-b"), ("node-c", "signer-c"))


@dataclasses.dataclass
class World:
    env: Environment
    net: SimNetwork
    saas: Saas
    nodes: dict[str, ProtocolNode]
    tasks: anyio.abc.TaskGroup

    def events(self, kind: str, **match: Any) -> list[Event]:
        return [e for e in self.env.trace.of_kind(kind) if all(e.get(k) == v for k, v in match.items())]

    def submit(self, **fields: Any) -> Transaction:
        defaults: dict[str, Any] = {
            "initiator": "ops",
            "asset": "ETH",
            "amount": 1,
            "source": "vault:hot",
            "destination": "wallet:partner-a",
        }
        return self.saas.submit("acme", **{**defaults, **fields})

    async def settle(self, tx: Transaction, *, within: float = 4 * 3600.0) -> Transaction:
        with anyio.fail_after(within):
            while not tx.terminal:
                await self.env.clock.sleep(0.5)
        return tx

    async def add_node(
        self, name: str, api_user: str, behaviour: Behaviour | None = None, *, cosigner_type: str = "SGX"
    ) -> ProtocolNode:
        node = ProtocolNode(
            self.env.child(name),
            self.net,
            host=name,
            saas=self.saas.address,
            behaviour=behaviour,
            cosigner_type=cosigner_type,
        )
        await node.pair(self.saas.issue_pairing_token("acme", api_user))
        await self.tasks.start(node.run)
        self.nodes[name] = node
        return node


@contextlib.asynccontextmanager
async def running_world(
    env: Environment,
    *,
    config: SaasConfig | None = None,
    spec: Mapping[str, Any] = SPEC,
    policy: Mapping[str, Any] | None = POLICY,
    nodes: Sequence[tuple[str, str]] = DEFAULT_NODES,
    behaviours: Mapping[str, Behaviour] | None = None,
    standby: Sequence[str] = (),
    link: LinkSpec | None = None,
) -> AsyncIterator[World]:
    net = SimNetwork(env.rng("net"), default_link=link or LinkSpec(latency=0.01, jitter=0.01))
    saas = Saas(env.child("saas"), network=net.host("saas"), address="saas:443", config=config)
    async with anyio.create_task_group() as tasks:
        await tasks.start(saas.run)
        saas.create_workspace(spec)
        for user in ("olenna", "tywin", "varys"):
            saas.set_approver("acme", user, ApproverBehaviour(latency=20.0))
        if policy is not None:
            saas.publish_policy("acme", policy)
        world = World(env, net, saas, {}, tasks)
        for name in standby:
            saas.set_standby(name)
        for name, api_user in nodes:
            await world.add_node(name, api_user, (behaviours or {}).get(name))
        yield world
        tasks.cancel_scope.cancel()


async def ready(world: World) -> None:
    """Until every node has polled (is online), so that probes reach all of them."""
    with anyio.fail_after(120):
        while not all(c["online"] for c in world.saas.cosigners()):
            await world.env.clock.sleep(0.1)
