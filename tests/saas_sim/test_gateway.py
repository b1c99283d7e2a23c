"""Token misuse and bad frames: each refused with its own code, the connection closed, nothing else
disturbed."""

from __future__ import annotations

import msgpack
import pytest

from cosigner_ha import mpc, wire
from cosigner_ha.env import SIMULATION_EPOCH, Environment, simulate
from cosigner_ha.net import ConnectionClosed, FramedStream
from cosigner_ha.saas_sim import Status
from cosigner_ha.saas_sim.tokens import TokenAuthority

from .harness import World, ready, running_world
from .protocol_node import ProtocolNode


async def refused(w: World, node: ProtocolNode, msg: wire.Message | bytes) -> tuple[wire.Error, FramedStream]:
    """Send on a fresh connection; return the error and the (now closed) stream."""
    stream = await node.connect()
    await stream.send(msg if isinstance(msg, bytes) else wire.encode(msg))
    answer = wire.decode(await stream.receive())
    assert isinstance(answer, wire.Error), answer
    with pytest.raises(ConnectionClosed):
        await stream.receive()
    return answer, stream


def spare(w: World, name: str = "spare") -> ProtocolNode:
    return ProtocolNode(w.env.child(name), w.net, host=name, saas=w.saas.address)


def test_pairing_token_refusals_are_distinct() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a")]) as w:
            node = spare(w)
            codes: dict[str, str] = {}
            # expired: valid for one minute, presented after two
            token = w.saas.issue_pairing_token("acme", "signer-b", ttl=60)
            await env.clock.sleep(120)
            codes["expired"] = (await refused(w, node, node.pair_message(token)))[0].code
            # forged: same claims, another key
            other = TokenAuthority(key_bytes=b"\x01" * 32, wall=lambda: SIMULATION_EPOCH, new_id=lambda: "x")
            forged, _ = other.issue_pairing(
                workspace_id=w.saas.workspace("acme").id, api_user_id="u", ttl=3600
            )
            codes["forged"] = (await refused(w, node, node.pair_message(forged)))[0].code
            # foreign: a genuine token for another purpose
            access = w.nodes["node-a"].access_token
            codes["foreign"] = (await refused(w, node, node.pair_message(access)))[0].code
            codes["malformed"] = (await refused(w, node, node.pair_message("not-a-jwt")))[0].code
            assert codes == {
                "expired": "TOKEN_EXPIRED",
                "forged": "TOKEN_FORGED",
                "foreign": "TOKEN_FOREIGN",
                "malformed": "TOKEN_MALFORMED",
            }
            assert [e.get("code") for e in w.events("token_refused")] == list(codes.values())
            # none of these spent or changed anything: signer-b still pairs with a fresh token
            assert w.saas.workspace("acme").api_user("signer-b").status.value == "PENDING_ACTIVATION"
            await w.add_node("node-b", "signer-b")

    simulate(main, seed=21)


def test_a_pairing_token_pairs_once() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[]) as w:
            token = w.saas.issue_pairing_token("acme", "signer-a")
            first = spare(w, "first")
            await first.pair(token)
            error, _ = await refused(w, spare(w, "second"), spare(w, "second").pair_message(token))
            assert error.code == "TOKEN_REPLAYED" and "already used" in error.message
            # still replayed, not expired, once the hour is over
            await env.clock.sleep(3700)
            error, _ = await refused(w, spare(w, "third"), spare(w, "third").pair_message(token))
            assert error.code == "TOKEN_REPLAYED"

    simulate(main, seed=22)


def test_refresh_and_access_token_misuse() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a"), ("node-b", "signer-b")]) as w:
            a, b = w.nodes["node-a"], w.nodes["node-b"]
            refresh_a = next(iter(a.refresh_tokens.values()))
            # node-b presents node-a's refresh token as its own
            error, _ = await refused(w, b, wire.RefreshAccess("node-b", refresh_a))
            assert error.code == "TOKEN_FOREIGN"
            # node-b polls with node-a's access token
            error, _ = await refused(w, b, wire.Poll(a.access_token, "node-b", []))
            assert error.code == "TOKEN_FOREIGN"
            # an access token outlives its ten minutes
            old = a.access_token
            await env.clock.sleep(601)
            error, _ = await refused(w, a, wire.Poll(old, "node-a", []))
            assert error.code == "TOKEN_EXPIRED"

    simulate(main, seed=23)


def test_bad_frames_close_only_their_own_connection() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            await ready(w)
            node = spare(w)
            bad = {
                "garbage": b"\xc1\xc1\xc1",
                "unknown": msgpack.packb({"v": wire.PROTOCOL_VERSION, "type": "launch_missiles", "body": {}}),
                "old-version": msgpack.packb({"v": 0, "type": "poll", "body": {}}),
                "missing-field": msgpack.packb(
                    {"v": wire.PROTOCOL_VERSION, "type": "poll", "body": {"access_token": "x"}}
                ),
                "a-response": wire.encode(wire.Ack()),
            }
            errors = {name: (await refused(w, node, payload))[0] for name, payload in bad.items()}
            assert {n: e.code for n, e in errors.items()} == {
                "garbage": "BAD_FRAME",
                "unknown": "BAD_FRAME",
                "old-version": "BAD_FRAME",
                "missing-field": "BAD_FRAME",
                "a-response": "UNEXPECTED_MESSAGE",
            }
            assert "unknown message type 'launch_missiles'" in errors["unknown"].message
            assert "missing field(s) cosigner_id, api_users" in errors["missing-field"].message
            # the paired nodes never noticed: they still poll and sign
            tx = await w.settle(w.submit())
            assert tx.status is Status.COMPLETED
            assert w.events("internal_error") == []
            assert all(n.sent("poll_error") == [] for n in w.nodes.values())

    simulate(main, seed=24)


def test_unpairing_revokes_tokens_after_an_admins_approval() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            await ready(w)
            a = w.nodes["node-a"]
            refresh, access = next(iter(a.refresh_tokens.values())), a.access_token
            req = w.saas.unpair("acme", "signer-a", requested_by="tywin")
            assert w.saas.request_status(req.id)["status"] == "WAITING_FOR_APPROVAL"
            await env.clock.sleep(25)  # tywin answers after 20 s
            assert w.saas.request_status(req.id)["status"] == "COMPLETED"
            (decided,) = w.events("approval_decided", request=req.id)
            assert decided.get("approver") == "tywin"
            # the node was told, erased its share and confirmed; then its tokens stopped working
            assert [c.request_id for c in a.sent("unpair_command")] == [req.id]
            (result,) = w.events("command_result", request=req.id)
            assert result.get("ok") is True
            error, _ = await refused(w, a, wire.RefreshAccess("node-a", refresh))
            assert error.code == "TOKEN_REVOKED"
            error, _ = await refused(w, a, wire.Poll(access, "node-a", []))
            assert error.code == "TOKEN_REVOKED"
            ws = w.saas.workspace("acme")
            assert not any(cloud.holds_user(ws.id, ws.api_user("signer-a").id) for cloud in w.saas.ctx.clouds)
            assert all(cloud.holds_user(ws.id, ws.api_user("signer-b").id) for cloud in w.saas.ctx.clouds)
            # transactions no longer reach node-a
            tx = await w.settle(w.submit())
            assert tx.status is Status.COMPLETED and tx.signed_by != "node-a"
            assert all(e.get("cosigner") != "node-a" for e in w.events("probe_sent", tx=tx.id))
            # a viewer cannot ask for an unpairing
            with pytest.raises(Exception, match="role VIEWER"):
                w.saas.unpair("acme", "signer-b", requested_by="sansa")

    simulate(main, seed=25)


def test_a_poll_is_held_until_work_arrives_or_the_interval_ends() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a")]) as w:
            await ready(w)
            w.nodes["node-a"].crash()  # stop its own polling; poll by hand from another host
            node = w.nodes["node-a"]
            probe = ProtocolNode(
                env.child("by-hand"), w.net, host="by-hand", saas=w.saas.address, cosigner_id="node-a"
            )
            probe.refresh_tokens = dict(node.refresh_tokens)
            await probe.refresh()
            stream = await probe.connect()
            start = env.clock.now()
            empty = await probe.exchange(stream, wire.Poll(probe.access_token, "node-a", list(node.keys)))
            assert isinstance(empty, wire.PollResult) and empty.items == []
            assert env.clock.now() - start == pytest.approx(30.0, abs=0.1)

            async def submit_later() -> None:
                await env.clock.sleep(7.0)
                w.submit()

            w.tasks.start_soon(submit_later)
            start = env.clock.now()
            work = await probe.exchange(stream, wire.Poll(probe.access_token, "node-a", list(node.keys)))
            assert isinstance(work, wire.PollResult) and [i.TYPE for i in work.items] == ["probe"]
            assert env.clock.now() - start == pytest.approx(7.0, abs=0.1)

    simulate(main, seed=26)


def test_protocol_v2_probe_answers_ride_on_the_next_poll_and_an_approval_is_answered_with_round_two() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a")]) as w:
            await ready(w)
            node = w.nodes["node-a"]
            node.crash()  # poll and sign by hand from another host
            by_hand = ProtocolNode(
                env.child("by-hand"), w.net, host="by-hand", saas=w.saas.address, cosigner_id="node-a"
            )
            by_hand.refresh_tokens = dict(node.refresh_tokens)
            await by_hand.refresh()
            token, users = by_hand.access_token, list(node.keys)
            polls, requests = await by_hand.connect(), await by_hand.connect()
            tx = w.submit()
            work = await by_hand.exchange(polls, wire.Poll(token, "node-a", users))
            assert isinstance(work, wire.PollResult)
            (probe,) = work.items
            assert isinstance(probe, wire.AvailabilityProbe)
            answer = wire.Availability(probe.probe_id, probe.api_user, True)
            work = await by_hand.exchange(polls, wire.Poll(token, "node-a", users, [answer]))
            (answered,) = w.events("probe_answered", tx=tx.id)
            assert (answered.get("late"), answered.get("available")) == (False, True)
            assert isinstance(work, wire.PollResult)
            (request,) = work.items
            assert isinstance(request, wire.SignRequest)
            # the round was settled by that answer: the same answer again is acknowledged, as late
            again = await by_hand.exchange(
                requests, wire.ProbeAnswer(token, probe.probe_id, probe.api_user, True)
            )
            assert isinstance(again, wire.Ack)
            assert [e.get("late") for e in w.events("probe_answered", tx=tx.id)] == [False, True]
            nonces, commitments = mpc.commit(node.keys[probe.api_user], env.randbytes)
            approve = wire.CallbackResult(
                token, request.session_id, "APPROVE", "", "", commitments.to_bytes()
            )
            round2 = await by_hand.exchange(requests, approve)
            assert isinstance(round2, wire.SignRound2) and round2.session_id == request.session_id
            assert await by_hand.exchange(requests, approve) == round2, (
                "a resent approval: the same round two"
            )
            package = mpc.SigningPackage.from_bytes(round2.signing_package)
            assert package.commitments[wire.NODE_IDENTIFIER] == commitments
            share = mpc.sign(package, nonces, node.keys[probe.api_user])
            done = await by_hand.exchange(
                requests, wire.SignatureShare(token, request.session_id, share.to_bytes())
            )
            assert isinstance(done, wire.Ack)
            assert (await w.settle(tx)).status is Status.COMPLETED

    simulate(main, seed=26)


def test_a_silent_node_goes_offline_after_fifteen_minutes_and_is_no_longer_probed() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a"), ("node-b", "signer-b")]) as w:
            await ready(w)
            w.nodes["node-a"].crash()
            await env.clock.sleep(14 * 60)
            assert [c["online"] for c in w.saas.cosigners()] == [True, True]
            await env.clock.sleep(60 + 30)
            assert [c["online"] for c in w.saas.cosigners()] == [False, True]
            tx = await w.settle(w.submit())
            assert [e.get("cosigner") for e in w.events("probe_sent", tx=tx.id)] == ["node-b"]
            assert tx.signed_by == "node-b"

    simulate(main, seed=27)


def test_business_refusals_name_the_problem_and_keep_the_connection() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[("node-a", "signer-a")]) as w:
            await ready(w)
            a = w.nodes["node-a"]
            user = next(iter(a.keys))
            stream = await a.connect()

            async def ask(msg: wire.Message) -> wire.Error:
                answer = await a.exchange(stream, msg)
                assert isinstance(answer, wire.Error), answer
                return answer

            token = a.access_token
            cases = [
                (
                    wire.CallbackResult(token, "no-such-session", "APPROVE", ""),
                    "SESSION_CLOSED",
                    "closed or unknown",
                ),
                (
                    wire.SignatureShare(token, "no-such-session", b"\x00"),
                    "SESSION_CLOSED",
                    "closed or unknown",
                ),
                (wire.Poll(token, "node-a", ["someone-else"]), "NOT_FOUND", "someone-else are not paired"),
                (
                    wire.ManagementRequest(token, "DELETE_EVERYTHING", user, {}),
                    "INVALID",
                    "expected one of UNPAIR",
                ),
                (wire.ManagementRequest(token, "RENAME", user, {"name": 5}), "INVALID", "payload.name"),
                (wire.ManagementRequest(token, "ADD_USER", user, {}), "PAIRING_REFUSED", "with `Pair`"),
                (wire.ConfigChangeAnswer(token, "cfg-9", user, True, b"", ""), "NOT_FOUND", "cfg-9"),
                (wire.CommandResult(token, "req-99", True, ""), "NOT_FOUND", "req-99"),
            ]
            for msg, code, words in cases:
                error = await ask(msg)
                assert (error.code, words in error.message) == (code, True), (msg.TYPE, error)
            # a pairing request with keys of the wrong size is refused before the token is spent
            token_b = w.saas.issue_pairing_token("acme", "signer-b")
            bad = wire.Pair(token_b, "n2", "SGX", "1", b"short", b"\x01" * 32)
            error = await ask(bad)
            assert (
                error.code == "INVALID" and "pair.config_key: expected a 32-byte public key" in error.message
            )
            error = await ask(wire.Pair(token_b, "n2", "PLAIN", "1", b"\x01" * 32, b"\x01" * 32))
            assert error.code == "INVALID" and "PLAIN" in error.message
            assert w.saas.workspace("acme").api_user("signer-b").status.value == "PENDING_ACTIVATION"
            # still the same connection, still serving
            answer = await a.exchange(stream, wire.ProbeAnswer(token, "probe-404", user, True))
            assert isinstance(answer, wire.Ack)

    simulate(main, seed=28)
