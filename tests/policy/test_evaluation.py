"""Evaluation semantics, one behaviour per test: first match, thresholds, windows, signers, failures."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cosigner_ha.policy import Directory, PolicyEngine, PolicyError, PriceError, ReferenceEngine, load_policy

from .support import tx


def engine(directory: Directory, *rules: dict[str, Any]) -> PolicyEngine:
    return PolicyEngine(load_policy({"rules": list(rules)}, directory, origin="test"), directory)


ALLOW_ALL = {"action": "ALLOW"}


def test_first_matching_rule_from_the_top_wins(directory: Directory) -> None:
    e = engine(directory, {"action": "BLOCK", "asset": "BTC"}, {"action": "ALLOW", "asset": "BTC"}, ALLOW_ALL)
    assert e.decide(tx(asset="BTC")).rule == 0
    assert e.decide(tx(asset="ETH")).rule == 2


def test_no_match_is_blocked_by_policy(directory: Directory) -> None:
    decision = engine(directory, {"action": "ALLOW", "asset": "BTC"}).decide(tx(asset="ETH"))
    assert decision.to_json() == {
        "rule": None,
        "action": None,
        "status": "BLOCKED",
        "sub_status": "BLOCKED_BY_POLICY",
        "designated_signers": [],
        "approvers": None,
    }


def test_block_rule_blocks_by_policy(directory: Directory) -> None:
    decision = engine(directory, {"action": "BLOCK", "designated_signers": "signer-a"}).decide(tx())
    assert (decision.rule, decision.action, decision.status, decision.sub_status) == (
        0,
        "BLOCK",
        "BLOCKED",
        "BLOCKED_BY_POLICY",
    )
    assert decision.designated_signers == ()


@pytest.mark.parametrize(
    ("amount", "expected_rule"),
    [("100", 1), ("100.000000000000000001", 0), ("99.99", 1), ("200", 0), ("200.01", 1)],
)
def test_threshold_is_strictly_above_min_and_at_most_max(
    directory: Directory, amount: str, expected_rule: int
) -> None:
    e = engine(
        directory, {"action": "BLOCK", "amount": {"min": 100, "max": 200, "currency": "NATIVE"}}, ALLOW_ALL
    )
    assert e.decide(tx(asset="USDC", amount=Decimal(amount))).rule == expected_rule


@pytest.mark.parametrize(
    ("currency", "threshold", "eth", "applies"),
    [
        ("USD", 3000, "1", False),  # 1 ETH = 3000 USD: not above 3000
        ("USD", 3000, "1.0001", True),
        ("EUR", 2400, "1", False),  # 3000 USD / 1.25 = 2400 EUR
        ("EUR", 2399.99, "1", True),
        ("NATIVE", 1, "1", False),
        ("NATIVE", 1, "1.5", True),
    ],
)
def test_thresholds_compare_in_the_rules_currency(
    directory: Directory, currency: str, threshold: float, eth: str, applies: bool
) -> None:
    e = engine(directory, {"action": "BLOCK", "amount": {"min": threshold, "currency": currency}}, ALLOW_ALL)
    assert (e.decide(tx(amount=Decimal(eth))).rule == 0) is applies


def test_eur_prices_given_directly_win_over_the_rate(scenario: dict[str, Any]) -> None:
    scenario["workspace"]["prices_eur"] = {"ETH": 2000}
    d = Directory.from_scenario(scenario)
    e = engine(d, {"action": "BLOCK", "amount": {"min": 2500, "currency": "EUR"}}, ALLOW_ALL)
    assert e.decide(tx(amount=1)).rule == 1  # 2000 EUR, not 2400


def test_float_amounts_are_taken_at_their_decimal_value(directory: Directory) -> None:
    e = engine(directory, {"action": "BLOCK", "amount": {"min": "0.3", "currency": "NATIVE"}}, ALLOW_ALL)
    assert e.decide(tx(amount=0.3)).rule == 1  # 0.3 is not above 0.3, whatever binary floats say


def test_missing_price_is_a_clear_error_unless_the_threshold_is_zero(directory: Directory) -> None:
    e = engine(directory, {"action": "ALLOW", "amount": {"min": 10, "currency": "USD"}})
    with pytest.raises(PriceError, match=r"no USD price for asset 'DOGE'") as info:
        e.decide(tx(asset="DOGE"))
    assert info.value.field == "workspace.prices_usd.DOGE"
    assert engine(directory, ALLOW_ALL).decide(tx(asset="DOGE")).status == "PENDING_SIGNATURE"


@pytest.mark.parametrize("operation", ["CONTRACT_CALL", "TYPED_MESSAGE", "RAW", "APPROVE"])
def test_zero_value_operation_is_allowed_by_a_minimum_zero_rule(directory: Directory, operation: str) -> None:
    """An ERC-20 transfer() is a contract call of 0 ETH: a $0 rule must be able to allow it."""
    decision = engine(directory, ALLOW_ALL).decide(tx(amount=0, operation=operation))
    assert (decision.rule, decision.status) == (0, "PENDING_SIGNATURE")


def test_a_transfer_of_nothing_matches_a_zero_rule_only_with_at_least(directory: Directory) -> None:
    """ "Greater than $0" (the HA page's $0 rules) for transfers, unless the workspace says "at-least"."""
    assert engine(directory, ALLOW_ALL).decide(tx(amount=0)).status == "BLOCKED"
    policy = load_policy({"rules": [ALLOW_ALL], "amount_match": "at-least"}, directory, origin="t")
    assert PolicyEngine(policy, directory).decide(tx(amount=0)).rule == 0


def test_zero_amount_does_not_exceed_a_positive_minimum(directory: Directory) -> None:
    e = engine(directory, {"action": "BLOCK", "amount": {"min": 1, "currency": "USD"}}, ALLOW_ALL)
    assert e.decide(tx(amount=0, operation="CONTRACT_CALL")).rule == 1


@pytest.mark.parametrize(("match", "rule"), [("exceed", 1), ("at-least", 0)])
def test_amount_equal_to_the_minimum_follows_amount_match(
    directory: Directory, match: str, rule: int
) -> None:
    """`[policy] amount_match`: "exceed" (default) needs more than the minimum, "at-least" takes it."""
    source = {
        "rules": [{"action": "BLOCK", "amount": {"min": "0.3", "currency": "NATIVE"}}, ALLOW_ALL],
        "amount_match": match,
    }
    policy = load_policy(source, directory, origin="t")
    for evaluator in (PolicyEngine(policy, directory), ReferenceEngine(policy, directory)):
        assert evaluator.decide(tx(amount="0.3")).rule == rule
        assert evaluator.decide(tx(amount="0.31")).rule == 0


def test_unknown_amount_match_is_refused_with_a_suggestion(directory: Directory) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy({"rules": [ALLOW_ALL], "amount_match": "atleast"}, directory, origin="s.toml [policy]")
    assert info.value.field == "amount_match"
    assert "expected one of exceed, at-least, got 'atleast' (did you mean 'at-least'?)" in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "other"),
    [
        ("operation", "CONTRACT_CALL", {"operation": "TRANSFER"}),
        ("initiator", "cersei", {"initiator": "jaime"}),
        ("source", "exchange:exch-main", {"source": "vault:hot"}),
        ("destination", "wallet:partner-a", {"destination": "wallet:cold"}),
        ("destination_address", "one-time", {"destination": "wallet:cold"}),
    ],
)
def test_each_scope_field_filters(
    directory: Directory, field: str, value: str, other: dict[str, str]
) -> None:
    e = engine(directory, {"action": "BLOCK", field: value}, ALLOW_ALL)
    assert e.decide(tx(**other)).rule == 1
    matching = {"destination": "one-time:0x1"} if field == "destination_address" else {field: value}
    assert e.decide(tx(**matching)).rule == 0


def test_initiator_groups_and_fireblocks_ids_resolve_to_names(directory: Directory) -> None:
    e = engine(directory, {"action": "BLOCK", "initiator": {"groups": ["council"]}}, ALLOW_ALL)
    assert [e.decide(tx(initiator=who)).rule for who in ("tywin", "cersei", "jaime")] == [0, 0, 1]
    fb = {
        "type": "TRANSFER",
        "action": "BLOCK",
        "asset": "*",
        "amountCurrency": "USD",
        "amountScope": "SINGLE_TX",
        "amount": 0,
        "periodSec": 0,
        "operators": {"users": ["u-jaime"]},
    }
    e = PolicyEngine(load_policy({"rules": [fb]}, directory, origin="fb"), directory)
    assert e.decide(tx(initiator="jaime")).rule == 0


def test_wildcard_ids_and_subtypes_match_by_type(directory: Directory) -> None:
    e = engine(directory, {"action": "BLOCK", "destination": ["wallet:*", "exchange:exch-main"]}, ALLOW_ALL)
    assert [
        e.decide(tx(destination=d)).rule for d in ("wallet:partner-a", "exchange:exch-main", "vault:0")
    ] == [0, 0, 1]


# -- amount over time ---------------------------------------------------------------------------------


def limit(window: str = "1h", per: list[str] | None = None, usd: float = 10000) -> dict[str, Any]:
    return {
        "action": "BLOCK",
        "amount": {"min": usd, "currency": "USD"},
        "over": {"window": window, "per": per or []},
    }


def run(e: PolicyEngine, *txs: Any) -> list[int | None]:
    return [e.decide_and_record(t).rule for t in txs]


def test_window_total_includes_the_transaction_and_must_exceed_the_minimum(directory: Directory) -> None:
    e = engine(directory, limit(usd=9000), ALLOW_ALL)
    # 3000 USD each: totals 3000, 6000, 9000 (not above), 12000 (above)
    assert run(e, *(tx(at=float(i)) for i in range(4))) == [1, 1, 1, 0]


def test_window_rolls(directory: Directory) -> None:
    e = engine(directory, limit(window="10s", usd=6000), ALLOW_ALL)
    # an entry at h counts at t when t - 10 < h <= t
    assert run(e, tx(at=0.0), tx(at=5.0), tx(at=10.0), tx(at=15.0), tx(at=30.0)) == [1, 1, 1, 1, 1]
    e = engine(directory, limit(window="10s", usd=6000), ALLOW_ALL)
    assert run(e, tx(at=0.0), tx(at=5.0), tx(at=9.9)) == [1, 1, 0]


def test_blocked_and_failed_transactions_do_not_count(directory: Directory) -> None:
    e = engine(
        directory,
        {"action": "BLOCK", "asset": "BTC"},
        {"action": "ALLOW", "source": "exchange:*", "designated_signers": {"groups": ["group-1"]}},
        limit(usd=5000),
        ALLOW_ALL,
    )
    results = [
        e.decide_and_record(t) for t in (tx(asset="BTC"), tx(source="exchange:exch-main"), tx(), tx(at=1.0))
    ]
    assert [(d.rule, d.status) for d in results] == [
        (0, "BLOCKED"),
        (1, "FAILED"),
        (3, "PENDING_SIGNATURE"),
        (2, "BLOCKED"),  # 3000 + 3000: the BTC and the failed exchange transfer were not counted
    ]


def test_transactions_count_toward_every_rule_whatever_rule_they_matched(directory: Directory) -> None:
    e = engine(directory, limit(usd=5000), {"action": "ALLOW", "designated_signers": "signer-a"})
    decisions = [e.decide_and_record(t) for t in (tx(at=0.0), tx(at=1.0))]
    assert [d.rule for d in decisions] == [1, 0]


def test_a_rule_totals_only_transactions_in_its_scope(directory: Directory) -> None:
    e = engine(directory, {**limit(usd=5000), "source": "vault:hot"}, ALLOW_ALL)
    assert run(e, tx(source="vault:0"), tx(source="vault:0", at=1.0), tx(at=2.0), tx(at=3.0)) == [1, 1, 1, 0]


@pytest.mark.parametrize(
    ("per", "expected"),
    [
        ([], [1, 0, 0]),
        (["initiator"], [1, 1, 0]),
        (["source"], [1, 0, 1]),
        (["initiator", "source"], [1, 1, 1]),
    ],
)
def test_aggregation_splits_totals_per_entity(
    directory: Directory, per: list[str], expected: list[int]
) -> None:
    """PER_SINGLE_MATCH keeps an entity's total apart; ACROSS_ALL_MATCHES sums over all of them."""
    e = engine(directory, limit(usd=5000, per=per), ALLOW_ALL)
    assert run(e, tx(at=0.0), tx(initiator="cersei", at=1.0), tx(source="vault:0", at=2.0)) == expected


def test_fireblocks_timeframe_and_aggregation_fields(directory: Directory) -> None:
    rule = {
        "type": "TRANSFER",
        "action": "BLOCK",
        "asset": "*",
        "amountCurrency": "USD",
        "amountScope": "TIMEFRAME",
        "amount": "5000",
        "periodSec": 60,
        "amountAggregation": {
            "operators": "PER_SINGLE_MATCH",
            "srcTransferPeers": "ACROSS_ALL_MATCHES",
            "dstTransferPeers": "ACROSS_ALL_MATCHES",
        },
    }
    catch_all = {**rule, "action": "ALLOW", "amountScope": "SINGLE_TX", "amount": "0", "periodSec": 0}
    del catch_all["amountAggregation"]
    e = PolicyEngine(load_policy({"rules": [rule, catch_all]}, directory, origin="fb"), directory)
    assert run(e, tx(at=0.0), tx(initiator="cersei", at=1.0), tx(source="vault:0", at=2.0), tx(at=70.0)) == [
        1,
        1,
        0,
        1,
    ]


def test_native_totals_never_add_different_assets(directory: Directory) -> None:
    e = engine(
        directory,
        {"action": "BLOCK", "amount": {"min": 1.5, "currency": "NATIVE"}, "over": {"window": "1h"}},
        ALLOW_ALL,
    )
    assert run(e, tx(asset="ETH"), tx(asset="BTC", at=1.0), tx(asset="ETH", at=2.0)) == [1, 1, 0]


def test_decide_and_record_keep_time_order(directory: Directory) -> None:
    e = engine(directory, ALLOW_ALL)
    e.decide_and_record(tx(at=10.0))
    with pytest.raises(ValueError, match=r"earlier than one already decided or recorded at 10\.0 s"):
        e.decide(tx(at=5.0))
    later = e.decide(tx(at=20.0))
    with pytest.raises(ValueError, match=r"earlier than one already decided or recorded at 20\.0 s"):
        e.record(tx(at=15.0), later)


def test_deciding_alone_never_loses_window_entries(directory: Directory) -> None:
    e = engine(directory, limit(window="10s", usd=5000), ALLOW_ALL)
    e.decide_and_record(tx(at=0.0))
    assert e.decide(tx(at=5.0)).rule == 0  # 3000 + 3000 inside the window; not recorded
    assert e.decide(tx(at=9.0)).rule == 0  # the entry at 0 still counts
    assert e.decide(tx(at=10.0)).rule == 1  # and now it has left the window


# -- signers and approvers ----------------------------------------------------------------------------


def test_designated_signers_resolve_users_then_group_members_without_repeats(directory: Directory) -> None:
    rule = {"action": "ALLOW", "designated_signers": {"users": ["bot", "signer-b"], "groups": ["group-1"]}}
    assert engine(directory, rule).decide(tx()).designated_signers == (
        "bot",
        "signer-b",
        "signer-a",
        "signer-c",
    )


def test_no_designated_signer_means_the_initiator(directory: Directory) -> None:
    assert engine(directory, ALLOW_ALL).decide(tx(initiator="signer-a")).designated_signers == ("signer-a",)


def test_an_initiator_who_cannot_sign_needs_a_designated_signer(directory: Directory) -> None:
    decision = engine(directory, ALLOW_ALL).decide(tx(initiator="ops"))
    assert (decision.status, decision.sub_status, decision.designated_signers) == (
        "FAILED",
        "SIGNER_NOT_FOUND",
        ("ops",),
    )
    signed = engine(directory, {"action": "ALLOW", "designated_signers": "bot"}).decide(tx(initiator="ops"))
    assert (signed.status, signed.designated_signers) == ("PENDING_SIGNATURE", ("bot",))


@pytest.mark.parametrize("source", ["exchange:exch-main", "fiat:bank-usd"])
@pytest.mark.parametrize(
    ("signers", "fails"),
    [
        ({"groups": ["group-1"]}, True),
        (["signer-a", "signer-b"], True),
        ("signer-a", False),
        ({"users": ["signer-a", "signer-a"]}, False),
    ],
)
def test_exchange_or_fiat_source_with_a_group_or_several_signers_fails(
    directory: Directory, source: str, signers: Any, fails: bool
) -> None:
    decision = engine(directory, {"action": "ALLOW", "designated_signers": signers}).decide(tx(source=source))
    assert (decision.status == "FAILED") is fails
    if fails:
        assert decision.sub_status == "SIGNER_NOT_FOUND"
        assert decision.rule == 0


def test_two_tier_carries_resolved_approval_groups(directory: Directory) -> None:
    rule = {
        "action": "2-TIER",
        "approvers": {
            "groups": [{"users": ["jaime"], "groups": ["council"], "threshold": 2}, {"users": ["varys"]}],
            "logic": "OR",
            "allow_operator_as_authorizer": True,
        },
    }
    decision = engine(directory, rule).decide(tx(initiator="cersei"))
    assert decision.status == "PENDING_AUTHORIZATION"
    assert decision.approvers is not None
    assert decision.approvers.to_json() == {
        "logic": "OR",
        "allow_operator_as_authorizer": True,
        "groups": [
            {"members": ["jaime", "tywin", "cersei"], "threshold": 2},
            {"members": ["varys"], "threshold": 1},
        ],
    }


def test_engine_refuses_a_policy_that_would_not_publish(directory: Directory) -> None:
    policy = load_policy(
        {"rules": [{"action": "ALLOW", "designated_signers": "nobody"}]}, directory, origin="p.toml"
    )
    with pytest.raises(PolicyError) as info:
        PolicyEngine(policy, directory)
    assert (info.value.origin, info.value.rule_index, info.value.field) == ("p.toml", 0, "designated_signers")
    assert "not publishable" in str(info.value) and "'nobody'" in str(info.value)


def test_reference_engine_agrees_on_the_worked_examples_above(directory: Directory) -> None:
    rules = [
        limit(usd=5000, per=["source"]),
        {"action": "ALLOW", "designated_signers": {"groups": ["group-1"]}},
    ]
    policy = load_policy({"rules": rules}, directory, origin="t")
    fast, slow = PolicyEngine(policy, directory), ReferenceEngine(policy, directory)
    for t in (tx(), tx(source="exchange:exch-main", at=1.0), tx(at=2.0), tx(at=3.0, source="vault:0")):
        expected = slow.decide(t)
        assert fast.decide(t) == expected
        fast.record(t, expected)
        slow.record(t, expected)


def test_amount_over_time_survives_a_publish(directory: Directory) -> None:
    """tap-policy.md 2.3: every counted transaction in the window counts toward the new rules; a publish
    (of the same policy or another) does not reset the totals and let a second limit's worth through."""
    first = engine(directory, limit(usd=9000), ALLOW_ALL)
    assert run(first, tx(at=0.0), tx(at=1.0)) == [1, 1]  # 6000 USD so far
    again = PolicyEngine(first.policy, directory, history=first.history)
    assert run(again, tx(at=2.0), tx(at=3.0)) == [1, 0]  # 9000 (not above), then 12000: blocked
    other = load_policy({"rules": [limit(usd=10000), ALLOW_ALL]}, directory, origin="other")
    after = PolicyEngine(other, directory, history=again.history)
    assert run(after, tx(at=4.0)) == [0]  # 9000 counted before (the blocked one not) + 3000 > 10000


def test_carried_totals_still_roll_out_of_the_window(directory: Directory) -> None:
    first = engine(directory, limit(window="10s", usd=6000), ALLOW_ALL)
    assert run(first, tx(at=0.0), tx(at=5.0)) == [1, 1]
    after = PolicyEngine(first.policy, directory, history=first.history)
    assert run(after, tx(at=12.0)) == [1]  # the entry at 0 s left the window: 6000, not above


def test_a_publish_without_windows_keeps_no_history(directory: Directory) -> None:
    e = engine(directory, ALLOW_ALL)
    run(e, *(tx(at=float(i)) for i in range(100)))
    assert not e.history.entries
