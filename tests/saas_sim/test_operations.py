"""Operations through the channel: console pairing of a GCP co-signer, unconfirmed unpairing, SGX
attestation over the wire, and replay of a whole run from its seed."""

from __future__ import annotations

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.public import PrivateKey

from cosigner_ha import wire
from cosigner_ha.env import Environment, simulate
from cosigner_ha.net import LinkSpec, SimNetwork
from cosigner_ha.saas_sim import ApproverBehaviour, Saas, SaasError, Status
from cosigner_ha.wire.sealing import unseal

from .harness import SPEC, ready, running_world
from .protocol_node import Behaviour, ProtocolNode


def test_a_gcp_cosigner_is_managed_through_its_channel() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[]) as w:
            gcp = await w.add_node("gcp", "signer-a", cosigner_type="GCP-CONFSPACE")
            await ready(w)
            req = w.saas.pair_api_key(
                "acme", "gcp", "signer-b", callback={"url": "https://cb:8443"}, requested_by="tywin"
            )
            assert w.saas.request_status(req.id)["status"] == "WAITING_FOR_APPROVAL"
            await env.clock.sleep(60)
            assert w.saas.request_status(req.id)["status"] == "COMPLETED"
            assert [c.request_id for c in gcp.sent("add_user_command")] == [req.id]
            ws = w.saas.workspace("acme")
            assert ws.api_user("signer-b").callback == {"url": "https://cb:8443"}
            assert sorted(gcp.keys) == sorted([ws.api_user("signer-a").id, ws.api_user("signer-b").id])
            # another workspace is refused at the console, before anything reaches the node
            w.saas.create_workspace({**SPEC, "name": "other"})
            with pytest.raises(SaasError, match="serves one workspace only"):
                w.saas.pair_api_key("other", "gcp", "signer-a", requested_by="tywin")
            # the co-signer signs for its newly paired user
            w.saas.publish_policy(
                "acme", {"rules": [{"action": "ALLOW", "designated_signers": ["signer-b"]}]}, approval=False
            )
            tx = await w.settle(w.submit())
            assert tx.status is Status.COMPLETED and tx.signed_api_user == "signer-b"

    simulate(main, seed=61)


def test_an_unpairing_the_node_never_confirms_revokes_its_tokens_after_fifteen_minutes() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a")]) as w:
            await ready(w)
            a = w.nodes["node-a"]
            a.crash()
            req = w.saas.unpair("acme", "signer-a", requested_by="tywin")
            await env.clock.sleep(30)
            assert w.saas.request_status(req.id)["status"] == "APPROVED"
            assert w.saas.cosigner("node-a").pairings == []  # no longer usable for signing at once
            await env.clock.sleep(15 * 60)
            status = w.saas.request_status(req.id)
            assert status["status"] == "COMPLETED" and "did not confirm" in status["detail"]
            assert w.saas.cosigner("node-a").generation == 1

    simulate(main, seed=62)


def test_sgx_attestation_over_the_wire() -> None:
    vendor = Ed25519PrivateKey.from_private_bytes(b"\x11" * 32)
    measurement = b"\x22" * 32

    async def main(env: Environment) -> None:
        net = SimNetwork(env.rng("net"), default_link=LinkSpec(latency=0.01))
        saas = Saas(
            env.child("saas"),
            network=net.host("saas"),
            vendor_key=vendor.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
            expected_measurements=[measurement],
        )
        async with anyio.create_task_group() as tasks:
            address = await tasks.start(saas.run)
            enclave = PrivateKey(b"\x33" * 32)
            stream = await net.host("sgx-1").connect(address)

            async def quote(m: bytes) -> wire.Message:
                report = wire.encode(wire.EnclaveReport(m, "cpu-1", bytes(enclave.public_key)))
                await stream.send(wire.encode(wire.AttestationQuote("sgx-1", report, vendor.sign(report))))
                return wire.decode(await stream.receive())

            good = await quote(measurement)
            assert isinstance(good, wire.AttestationResult)
            assert len(unseal(bytes(enclave), good.wrapped_key)) == 32
            bad = await quote(b"\x23" * 32)
            assert isinstance(bad, wire.Error) and bad.code == "ATTESTATION_FAILED"
            again = await quote(measurement)  # the connection stays open after a refused quote
            assert isinstance(again, wire.AttestationResult)
            assert unseal(bytes(enclave), again.wrapped_key) == unseal(bytes(enclave), good.wrapped_key)
            tasks.cancel_scope.cancel()

    simulate(main, seed=63)


def run_once(seed: int) -> tuple[str, int]:
    out: list[tuple[str, int]] = []

    async def main(env: Environment) -> None:
        behaviours = {"node-a": Behaviour(vanish_after_commit=True, probe_delay=0.0)}
        async with running_world(env, behaviours=behaviours) as w:
            await ready(w)
            txs = [w.submit(amount=n + 1) for n in range(3)]
            txs.append(w.submit(asset="BTC", amount=20))
            for tx in txs:
                await w.settle(tx)
        out.append((env.trace.hash, env.trace.count))

    simulate(main, seed=seed)
    return out[0]


def test_the_same_seed_replays_the_same_trace_and_another_seed_does_not() -> None:
    first = run_once(5)
    assert run_once(5) == first
    assert run_once(6)[0] != first[0]


def test_an_approver_with_jitter_draws_from_the_seeded_stream() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[]) as w:
            w.saas.set_approver("acme", "olenna", ApproverBehaviour(latency=10.0, jitter=5.0))
            node = ProtocolNode(env.child("n"), w.net, host="n", saas=w.saas.address)
            await node.pair(w.saas.issue_pairing_token("acme", "signer-a"))
            (decided,) = w.events("approval_decided")
            assert 10.0 <= decided.t - w.events("approval_requested")[0].t < 15.0

    simulate(main, seed=64)


def test_a_publish_does_not_reset_amount_over_time() -> None:
    """tap-policy.md 2.3: re-publishing (the same policy or another) must not let a second limit's worth
    through; the counted transactions in the window count toward the new rules."""
    limit = {
        "rules": [
            {"action": "BLOCK", "amount": {"min": 10000, "currency": "USD"}, "over": {"window": "24h"}},
            {"action": "ALLOW", "designated_signers": {"groups": ["group-1"]}},
        ]
    }

    async def main(env: Environment) -> None:
        async with running_world(env, policy=limit) as w:
            await ready(w)
            first = [await w.settle(w.submit(amount=1)) for _ in range(3)]  # 9000 USD
            assert [t.status for t in first] == [Status.COMPLETED] * 3
            w.saas.publish_policy("acme", limit, approval=False)  # the same policy again
            assert (await w.settle(w.submit(amount=1))).status is Status.BLOCKED  # 12000 > 10000
            wider = {
                "rules": [
                    {**limit["rules"][0], "amount": {"min": 11000, "currency": "USD"}},
                    limit["rules"][1],
                ]
            }
            w.saas.publish_policy("acme", wider, approval=False)  # another policy
            assert (await w.settle(w.submit(amount=1))).status is Status.BLOCKED  # 9000 + 3000 > 11000
            assert (await w.settle(w.submit(amount="0.5"))).status is Status.COMPLETED  # 10500

    simulate(main, seed=62)
