"""The node end to end against the protocol-level SaaS double over the simulated network."""

from __future__ import annotations

import pytest

from cosigner_ha import mpc
from cosigner_ha.node.errors import AdminError, PairingError
from tests.node.harness import Estate, simulate_estate


async def setup_sgx(e: Estate, name: str = "n1", user: str = "signer-a") -> None:
    node = await e.node(name)
    await node.setup(e.saas.pairing_token(user))


def test_setup_then_sign_end_to_end() -> None:
    async def scenario(e: Estate) -> tuple[object, ...]:
        await setup_sgx(e)
        node = e.nodes["n1"]
        outcome = await e.saas.sign("n1", "signer-a", b"pay 1 ETH to bob")
        users = node.list_users()
        return outcome, users, node.db.ledger.consumed if node.db else ()

    (outcome, users, consumed), env = simulate_estate(scenario)
    assert outcome.status == "COMPLETED", outcome
    public = users[0].public_key
    assert mpc.verify(bytes.fromhex(public), b"pay 1 ETH to bob", outcome.signature)
    assert len(consumed) == 1
    kinds = [e.kind for e in env.trace.events if e.get("node") == "n1"]
    assert kinds.index("commitments_sent") < kinds.index("share_released")


def test_probes_answer_yes_only_when_the_node_can_sign() -> None:
    async def scenario(e: Estate) -> list[object]:
        await setup_sgx(e)
        node = e.nodes["n1"]
        answers: list[object] = [await e.saas.probe("n1", "signer-a", "tx-1"), await e.saas.probe("n1", "stranger", "tx-2")]
        node._set_state("draining", "test")  # stop() would wait for sessions; draining is what matters here
        answers.append(await e.saas.probe("n1", "signer-a", "tx-3"))
        node._set_state("running")
        node.crash()
        answers.append(await e.saas.probe("n1", "signer-a", "tx-4"))
        return answers

    answers, env = simulate_estate(scenario)
    assert answers == [True, False, False, None]
    replies = env.trace.of_kind("probe_reply")
    assert [r.get("available") for r in replies] == [True, False, False]
    assert "not paired" in replies[1].get("reason") and "draining" in replies[2].get("reason")


def test_administration_rules() -> None:
    async def scenario(e: Estate) -> list[str]:
        node = await e.node("n1")
        errors = []
        with pytest.raises(AdminError) as caught:
            await node.add_user(e.saas.pairing_token("signer-b"))
        errors.append(str(caught.value))
        with pytest.raises(AdminError) as caught:
            await node.callback_update("https://x.example")
        errors.append(str(caught.value))
        await node.setup(e.saas.pairing_token("signer-a"))
        with pytest.raises(AdminError) as caught:
            await node.setup(e.saas.pairing_token("signer-b"))
        errors.append(str(caught.value))
        await node.add_user(e.saas.pairing_token("signer-b", ws="ws-2"))  # another workspace is fine on SGX
        errors.append(",".join(u.api_user for u in node.list_users()))
        assert node.print_public_key().startswith("-----BEGIN PUBLIC KEY-----")
        with pytest.raises(AdminError) as caught:
            await node.callback_update("https://x.example")
        errors.append(str(caught.value))
        return errors

    errors, _ = simulate_estate(scenario)
    assert "no API user is paired yet; run setup" in errors[0]
    assert "name the API user (paired: none)" in errors[1]
    assert "set up already (1 API user(s)); use add-user" in errors[2]
    assert errors[3] == "signer-a,signer-b"
    assert "name the API user (paired: signer-a, signer-b)" in errors[4]


@pytest.mark.parametrize("case", ["expired", "replayed", "refused", "garbage", "again"])
def test_bad_pairing_tokens_and_refusals_are_clear(case: str) -> None:
    async def scenario(e: Estate) -> tuple[PairingError, object]:
        node = await e.node("n1")
        if case == "expired":
            token = e.saas.pairing_token("signer-a", ttl=60)
            await e.env.clock.sleep(61)
        elif case == "replayed":
            token = e.saas.pairing_token("signer-a")
            await node.setup(token)
            other = await e.node("n2")
            node = other
        elif case == "refused":
            e.saas.refuse_pairing = True
            token = e.saas.pairing_token("signer-a")
        elif case == "again":
            await node.setup(e.saas.pairing_token("signer-a"))
            token = e.saas.pairing_token("signer-a")
        else:
            token = "not-a-jwt"
        with pytest.raises(PairingError) as caught:
            await (node.add_user(token) if case == "again" else node.setup(token))
        return caught.value, node.db.secrets.pending if node.db and node.db.secrets else ()

    (error, pending), _ = simulate_estate(scenario)
    expected = {
        "expired": ("TOKEN_EXPIRED", "expired at 2026-01-01T00:01:00Z"),
        "replayed": ("TOKEN_REPLAYED", "already used"),
        "refused": ("PAIRING_REJECTED", "owner refused"),
        "garbage": ("TOKEN_MALFORMED", "not a JWT"),
        "again": ("ALREADY_PAIRED", "signer-a is already paired"),
    }[case]
    assert error.code == expected[0] and expected[1] in str(error)
    assert pending == ()  # nothing half-written


def test_signing_is_traced_and_the_nonce_is_persisted_before_the_share_leaves() -> None:
    async def scenario(e: Estate) -> list[bytes]:
        await setup_sgx(e)
        node = e.nodes["n1"]
        persisted: list[bytes] = []
        original = node._persist_nonce

        def spy(nonce_id: bytes) -> None:
            original(nonce_id)
            persisted.append(nonce_id)
            assert not [r for r in e.saas.inbox if type(r).__name__ == "SignatureShare"]

        node._persist_nonce = spy  # type: ignore[method-assign]
        await e.saas.sign("n1", "signer-a", b"m")
        return persisted

    persisted, env = simulate_estate(scenario)
    assert [bytes.fromhex(e.get("nonce_id")) for e in env.trace.of_kind("share_released")] == persisted
