"""The SaaS driven through its gateway by protocol-speaking test nodes over the simulated network."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha.env import Environment, simulate
from cosigner_ha.saas_sim import Status

from .harness import running_world


def test_a_transaction_is_signed_by_node_and_cloud_cosigners() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            tx = await w.settle(w.submit())
            assert tx.status is Status.COMPLETED, tx.history
            (signed,) = w.events("signed", tx=tx.id)
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(signed.get("public_key")))
            key.verify(bytes.fromhex(signed.get("signature")), bytes.fromhex(signed.get("message")))
            assert signed.get("scheme") == "frost-ed25519"
            assert bytes.fromhex(signed.get("public_key")) == w.saas.workspace("acme").public_key

    simulate(main, seed=1)
