"""The same SaaS over real TCP in real time: the gateway does not care what carries the frames."""

from __future__ import annotations

import anyio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha import wire
from cosigner_ha.env import Environment
from cosigner_ha.net import TcpNetwork
from cosigner_ha.saas_sim import ApproverBehaviour, Saas, SaasConfig, Status

from .harness import POLICY, SPEC
from .protocol_node import ProtocolNode

FAST = SaasConfig(long_poll_interval=1.0, probe_window=0.5, reprobe_interval=0.2)


async def test_pairing_and_signing_over_tcp() -> None:
    env = Environment.runtime()
    network = TcpNetwork()
    saas = Saas(env.child("saas"), network=network, address="127.0.0.1:0", config=FAST)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tasks:
            address = await tasks.start(saas.run)
            saas.create_workspace(SPEC)
            saas.set_approver("acme", "olenna", ApproverBehaviour(latency=0.05))
            saas.publish_policy("acme", POLICY)
            node = ProtocolNode(env.child("tcp-node"), network, host="tcp-node", saas=address)
            await node.pair(saas.issue_pairing_token("acme", "signer-a"))
            await tasks.start(node.run)
            # a garbage frame on another connection is refused without disturbing the node
            stranger = await network.connect(address)
            await stranger.send(b"\x00garbage")
            refused = wire.decode(await stranger.receive())
            assert isinstance(refused, wire.Error) and refused.code == "BAD_FRAME"
            tx = saas.submit(
                "acme", initiator="ops", asset="ETH", amount=2, source="vault:hot", destination="wallet:cold"
            )
            while not tx.terminal:
                await anyio.sleep(0.05)
            assert tx.status is Status.COMPLETED and tx.signed_by == "tcp-node"
            assert tx.signature is not None
            Ed25519PublicKey.from_public_bytes(saas.workspace("acme").public_key or b"").verify(
                tx.signature, tx.message
            )
            tasks.cancel_scope.cancel()
