"""Submission, policy, 2-TIER approvals, the exchange/fiat restriction, cancellation: end to end."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cosigner_ha.env import Environment, simulate
from cosigner_ha.policy import PolicyError
from cosigner_ha.saas_sim import ApproverBehaviour, SaasConfig, SaasError, Status, Verdict

from .harness import POLICY, ready, running_world


def test_exchange_and_fiat_sources_with_a_group_fail_and_a_single_api_user_signs() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            await ready(w)
            for source in ("exchange:exch-main", "fiat:bank-usd"):
                tx = await w.settle(w.submit(source=source))
                assert (tx.status, tx.sub_status) == (Status.FAILED, "SIGNER_NOT_FOUND")
                assert tx.attempts == () and w.events("probe_sent", tx=tx.id) == []
            # the documented workaround: a group-free exchange rule above the group rule
            single = {"action": "ALLOW", "source": "exchange:*", "designated_signers": ["signer-c"]}
            w.saas.publish_policy("acme", {"rules": [single, *POLICY["rules"]]}, approval=False)
            tx = await w.settle(w.submit(source="exchange:exch-main"))
            assert tx.status is Status.COMPLETED and tx.signed_by == "node-c"
            assert [e.get("cosigner") for e in w.events("probe_sent", tx=tx.id)] == ["node-c"]

    simulate(main, seed=41)


def test_block_rules_and_the_catch_all() -> None:
    policy = {
        "rules": [
            {"action": "BLOCK", "destination_address": "one-time"},
            {"action": "ALLOW", "asset": "ETH", "source": "vault:*", "designated_signers": ["signer-a"]},
        ]
    }

    async def main(env: Environment) -> None:
        async with running_world(env, policy=policy, nodes=[]) as w:
            blocked = await w.settle(w.submit(destination="one-time:0xabc"))
            assert (blocked.status, blocked.sub_status, blocked.rule) == (
                Status.BLOCKED,
                "BLOCKED_BY_POLICY",
                0,
            )
            unmatched = await w.settle(w.submit(asset="BTC"))
            assert (unmatched.status, unmatched.rule) == (Status.BLOCKED, None)
            (decision,) = w.events("policy_decision", tx=unmatched.id)
            assert "no rule matched" in decision.get("reason")

    simulate(main, seed=42)


def test_two_tier_approval_then_signing() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            await ready(w)
            tx = await w.settle(w.submit(asset="BTC", amount=20))  # $1.2M: the 2-TIER rule
            assert tx.status is Status.COMPLETED
            statuses = [c.status for c in tx.history]
            assert statuses == [Status.PENDING_AUTHORIZATION, Status.PENDING_SIGNATURE, Status.COMPLETED]
            assert sorted(tx.approvals) == [("tywin", "APPROVE"), ("varys", "APPROVE")]
            approvals = w.events("approval", tx=tx.id)
            assert [e.get("outcome") for e in approvals] == ["PENDING", "APPROVED"]
            assert tx.pending_signature_at is not None and tx.pending_signature_at - tx.created_at >= 20

    simulate(main, seed=43)


def test_one_rejection_rejects_a_two_tier_transaction() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            w.saas.set_approver("acme", "varys", ApproverBehaviour(latency=5, verdict=Verdict.REJECT))
            tx = await w.settle(w.submit(asset="BTC", amount=20))
            assert (tx.status, tx.sub_status) == (Status.REJECTED, "REJECTED_BY_USER")
            assert "varys" in tx.history[-1].reason and tx.attempts == ()

    simulate(main, seed=44)


def test_the_authorization_timeout_fails_a_transaction() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            w.saas.set_approver("acme", "varys", ApproverBehaviour(verdict=Verdict.ABSENT))
            tx = await w.settle(w.submit(asset="BTC", amount=20))
            assert (tx.status, tx.sub_status) == (Status.FAILED, "TIMEOUT")
            assert tx.finished_at == pytest.approx(tx.created_at + 7200, abs=1e-6)

    simulate(main, seed=45)


def test_approvers_can_decide_per_transaction() -> None:
    def cautious(details: dict[str, Any]) -> Verdict:
        return Verdict.REJECT if Decimal(details["amount"]) > 100 else Verdict.APPROVE

    async def main(env: Environment) -> None:
        async with running_world(env, config=SaasConfig(authorization_timeout=600.0)) as w:
            w.saas.set_approver("acme", "tywin", ApproverBehaviour(latency=10, decide=cautious))
            small = w.submit(asset="BTC", amount=20)
            big = w.submit(asset="BTC", amount=200)
            await w.settle(small)
            await w.settle(big)
            assert small.status is Status.COMPLETED and big.status is Status.REJECTED

    simulate(main, seed=46)


def test_the_initiator_cancels_while_no_signature_is_released() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            waiting = w.submit(asset="BTC", amount=20)
            await env.clock.sleep(5)
            with pytest.raises(SaasError, match="only the initiator 'ops'"):
                w.saas.cancel(waiting.id, by="tywin")
            w.saas.cancel(waiting.id, by="ops")
            assert (waiting.status, waiting.sub_status) == (Status.CANCELLED, "CANCELLED_BY_USER")
            await env.clock.sleep(60)
            assert waiting.status is Status.CANCELLED and w.events("approval", tx=waiting.id) == []
            await ready(w)
            done = await w.settle(w.submit())
            with pytest.raises(SaasError, match="COMPLETED; it can no longer be cancelled"):
                w.saas.cancel(done.id, by="ops")

    simulate(main, seed=47)


def test_a_transaction_cancelled_right_after_submission_stays_cancelled() -> None:
    """Cancelled before its own task first ran (in the same step as the submission): the task must not
    move it on (it used to crash the SaaS with an illegal CANCELLED -> PENDING_SIGNATURE)."""

    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            await ready(w)
            tx = w.submit()
            w.saas.cancel(tx.id, by="ops")
            await env.clock.sleep(120)
            assert (tx.status, tx.sub_status) == (Status.CANCELLED, "CANCELLED_BY_USER")
            assert w.events("internal_error") == [] and w.events("probe_sent", tx=tx.id) == []
            assert (await w.settle(w.submit())).status is Status.COMPLETED

    simulate(main, seed=48)


def test_submissions_are_refused_naming_the_field_and_nothing_is_kept() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[]) as w:
            first = w.submit(external_id="order-1")
            cases = {
                "initiator": ({"initiator": "nobody"}, "transaction.initiator: 'nobody' is not a user"),
                "viewer": ({"initiator": "sansa"}, "role VIEWER, which cannot initiate"),
                "asset": ({"asset": "DOGE"}, "transaction.asset: workspace 'acme' has no asset 'DOGE'"),
                "amount": ({"amount": -1}, "transaction.amount: expected a positive amount"),
                "nan": ({"amount": float("nan")}, "transaction.amount: expected a finite amount"),
                "source": (
                    {"source": "wallet:cold"},
                    "transaction.source: a source is a vault, exchange or fiat",
                ),
                "unknown vault": (
                    {"source": "vault:nope"},
                    "transaction.source: workspace 'acme' has no vault",
                ),
                "not whitelisted": ({"destination": "wallet:evil"}, "has no wallet 'evil' (only whitelisted"),
                "operation": ({"operation": "LAUNCH"}, "transaction.operation: expected one of"),
                "external id": ({"external_id": "order-1"}, f"'order-1' is already used by {first.id}"),
            }
            for name, (fields, words) in cases.items():
                with pytest.raises(SaasError, match=words.replace("(", r"\(")):
                    w.submit(**fields)
                assert len(w.saas.transactions) == 1, name
            refused = w.events("submission_refused")
            assert len(refused) == len(cases)
            assert w.saas.lifecycle.by_external_id("acme", "order-1") is first

    simulate(main, seed=48)


def test_a_bad_policy_is_refused_whole() -> None:
    async def main(env: Environment) -> None:
        async with running_world(env, nodes=[]) as w:
            bad = {"rules": [POLICY["rules"][0], {"action": "ALLOW", "designated_signers": ["ghost"]}]}
            with pytest.raises(PolicyError, match="rule 1"):
                w.saas.publish_policy("acme", bad, approval=False)
            blocked = await w.settle(w.submit(destination="one-time:0x1"))
            assert blocked.rule == 0  # the old policy is still in force

    simulate(main, seed=49)
