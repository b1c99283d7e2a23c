"""Under generated node behaviours (crashes, cut-offs, rejections, silence, corrupt shares, slowness),
every transaction ends, at most one signature is released per transaction, only COMPLETED transactions
have one, it verifies, and no cloud nonce is used twice."""

from __future__ import annotations

from collections import Counter

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosigner_ha.env import Environment, simulate
from cosigner_ha.saas_sim import SaasConfig, Status

from .harness import ready, running_world
from .protocol_node import Behaviour

behaviours = st.builds(
    Behaviour,
    probe=st.sampled_from(["yes", "yes", "yes", "no", "silent"]),
    probe_delay=st.floats(0.0, 4.0),
    callback=st.sampled_from(["APPROVE", "APPROVE", "APPROVE", "REJECT", "FAILED", "SILENT"]),
    callback_delay=st.floats(0.0, 100.0),
    vanish_after_commit=st.booleans(),
    cut_off_after_commit=st.booleans(),
    corrupt_share=st.booleans(),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.tuples(behaviours, behaviours, behaviours),
    st.integers(1, 4),
    st.sampled_from(["first-responder", "listed-order"]),
    st.sampled_from(["fail", "next-node"]),
    st.integers(0, 2**32),
)
def test_safety_and_liveness_whatever_the_nodes_do(
    three: tuple[Behaviour, Behaviour, Behaviour], count: int, selection: str, on_failure: str, seed: int
) -> None:
    async def main(env: Environment) -> None:
        config = SaasConfig(
            selection=selection,  # type: ignore[arg-type]
            callback_failure=on_failure,  # type: ignore[arg-type]
            signing_timeout=900.0,
            authorization_timeout=900.0,
        )
        named = dict(zip(("node-a", "node-b", "node-c"), three, strict=True))
        async with running_world(env, config=config, behaviours=named) as w:
            await ready(w)
            txs = [w.submit(amount=i + 1) for i in range(count)]
            for tx in txs:
                await w.settle(tx, within=2000.0)
            signed = w.events("signed")
            per_tx = Counter(e.get("tx") for e in signed)
            assert all(n == 1 for n in per_tx.values()), per_tx
            for tx in txs:
                assert tx.terminal
                assert (tx.signature is not None) == (tx.status is Status.COMPLETED) == (tx.id in per_tx)
                if tx.signature is not None:
                    key = w.saas.workspace("acme").public_key or b""
                    Ed25519PublicKey.from_public_bytes(key).verify(tx.signature, tx.message)
                if tx.status is Status.REJECTED:  # a REJECT is final: nobody was tried after it
                    assert tx.attempts[-1].outcome == "rejected"
            nonces = [e.get("nonce") for e in w.events("nonce_used")]
            assert len(nonces) == len(set(nonces))
            assert w.events("internal_error") == []
            assert all(cloud.open_sessions == 0 for cloud in w.saas.ctx.clouds)

    simulate(main, seed=seed)
