"""Failover without a second signature, REJECT that stops everything, and the timeouts."""

from __future__ import annotations

import pytest

from cosigner_ha.env import Environment, simulate
from cosigner_ha.env.compute import SigningCapacity
from cosigner_ha.saas_sim import SaasConfig, Status

from .harness import ready, running_world
from .protocol_node import Behaviour


@pytest.mark.parametrize(
    "cloud",
    [SigningCapacity(1, 0.0), None],
    ids=["instant-cloud-rounds", "default-cloud-rounds"],
)
def test_a_node_that_vanishes_mid_signing_is_replaced_and_only_one_signature_is_released(
    cloud: SigningCapacity | None,
) -> None:
    # With instant cloud rounds the node crashes with no long poll held at the SaaS; with the cloud's
    # compute time it already holds a new one, whose break the SaaS must see while the poll is held
    # (the gateway watches a held poll's connection), not when the poll ends 30 s later.
    config = SaasConfig() if cloud is None else SaasConfig(cloud_signing=cloud)

    async def main(env: Environment) -> None:
        behaviours = {
            "node-a": Behaviour(probe_delay=0.1, vanish_after_commit=True),
            "node-b": Behaviour(probe_delay=0.4),
            "node-c": Behaviour(probe_delay=0.6),
        }
        async with running_world(env, behaviours=behaviours, config=config) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert tx.status is Status.COMPLETED
            assert tx.signed_by == "node-b"
            assert [a.cosigner_id for a in tx.attempts] == ["node-a", "node-b"]
            assert [a.outcome for a in tx.attempts] == ["retry", "completed"]
            assert len(w.events("signed", tx=tx.id)) == 1
            (failover,) = w.events("failover", tx=tx.id)
            assert failover.get("cosigner") == "node-a" and "lost its connection" in failover.get("reason")
            # the second attempt used fresh nonces: every cloud nonce appears once
            nonces = [e.get("nonce") for e in w.events("nonce_used")]
            assert len(nonces) == len(set(nonces)) == 2
            assert all(cloud.open_sessions == 0 for cloud in w.saas.ctx.clouds)
            # the crash was noticed from the broken connections: failover after the 10 s grace, not 75 s
            assert tx.finished_at is not None and tx.finished_at - tx.created_at < 15
            if cloud is None:  # the break was seen on the held poll's connection
                assert [e.get("cosigner") for e in w.events("connection_lost")] == ["node-a"]

    # The seed decides a race at the crash: whether the node's next long poll reaches the SaaS before the
    # Ack of its commitments makes it crash (both at the same simulated instant, latencies drawn per
    # frame); with this one it does, so the held poll's break is what the SaaS sees.
    simulate(main, seed=4)


def test_a_node_cut_off_mid_signing_is_replaced_after_the_attempt_timeout() -> None:
    async def main(env: Environment) -> None:
        behaviours = {
            "node-a": Behaviour(probe_delay=0.1, cut_off_after_commit=True),
            "node-b": Behaviour(probe_delay=0.4),
            "node-c": Behaviour(probe_delay=0.6),
        }
        async with running_world(env, behaviours=behaviours) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert tx.status is Status.COMPLETED and tx.signed_by == "node-b"
            assert [a.outcome for a in tx.attempts] == ["retry", "completed"]
            # a partition breaks nothing at once: the SaaS gives up after the attempt timeout
            assert tx.finished_at is not None and 75 <= tx.finished_at - tx.created_at < 90
            assert len(w.events("signed")) == 1
            w.net.heal("node-a", "saas")
            await env.clock.sleep(120)
            assert len(w.events("signed")) == 1  # node-a's round two was withdrawn with the session

    simulate(main, seed=19)


def test_a_late_share_from_an_abandoned_session_is_refused() -> None:
    async def main(env: Environment) -> None:
        behaviours = {
            "node-a": Behaviour(probe_delay=0.1, callback_delay=100.0),  # answers long after the deadline
            "node-b": Behaviour(probe_delay=0.4),
            "node-c": Behaviour(probe="no"),
        }
        async with running_world(env, behaviours=behaviours) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert tx.status is Status.COMPLETED and tx.signed_by == "node-b"
            await env.clock.sleep(200)  # node-a's callback result finally arrives: session closed
            assert len(w.events("signed")) == 1
            refused = w.events("request_refused", request="callback_result")
            assert refused and refused[0].get("code") == "SESSION_CLOSED"
            assert w.nodes["node-a"].sent("share_sent") == []

    simulate(main, seed=12)


def test_reject_ends_the_transaction_and_no_other_node_is_tried() -> None:
    async def main(env: Environment) -> None:
        behaviours = {
            "node-a": Behaviour(probe_delay=0.1, callback="REJECT"),
            "node-b": Behaviour(probe_delay=0.4),
            "node-c": Behaviour(probe_delay=0.6),
        }
        async with running_world(env, behaviours=behaviours) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            await env.clock.sleep(600)
            assert (tx.status, tx.sub_status) == (Status.REJECTED, "REJECTED_BY_USER")
            assert [a.cosigner_id for a in tx.attempts] == ["node-a"]
            assert len(w.events("dispatched", tx=tx.id)) == 1
            assert w.events("signed") == []
            (rejected,) = w.events("rejected", tx=tx.id)
            assert "callback REJECT" in rejected.get("reason")

    simulate(main, seed=13)


def test_a_callback_timeout_fails_the_transaction_by_default() -> None:
    async def main(env: Environment) -> None:
        behaviours = {"node-a": Behaviour(probe_delay=0.0, callback="FAILED")}
        async with running_world(env, behaviours=behaviours) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert (tx.status, tx.sub_status) == (Status.FAILED, "TIMEOUT")
            assert len(tx.attempts) == 1

    simulate(main, seed=14)


@pytest.mark.parametrize(
    ("kind", "sub_status", "cause"),
    [
        ("TIMEOUT", "TIMEOUT", "callback-timeout"),
        ("RETRY_EXHAUSTED", "TIMEOUT", "callback-retries-exhausted"),
        ("BAD_SIGNATURE", "INVALID_SIGNATURE", "callback-bad-signature"),
        ("MALFORMED", "UNKNOWN_ERROR", "callback-malformed"),
        ("HTTP_STATUS", "CONNECTIVITY_ERROR", "callback-http-error"),
        ("UNREACHABLE", "CONNECTIVITY_ERROR", "callback-unreachable"),
        ("CANNOT_SIGN", "SIGNER_NOT_FOUND", "cosigner-cannot-sign"),
        ("SOMETHING_NEW", "UNKNOWN_ERROR", "callback-failed"),
    ],
)
def test_a_callback_failure_ends_with_its_own_cause(kind: str, sub_status: str, cause: str) -> None:
    """A bad JWT signature and a malformed answer are not a timeout: each carries its cause to the trace."""

    async def main(env: Environment) -> None:
        behaviours = {"node-a": Behaviour(probe_delay=0.0, callback="FAILED", callback_cause=kind)}
        async with running_world(env, behaviours=behaviours) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert (tx.status, tx.sub_status, tx.cause) == (Status.FAILED, sub_status, cause)
            (failed,) = w.events("failed", tx=tx.id)
            assert (failed.get("sub_status"), failed.get("cause")) == (sub_status, cause)
            assert kind in failed.get("reason")
            (result,) = w.events("callback_result", tx=tx.id)
            assert (result.get("cause"), result.get("error")) == (cause, kind)

    simulate(main, seed=14)


def test_a_callback_timeout_can_be_tried_on_another_node() -> None:
    async def main(env: Environment) -> None:
        behaviours = {"node-a": Behaviour(probe_delay=0.0, callback="FAILED")}
        async with running_world(
            env, behaviours=behaviours, config=SaasConfig(callback_failure="next-node")
        ) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert tx.status is Status.COMPLETED and tx.signed_by != "node-a"
            assert tx.attempts[0].outcome == "retry" and tx.attempts[0].cause == "callback-timeout"
            assert tx.cause is None

    simulate(main, seed=15)


def test_no_available_node_until_the_signing_timeout_cancels() -> None:
    async def main(env: Environment) -> None:
        silent = Behaviour(probe="silent")
        behaviours = {"node-a": silent, "node-b": Behaviour(probe="no"), "node-c": silent}
        config = SaasConfig(signing_timeout=600.0)
        async with running_world(env, behaviours=behaviours, config=config) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert (tx.status, tx.sub_status) == (Status.CANCELLED, "TIMEOUT")
            assert tx.cause == "no-cosigner-available"
            assert "no co-signer was available" in tx.history[-1].reason
            assert tx.pending_signature_at is not None
            assert tx.finished_at is not None and abs(tx.finished_at - tx.pending_signature_at - 600.0) < 1e-6
            assert tx.attempts == () and len(w.events("probe_result", tx=tx.id)) > 10

    simulate(main, seed=16)


def test_the_signing_timeout_defaults_to_two_hours_and_aborts_an_open_session() -> None:
    async def main(env: Environment) -> None:
        behaviours = {n: Behaviour(callback="SILENT") for n in ("node-a", "node-b", "node-c")}
        config = SaasConfig(attempt_timeout=7000.0)
        async with running_world(env, behaviours=behaviours, config=config) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert (tx.status, tx.sub_status) == (Status.CANCELLED, "TIMEOUT")
            assert tx.finished_at is not None and tx.pending_signature_at is not None
            assert tx.finished_at - tx.pending_signature_at >= 7200.0
            assert tx.attempts[-1].outcome == "abandoned"
            await env.clock.sleep(60)
            aborts = [s for n in w.nodes.values() for s in n.sent("sign_abort")]
            last = [a for a in aborts if a.session_id == tx.attempts[-1].session_id]
            assert last and "timeout" in last[0].reason

    simulate(main, seed=17)


def test_a_corrupt_share_is_blamed_and_another_node_signs() -> None:
    async def main(env: Environment) -> None:
        behaviours = {
            "node-a": Behaviour(probe_delay=0.0, corrupt_share=True),
            "node-b": Behaviour(probe_delay=0.3),
            "node-c": Behaviour(probe="no"),
        }
        async with running_world(env, behaviours=behaviours) as w:
            await ready(w)
            tx = await w.settle(w.submit())
            assert tx.status is Status.COMPLETED and tx.signed_by == "node-b"
            (error,) = w.events("mpc_error", tx=tx.id)
            assert error.get("culprits") == [1]
            assert len(w.events("signed", tx=tx.id)) == 1

    simulate(main, seed=18)
