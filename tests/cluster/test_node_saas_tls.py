"""The real `Node` against the real `Saas` over TCP with TLS: each side had only met a double before."""

from __future__ import annotations

import argparse
from pathlib import Path

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha.cluster.commands_node import node_command
from cosigner_ha.cluster.node_hardware import Hardware
from cosigner_ha.env import Environment
from cosigner_ha.net import TcpNetwork
from cosigner_ha.node.node import Node, NodeConfig
from cosigner_ha.saas_sim import ApproverBehaviour, Saas, SaasConfig, Status
from tests.net.conftest import tls_contexts
from tests.saas_sim.harness import POLICY, SPEC


def _parse(*argv: str) -> argparse.Namespace:
    from cosigner_ha.cli import build_parser

    return build_parser().parse_args(list(argv))


@pytest.mark.timeout(90)
async def test_a_real_node_pairs_and_signs_with_the_real_saas_over_tls(tmp_path: Path) -> None:
    await _pair_and_sign(tmp_path)


@pytest.mark.timeout(90)
def test_the_same_on_asyncio(tmp_path: Path) -> None:
    anyio.run(_pair_and_sign, tmp_path, backend="asyncio")


async def _pair_and_sign(tmp_path: Path) -> None:
    home = tmp_path / "node"
    assert (
        await node_command(
            _parse("node", "hardware", "--home", str(home), "--host", "dc1"), out=lambda _: None
        )
        == 0
    )
    hardware = Hardware.load(home)
    client_tls, server_tls = tls_contexts(tmp_path)
    env = Environment.runtime()
    saas = Saas(
        env.child("saas"),
        network=TcpNetwork(ssl_context_server=server_tls),
        address="127.0.0.1:0",
        config=SaasConfig(long_poll_interval=1.0, probe_window=0.5, reprobe_interval=0.2),
        vendor_key=hardware.vendor.public_key,
        expected_measurements=(hardware.image.measurement,),
    )
    node_network = TcpNetwork(ssl_context_client=client_tls, tls_hostname="localhost")
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            address = await tasks.start(saas.run)
            saas.create_workspace(SPEC)
            saas.set_approver("acme", "olenna", ApproverBehaviour(latency=0.05))
            saas.publish_policy("acme", POLICY)
            token = saas.issue_pairing_token("acme", "signer-a")
            common = ["--home", str(home), "--saas", address]
            assert (
                await node_command(_parse("node", "setup", *common, "--token", token), network=node_network)
                == 0
            )
            node = Node(
                env.child("node"),
                name=hardware.name,
                backend=hardware.backend(),
                network=node_network,
                saas=address,
                config=NodeConfig(cosigner_id=hardware.name, boot_retry=None),
            )
            tasks.start_soon(node.run)
            tx = saas.submit(
                "acme", initiator="ops", asset="ETH", amount=2, source="vault:hot", destination="wallet:cold"
            )
            while not tx.terminal:
                await anyio.sleep(0.05)
            assert tx.status is Status.COMPLETED, tx.status
            assert tx.signed_by == hardware.name and tx.signature is not None
            Ed25519PublicKey.from_public_bytes(saas.workspace("acme").public_key or b"").verify(
                tx.signature, tx.message
            )
            node.shutdown()
            tasks.cancel_scope.cancel()
