"""A SaaS with a state store (`saas serve --state`): stopped dead at any point and started again on the same
file, it knows every workspace, pairing, cloud share, transaction and request it knew, and carries on
what was under way without signing anything twice."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha.env import Environment, simulate
from cosigner_ha.net import LinkSpec, SimNetwork
from cosigner_ha.saas_sim import ApproverBehaviour, Saas, Status
from cosigner_ha.saas_sim.state_store import FILE_NAME, StateStore, StateStoreError

from .harness import POLICY, SPEC
from .protocol_node import Behaviour, ProtocolNode


@contextlib.asynccontextmanager
async def durable_saas(
    env: Environment, net: SimNetwork, path: Path, name: str
) -> AsyncIterator[tuple[Saas, anyio.CancelScope]]:
    """A durable SaaS on `saas:443`, in a scope the test cancels to kill it on the spot (no clean-up)."""
    saas = Saas(env.child(name), network=net.host("saas"), address="saas:443", store=StateStore(path))
    async with anyio.create_task_group() as tasks:
        scope = anyio.CancelScope()

        async def serve(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            with scope:
                await saas.run(task_status=task_status)

        await tasks.start(serve)
        yield saas, scope
        scope.cancel()


def kill(saas: Saas, scope: anyio.CancelScope) -> None:
    """As SIGKILL would: nothing the SaaS does from now on (its clean-up on cancellation) reaches the file."""
    saas.ctx.before_record = lambda: None
    scope.cancel()


async def settle(env: Environment, saas: Saas, tx_id: str, within: float = 3600) -> Any:
    with anyio.fail_after(within):
        while not saas.transaction(tx_id).terminal:
            await env.clock.sleep(0.5)
    return saas.transaction(tx_id)


def verify(saas: Saas, tx_id: str) -> None:
    tx = saas.transaction(tx_id)
    key = saas.workspace("acme").public_key
    assert tx.signature is not None and key is not None
    Ed25519PublicKey.from_public_bytes(key).verify(tx.signature, tx.message)


def rows_without_clock(saas: Saas) -> dict[str, Any]:
    assert saas.durable is not None
    rows = {k: json.loads(v) for k, v in saas.durable.rows().items()}
    for field in ("now", "wall"):
        rows["meta"].pop(field)
    return rows


def test_the_saved_state_is_what_a_new_saas_restores(tmp_path: Path) -> None:
    """Every row survives the round trip: a SaaS built on the file saves exactly what the first had."""
    path = tmp_path / FILE_NAME

    async def main(env: Environment) -> None:
        net = SimNetwork(env.rng("net"), default_link=LinkSpec(latency=0.01))
        async with anyio.create_task_group() as tasks:
            async with durable_saas(env, net, path, "saas") as (saas, scope):
                saas.create_workspace(SPEC)
                saas.publish_policy("acme", POLICY)
                for user in ("olenna", "tywin", "varys"):
                    saas.set_approver("acme", user, ApproverBehaviour(latency=5.0))
                for host, user in (("node-a", "signer-a"), ("node-b", "signer-b")):
                    node = ProtocolNode(env.child(host), net, host=host, saas="saas:443")
                    await node.pair(saas.issue_pairing_token("acme", user))
                    await tasks.start(node.run)
                saas.set_standby("node-b")
                await env.clock.sleep(1)
                tx = saas.submit(
                    "acme",
                    initiator="ops",
                    asset="ETH",
                    amount=1,
                    source="vault:hot",
                    destination="wallet:partner-a",
                )
                await settle(env, saas, tx.id)
                saas.add_whitelisted_wallet("acme", "cold-2")
                await env.clock.sleep(30)
                before = rows_without_clock(saas)
                scope.cancel()
            again = Saas(
                env.child("saas-2"), network=net.host("saas"), address="saas:443", store=StateStore(path)
            )
            assert rows_without_clock(again) == before
            assert again.transaction(tx.id).status is Status.COMPLETED
            verify(again, tx.id)
            assert [c["id"] for c in again.cosigners()] == ["node-a", "node-b"]
            assert again.ctx.is_standby("node-b")
            assert "cold-2" in again.workspace("acme").wallets
            tasks.cancel_scope.cancel()

    simulate(main, seed=3)


@pytest.mark.parametrize("kill_at", ["PENDING_AUTHORIZATION", "PENDING_SIGNATURE"])
def test_a_saas_killed_mid_transaction_carries_on_after_a_restart(tmp_path: Path, kill_at: str) -> None:
    path = tmp_path / FILE_NAME

    async def main(env: Environment) -> None:
        net = SimNetwork(env.rng("net"), default_link=LinkSpec(latency=0.01))
        slow = Behaviour(callback_delay=4.0)  # a signing attempt stays open a while
        async with anyio.create_task_group() as tasks:
            async with durable_saas(env, net, path, "saas") as (saas, scope):
                saas.create_workspace(SPEC)
                saas.publish_policy("acme", POLICY)
                for user in ("olenna", "tywin", "varys"):
                    saas.set_approver(
                        "acme", user, ApproverBehaviour(latency=3.0 if user != "varys" else 20.0)
                    )
                for host, user in (("node-a", "signer-a"), ("node-b", "signer-b")):
                    node = ProtocolNode(env.child(host), net, host=host, saas="saas:443", behaviour=slow)
                    await node.pair(saas.issue_pairing_token("acme", user))
                    await tasks.start(node.run)
                await env.clock.sleep(1)
                first = saas.submit(
                    "acme",
                    initiator="ops",
                    asset="ETH",
                    amount=1,
                    source="vault:hot",
                    destination="wallet:partner-a",
                )
                await settle(env, saas, first.id)
                signature = first.signature
                # 1000 ETH is above the 2-TIER rule's USD 1,000,000: tywin answers after 3 s, varys after 20 s
                big = saas.submit(
                    "acme",
                    initiator="ops",
                    asset="ETH",
                    amount=1000,
                    source="vault:hot",
                    destination="wallet:partner-a",
                )
                with anyio.fail_after(60):
                    while big.status.value != kill_at or (
                        kill_at == "PENDING_AUTHORIZATION" and not big.approvals
                    ):
                        await env.clock.sleep(0.1)
                if kill_at == "PENDING_SIGNATURE":
                    while not big.attempts:
                        await env.clock.sleep(0.1)
                kill(saas, scope)
            await env.clock.sleep(5)
            async with durable_saas(env, net, path, "saas-2") as (again, _):
                tx = await settle(env, again, big.id)
                assert tx.status is Status.COMPLETED, tx.history
                verify(again, big.id)
                assert again.transaction(first.id).signature == signature
                assert [name for name, _ in tx.approvals] == ["tywin", "varys"]  # tywin's answer stood
                if kill_at == "PENDING_SIGNATURE":
                    assert tx.attempts[0].outcome == "abandoned"
                    assert tx.attempts[0].reason == "the SaaS restarted during the attempt"
                    assert tx.attempts[-1].outcome == "completed"
                signed = [e for e in env.trace.of_kind("signed") if e.get("tx") == big.id]
                assert len(signed) == 1
                nonces = [e.get("nonce") for e in env.trace.of_kind("nonce_used")]
                assert len(nonces) == len(set(nonces))
                (restored,) = env.trace.of_kind("saas_restored")
                assert restored.get("unfinished") == 1
                # ids go on after the ones handed out before the restart
                third = again.submit(
                    "acme",
                    initiator="ops",
                    asset="ETH",
                    amount=1,
                    source="vault:hot",
                    destination="wallet:partner-a",
                )
                assert third.id == "tx-3"
            tasks.cancel_scope.cancel()

    simulate(main, seed=5)


def test_a_state_file_that_is_not_one_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / FILE_NAME
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateStoreError, match=str(bad)):
        StateStore(bad).load()
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE rows (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO rows VALUES ('meta', '{\"format\": 99}')")
    db.commit()
    db.close()

    async def main(env: Environment) -> None:
        net = SimNetwork(env.rng("net"), default_link=LinkSpec())
        with pytest.raises(StateStoreError, match=r"other.sqlite: the saved SaaS state cannot be restored"):
            Saas(env.child("saas"), network=net.host("saas"), store=StateStore(other))

    simulate(main, seed=1)


def test_a_save_writes_only_what_changed_in_one_transaction(tmp_path: Path) -> None:
    store = StateStore(tmp_path / FILE_NAME)
    assert store.save({"a": "1", "b": "2"}) == 2
    assert store.save({"a": "1", "b": "2"}) == 0
    assert store.save({"a": "1", "c": "3"}) == 2  # c written, b removed
    assert StateStore(tmp_path / FILE_NAME).load() == {"a": 1, "c": 3}
