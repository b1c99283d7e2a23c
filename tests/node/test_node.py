"""The node end to end against the protocol-level SaaS double over the simulated network."""

from __future__ import annotations

from typing import cast

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha import mpc, wire
from cosigner_ha.handler.reference import HandlerRules, ReferenceHandler
from cosigner_ha.node.callback import CallbackPolicy, InProcessHandler
from cosigner_ha.node.capacity import SigningCapacity
from cosigner_ha.node.errors import AdminError, PairingError
from cosigner_ha.node.node import NodeConfig
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import load_public_key_pem
from tests.node.harness import Estate, simulate_estate
from tests.node.helpers import rsa_key


async def setup_sgx(e: Estate, name: str = "n1", user: str = "signer-a") -> None:
    node = await e.node(name)
    await node.setup(e.saas.pairing_token(user))


def test_setup_then_sign_end_to_end() -> None:
    async def scenario(e: Estate) -> tuple[object, ...]:
        await setup_sgx(e)
        node = e.nodes["n1"]
        outcome = await e.saas.sign("n1", "signer-a", b"pay 1 ETH to bob")
        users = node.list_users()
        return outcome, users, node.db.consumed_ids() if node.db else ()

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
        answers: list[object] = [
            await e.saas.probe("n1", "signer-a", "tx-1"),
            await e.saas.probe("n1", "stranger", "tx-2"),
        ]
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


def handler_rig(e: Estate, rules: HandlerRules, url: str = "https://risk.example") -> ReferenceHandler:
    handler = ReferenceHandler(rules, key=cast(rsa.RSAPrivateKey, rsa_key("handler")))
    e.handlers.register(url, InProcessHandler(app=handler.app))
    return handler


@pytest.mark.parametrize(
    ("rules", "status", "words"),
    [
        (HandlerRules(), "COMPLETED", ""),
        (HandlerRules(reject_above_usd=1000), "REJECTED", "above the limit of 1000 USD"),
        (HandlerRules(fault="timeout"), "FAILED", "TIMEOUT: the handler did not answer within 30 s"),
        (HandlerRules(fault="down"), "FAILED", "HTTP_STATUS"),
        (HandlerRules(retry_first=1), "COMPLETED", ""),
    ],
)
def test_the_callback_handler_decides(rules: HandlerRules, status: str, words: str) -> None:
    async def scenario(e: Estate) -> tuple[object, ReferenceHandler]:
        handler = handler_rig(e, rules)
        node = await e.node(
            "n1", config=NodeConfig(cosigner_id="n1", callback=CallbackPolicy(retry_interval=10))
        )
        handler.trust(node.callback_public_key)
        await node.setup(
            e.saas.pairing_token("signer-a"),
            CallbackSettings(url="https://risk.example", public_key=handler.public_key),
        )
        return await e.saas.sign("n1", "signer-a", b"m", tx="tx-7"), handler

    (outcome, handler), env = simulate_estate(scenario)
    assert outcome.status == status and words in outcome.detail
    if handler.seen:
        path, body = handler.seen[0]
        assert path == "/v2/tx_sign_request"
        assert body["txId"] == "tx-7" and body["requestId"] == "tx-7" and body["signerId"] == "signer-a"
    if status != "COMPLETED":
        assert not env.trace.of_kind("commitments_sent")  # no nonce drawn without an APPROVE


def test_an_idle_node_answers_probes_in_its_next_poll_and_a_busy_one_late_on_its_own() -> None:
    async def scenario(e: Estate) -> tuple[list[type], float, list[type]]:
        node = await e.node("n1", config=NodeConfig(cosigner_id="n1", signing=SigningCapacity(1, 2.0)))
        await node.setup(e.saas.pairing_token("signer-a"))

        def carriers(probe_id: str) -> list[type]:
            return [
                type(r)
                for r in e.saas.inbox
                if (isinstance(r, wire.ProbeAnswer) and r.probe_id == probe_id)
                or (isinstance(r, wire.Poll) and any(a.probe_id == probe_id for a in r.answers))
            ]

        assert await e.saas.probe("n1", "signer-a", "tx-1")
        idle = carriers(
            next(r for r in e.saas.inbox if isinstance(r, wire.Poll) and r.answers).answers[0].probe_id
        )
        e.tasks.start_soon(e.saas.sign, "n1", "signer-a", b"m")
        await e.env.clock.sleep(0.5)  # round one holds the enclave for 2 s
        start = e.env.clock.now()
        assert await e.saas.probe("n1", "signer-a", "tx-2")
        late = e.env.clock.now() - start
        (answer,) = [r for r in e.saas.inbox if isinstance(r, wire.ProbeAnswer)]
        return idle, late, carriers(answer.probe_id)

    (idle, late, busy), _ = simulate_estate(scenario)
    assert idle == [wire.Poll], "an idle node's answer rides on its next poll"
    assert busy == [wire.ProbeAnswer] and late >= 1.0, "a busy one answers after its backlog, on its own"


def test_a_signing_package_for_another_message_gets_no_share() -> None:
    async def scenario(e: Estate) -> object:
        await setup_sgx(e)
        e.saas.attempt_timeout = 20
        e.saas.tamper_package = lambda p: mpc.SigningPackage(b"something else", p.commitments)
        return await e.saas.sign("n1", "signer-a", b"approved message")

    outcome, env = simulate_estate(scenario)
    assert outcome.status == "TIMEOUT"
    assert not env.trace.of_kind("share_released")
    (failure,) = env.trace.of_kind("work_failed")
    assert "not the one the callback handler approved" in failure.get("reason")


def test_a_crash_between_the_rounds_loses_the_nonces_and_a_new_session_signs() -> None:
    async def scenario(e: Estate) -> tuple[object, object]:
        await setup_sgx(e)
        node = e.nodes["n1"]
        e.saas.attempt_timeout = 20

        async def crash_and_come_back() -> None:
            node.crash("test crash")
            node.start()
            await node.ready()

        e.saas.before_round2 = crash_and_come_back
        first = await e.saas.sign("n1", "signer-a", b"m", tx="tx-1")
        e.saas.before_round2 = None
        second = await e.saas.sign("n1", "signer-a", b"m", tx="tx-2")
        return first, second

    (first, second), env = simulate_estate(scenario)
    assert first.status == "TIMEOUT" and second.status == "COMPLETED"
    # round two answers the approval on the connection that died with the node: the restarted node
    # never sees it, and the one share released is the second session's
    (released,) = env.trace.of_kind("share_released")
    (_, committed) = env.trace.of_kind("commitments_sent")
    assert released.get("session") == committed.get("session")


def test_round_two_after_an_abort_gets_no_share() -> None:
    async def scenario(e: Estate) -> object:
        await setup_sgx(e)
        e.saas.attempt_timeout = 20

        async def abort_first() -> None:
            (request,) = [r for r in e.saas.inbox if isinstance(r, wire.CallbackResult)]
            e.saas.put("n1", wire.SignAbort(request.session_id, "test abort"))
            await e.env.clock.sleep(5)  # the node takes the abort from its poll

        e.saas.before_round2 = abort_first
        return await e.saas.sign("n1", "signer-a", b"m", tx="tx-1")

    outcome, env = simulate_estate(scenario)
    assert outcome.status == "TIMEOUT"
    assert env.trace.of_kind("session_aborted") and env.trace.of_kind("round2_refused")
    assert not env.trace.of_kind("share_released")


def test_a_disk_fault_while_consuming_a_nonce_crashes_the_node_without_releasing_a_share() -> None:
    async def scenario(e: Estate) -> tuple[object, object]:
        await setup_sgx(e)
        node = e.nodes["n1"]
        e.saas.attempt_timeout = 20

        async def fail_the_disk() -> None:
            e.infra.hosts["n1"].disk.fail_at(0)

        e.saas.before_round2 = fail_the_disk
        first = await e.saas.sign("n1", "signer-a", b"m", tx="tx-1")
        e.saas.before_round2 = None
        await node.ready()  # restarts by itself after boot_retry
        second = await e.saas.sign("n1", "signer-a", b"m", tx="tx-2")
        return first, second

    (first, second), env = simulate_estate(scenario)
    assert first.status == "TIMEOUT" and second.status == "COMPLETED"
    states = [(e.get("state"), e.get("reason", "")) for e in env.trace.of_kind("node_state")]
    assert any(s == "crashed" and "I/O fault" in r for s, r in states)
    assert len(env.trace.of_kind("share_released")) == 1


def test_restoring_an_old_snapshot_keeps_spent_nonces_spent_and_draws_fresh_ones() -> None:
    async def scenario(e: Estate) -> tuple[list[str], list[str], list[str]]:
        await setup_sgx(e)
        node = e.nodes["n1"]
        snapshot = node.backups()[-1]
        await e.saas.sign("n1", "signer-a", b"one", tx="tx-1")
        await node.add_user(e.saas.pairing_token("signer-b"))
        consumed_before = list(node.db.consumed_ids()) if node.db else []
        await node.restore_backup(snapshot)
        await node.ready()
        users = [u.api_user for u in node.list_users()]
        assert node.db is not None
        assert all(node.db.is_consumed(n) for n in consumed_before)
        await e.saas.sign("n1", "signer-a", b"two", tx="tx-2")
        # the same node process image started from scratch, with a DRBG that replays from the start
        node.crash()
        again = await e.node(
            "n1-again", host="n1", env=e.env.child("n1"), config=NodeConfig(cosigner_id="n1")
        )
        await e.saas.sign("n1", "signer-a", b"three", tx="tx-3")
        nonce_ids = [ev.get("nonce_id") for ev in e.env.trace.of_kind("commitments_sent")]
        return users, nonce_ids, [u.api_user for u in again.list_users()]

    (users, nonce_ids, after), env = simulate_estate(scenario)
    assert users == ["signer-a"]  # signer-b was paired after the snapshot
    assert len(nonce_ids) == 3 and len(set(nonce_ids)) == 3
    assert after == ["signer-a"]
    assert env.trace.of_kind("backup_restored")


def test_the_long_poll_repeats_on_the_configured_interval() -> None:
    async def scenario(e: Estate) -> int:
        node = await e.node("n1", config=NodeConfig(cosigner_id="n1", poll_interval=10.0))
        e.saas.long_poll = 1.0  # a SaaS that answers at once: the node still waits out its interval
        await node.setup(e.saas.pairing_token("signer-a"))
        start = e.saas.polls
        await e.env.clock.sleep(100)
        return e.saas.polls - start

    polls, _ = simulate_estate(scenario)
    assert 9 <= polls <= 11


def test_access_tokens_are_refreshed_and_a_revoked_pairing_erases_the_share() -> None:
    async def scenario(e: Estate) -> tuple[int, list[str], tuple[bool, str]]:
        e.saas.access_ttl = 120.0
        await setup_sgx(e)
        node = e.nodes["n1"]
        await node.add_user(e.saas.pairing_token("signer-b"))
        await e.env.clock.sleep(600)
        refreshes = len(e.env.trace.of_kind("token_refreshed"))
        e.saas.unpair("signer-a")
        await e.env.clock.sleep(200)
        return refreshes, [u.api_user for u in node.list_users()], node.can_sign("signer-a")

    (refreshes, users, can), env = simulate_estate(scenario)
    assert refreshes >= 5
    assert users == ["signer-b"]
    assert can == (False, "API user signer-a is not paired with this co-signer")
    assert env.trace.of_kind("unpaired")[0].get("api_user") == "signer-a"


def test_configuration_changes_are_approved_with_the_config_key_or_ignored() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from cosigner_ha import wire

    async def scenario(e: Estate) -> list[object]:
        handler = handler_rig(e, HandlerRules())
        node = await e.node("n1")
        await node.setup(
            e.saas.pairing_token("admin-a"),
            CallbackSettings(url="https://risk.example", public_key=handler.public_key),
        )
        out: list[object] = []
        for action in ("APPROVE", "REJECT", "IGNORE"):
            handler.rules.action = action
            change = wire.ConfigChange(
                f"cc-{action}", "admin-a", "UNMANAGED_WALLET", {"walletName": "cold", "address": "0xabc"}
            )
            e.saas.put("n1", change)
            if action == "IGNORE":
                await e.env.clock.sleep(60)
                out.append(
                    [
                        r
                        for r in e.saas.inbox
                        if isinstance(r, wire.ConfigChangeAnswer) and r.request_id == change.request_id
                    ]
                )
                continue
            answer = await e.saas.next_request(wire.ConfigChangeAnswer)
            signed = wire.encode(
                wire.ConfigChangeApproval(
                    change.request_id, "admin-a", change.kind, change.payload, answer.approved
                )
            )
            Ed25519PublicKey.from_public_bytes(e.saas.config_keys["admin-a"]).verify(answer.signature, signed)
            out.append(answer.approved)
        out.append(handler.seen[0][0])
        return out

    out, _ = simulate_estate(scenario)
    assert out == [True, False, [], "/v2/config_change_sign_request"]


def test_callback_update_changes_only_the_url_once_approved() -> None:
    from cosigner_ha import wire

    async def scenario(e: Estate) -> tuple[str, str, object]:
        handler = handler_rig(e, HandlerRules())
        handler_rig(e, HandlerRules(), url="https://risk2.example")
        node = await e.node("n1")
        await node.setup(
            e.saas.pairing_token("signer-a"),
            CallbackSettings(url="https://risk.example", public_key=handler.public_key),
        )

        async def approve() -> None:
            request = await e.saas.next_request(wire.ManagementRequest)
            assert request.kind == "CALLBACK_UPDATE" and request.payload == {
                "url": "https://risk2.example/cb"
            }
            await e.env.clock.sleep(30)
            e.saas.put("n1", wire.RequestStatus("mgmt-1", "COMPLETED", "callback handler updated"))

        e.tasks.start_soon(approve)
        request_id_status = await node.callback_update("https://risk2.example/cb")
        user = node.list_users()[0]
        with pytest.raises(AdminError) as caught:
            await node.callback_update("not a url")
        return request_id_status, user.callback_url, caught.value

    (status, url, error), _ = simulate_estate(scenario)
    assert status == "COMPLETED" and url == "https://risk2.example/cb"
    assert "not an http(s) URL" in str(error)


def test_a_gcp_node_is_managed_only_through_the_saas_and_serves_one_workspace() -> None:
    from cosigner_ha import wire

    async def scenario(e: Estate) -> tuple[list[str], list[object]]:
        node = await e.node("g1", "gcp", initial_pairing_token=e.saas.pairing_token("signer-a"))
        refusals = []
        for command in (
            lambda: node.setup(e.saas.pairing_token("x")),
            lambda: node.add_user(e.saas.pairing_token("x")),
            lambda: node.callback_update("https://x.example"),
        ):
            with pytest.raises(AdminError) as caught:
                await command()
            refusals.append(str(caught.value))
        for sync in (node.list_users, node.print_public_key):
            with pytest.raises(AdminError) as caught:
                sync()
            refusals.append(str(caught.value))
        while not node.db or not node.db.secrets or not node.db.secrets.users:
            await e.env.clock.sleep(1)
        results = []
        for n, ws in enumerate(("ws-2", "ws-1")):
            e.saas.put("g1", wire.AddUserCommand(f"cmd-{n}", e.saas.pairing_token(f"signer-{ws}", ws=ws), {}))
            results.append(await e.saas.next_request(wire.CommandResult))
        outcome = await e.saas.sign("g1", "signer-a", b"m")
        return refusals, [*results, outcome.status]

    (refusals, results), _ = simulate_estate(scenario)
    assert all("GCP-CONFSPACE co-signer is managed only through the SaaS" in r for r in refusals)
    refused, added, signed = results
    assert (
        not refused.ok
        and "serves one workspace (ws-1); the pairing token is for workspace ws-2" in refused.detail
    )
    assert added.ok and signed == "COMPLETED"


def test_a_nitro_replacement_host_restores_from_the_bucket_and_signs_without_re_pairing() -> None:
    async def scenario(e: Estate) -> tuple[str, str]:
        first = await e.node("a1", "nitro", host="ec2-1")
        await first.setup(e.saas.pairing_token("signer-a"))
        before = await e.saas.sign("a1", "signer-a", b"before")
        first.crash("instance terminated")
        e.net.crash("ec2-1")
        e.infra.hosts["ec2-1"].disk.lose()
        replacement = await e.node("a1-new", "nitro", host="ec2-2", config=NodeConfig(cosigner_id="a1"))
        await e.env.clock.sleep(31)  # the dead instance's held poll expires (work sent to it would be lost)
        after = await e.saas.sign("a1", "signer-a", b"after")
        assert [u.api_user for u in replacement.list_users()] == ["signer-a"]
        return before.status, after.status

    assert simulate_estate(scenario)[0] == ("COMPLETED", "COMPLETED")


@pytest.mark.parametrize("fault", ["tampered", "unsigned", "measurement", "refused"])
def test_an_sgx_node_that_fails_attestation_does_not_run_and_recovers_when_the_fault_clears(
    fault: str,
) -> None:
    async def scenario(e: Estate) -> tuple[list[str], str]:
        image = {
            "tampered": e.infra.images.image("sgx").tampered(),
            "unsigned": e.infra.images.unsigned("sgx"),
            "measurement": e.infra.images.image("sgx", "0.1.0"),
            "refused": e.infra.images.image("sgx"),
        }[fault]
        if fault == "refused":
            e.saas.attestation_refused = "attestation service maintenance"
        node = await e.node("n1", backend=e.backend("sgx", "n1", image=image), wait=False)
        await e.env.clock.sleep(100)
        reasons = [
            ev.get("reason") for ev in e.env.trace.of_kind("node_state") if ev.get("state") == "failed"
        ]
        e.saas.attestation_refused = None
        node.backend.image = e.infra.images.image("sgx")  # the operator installs the good image
        await node.ready()
        return reasons, node.state

    (reasons, state), _ = simulate_estate(scenario)
    assert len(reasons) >= 3  # retried every 30 s
    words = {
        "tampered": "the image was tampered with",
        "unsigned": "is not signed",
        "measurement": "is not expected",
        "refused": "attestation service maintenance",
    }[fault]
    assert words in reasons[0]
    assert state == "running"


def test_the_node_writes_product_format_logs_to_its_host_disk() -> None:
    async def scenario(e: Estate) -> str:
        await setup_sgx(e)
        await e.saas.sign("n1", "signer-a", b"m")
        return (
            e.infra.hosts["n1"].disk.read("/databases/cosigner/log/customer_cosigner.log") or b""
        ).decode()

    text, env = simulate_estate(scenario)
    import re

    lines = text.splitlines()
    pattern = re.compile(r"^cosigner:\d+ (INFO|WARN|ERROR|DEBUG) 01/01/2026 00:00:\d\d,\d{3} \w+ ::\w+ - .+$")
    assert lines and all(pattern.match(line) for line in lines), lines[:3]
    assert any("signature share released" in line for line in lines)
    assert len(lines) == len([e for e in env.trace.of_kind("log") if e.get("node") == "n1"])


def test_the_same_seed_replays_the_same_trace_and_another_seed_does_not() -> None:
    async def scenario(e: Estate) -> None:
        await setup_sgx(e)
        for n in range(3):
            await e.saas.sign("n1", "signer-a", f"m{n}".encode(), tx=f"tx-{n}")

    hashes = [simulate_estate(scenario, seed=s)[1].trace.hash for s in (5, 5, 6)]
    assert hashes[0] == hashes[1] != hashes[2]


def test_a_tampered_database_keeps_the_node_from_running_and_says_why() -> None:
    from cosigner_ha.node.storage import DiskBlobStore

    async def scenario(e: Estate) -> list[str]:
        await setup_sgx(e)
        node = e.nodes["n1"]
        await node.stop()
        disk = e.infra.hosts["n1"].disk
        raw = bytearray(disk.read("/databases/cosigner/db/secrets.db") or b"")
        raw[-3] ^= 0x40
        DiskBlobStore(disk, "/databases/cosigner").write("db/secrets.db", bytes(raw))
        node.start()
        await e.env.clock.sleep(70)
        probe = await e.saas.probe("n1", "signer-a", "tx-9")
        reasons = [
            ev.get("reason") for ev in e.env.trace.of_kind("node_state") if ev.get("state") == "failed"
        ]
        return [*reasons, str(probe)]

    out, _ = simulate_estate(scenario)
    assert len(out) >= 3 and out[-1] == "None"  # failed boots, retried; nobody answers probes
    assert "DatabaseTampered" in out[0] and "secrets.db: authentication failed" in out[0]


def test_a_pairing_interrupted_by_a_crash_resumes_after_the_restart() -> None:
    async def scenario(e: Estate) -> tuple[str, list[str]]:
        e.saas.approval_latency = 120.0
        node = await e.node("n1")
        outcome: list[str] = []

        async def operator() -> None:
            try:
                await node.setup(e.saas.pairing_token("signer-a"))
                outcome.append("paired")
            except AdminError as exc:
                outcome.append(str(exc))

        e.tasks.start_soon(operator)
        await e.env.clock.sleep(20)
        node.crash("power cut")
        node.start()
        await node.ready()
        await e.env.clock.sleep(200)
        return outcome[0], [u.api_user for u in node.list_users()]

    (said, users), env = simulate_estate(scenario)
    assert "went down while pairing request pair-1 waited; the pairing resumes" in said
    assert users == ["signer-a"]
    assert len(env.trace.of_kind("paired")) == 1


def test_the_callback_key_made_at_setup_signs_again_after_a_restart() -> None:
    """The node's RSA key comes back from its sealed database at boot (unvalidated: it is sealed)."""

    async def scenario(e: Estate) -> tuple[str, str, bool]:
        await setup_sgx(e)
        node = e.nodes["n1"]
        before = node.print_public_key()
        await node.stop()
        node.start()
        await node.ready()
        after = node.print_public_key()
        token = jwt.encode({"txId": "tx-1"}, node._callback_key(), algorithm="RS256")
        verified = jwt.decode(token, load_public_key_pem(after), algorithms=["RS256"]) == {"txId": "tx-1"}
        return before, after, verified

    (before, after, verified), _ = simulate_estate(scenario)
    assert before == after and verified
