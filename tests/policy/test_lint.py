"""Lint warnings: each one, and its absence where the policy is right."""

from __future__ import annotations

from typing import Any

from cosigner_ha.policy import Directory, lint, load_policy

from .support import TOPOLOGY

CATCH_ALL = {"action": "BLOCK"}


def warnings(
    directory: Directory, *rules: dict[str, Any], topology: Any = None
) -> list[tuple[str, int | None]]:
    policy = load_policy({"rules": list(rules)}, directory, origin="t")
    return [(f.code, f.rule) for f in lint(policy, directory, topology) if f.severity == "warning"]


def test_clean_policy_has_no_findings(directory: Directory) -> None:
    assert warnings(directory, {"action": "ALLOW", "asset": "BTC"}, CATCH_ALL) == []


def test_validation_errors_come_first_as_errors(directory: Directory) -> None:
    policy = load_policy(
        {"rules": [{"action": "ALLOW", "asset": "BTC", "designated_signers": "ghost"}, CATCH_ALL]},
        directory,
        origin="t",
    )
    found = lint(policy, directory)
    assert [(f.severity, f.code, f.rule, f.field) for f in found] == [
        ("error", "UNKNOWN_USER", 0, "designated_signers")
    ]


def test_exchange_source_with_a_group(directory: Directory) -> None:
    rule = {"action": "ALLOW", "source": "exchange:exch-main", "designated_signers": {"groups": ["group-1"]}}
    assert warnings(directory, rule, CATCH_ALL) == [("EXCHANGE_FIAT_MULTIPLE_SIGNERS", 0)]


def test_fiat_reachable_through_a_wildcard_source_with_several_signers(directory: Directory) -> None:
    rule = {"action": "ALLOW", "designated_signers": ["signer-a", "signer-b"]}
    exchange_only_above = {"action": "BLOCK", "source": "exchange:*"}
    policy = load_policy({"rules": [exchange_only_above, rule, CATCH_ALL]}, directory, origin="t")
    (finding,) = [f for f in lint(policy, directory) if f.code == "EXCHANGE_FIAT_MULTIPLE_SIGNERS"]
    assert finding.rule == 1 and "from fiat accounts" in finding.message


def test_single_signer_or_vault_only_source_is_fine(directory: Directory) -> None:
    assert (
        warnings(
            directory,
            {"action": "ALLOW", "source": "exchange:*", "designated_signers": "signer-a"},
            CATCH_ALL,
        )
        == []
    )
    vault = {"action": "ALLOW", "source": "vault:*", "designated_signers": {"groups": ["group-1"]}}
    assert warnings(directory, vault, CATCH_ALL) == []


def test_rule_shadowed_by_a_broader_rule_above(directory: Directory) -> None:
    broad = {"action": "ALLOW", "source": "vault:*"}
    narrow = {"action": "BLOCK", "source": "vault:hot", "asset": "BTC", "amount": {"min": 1000}}
    assert warnings(directory, broad, narrow, CATCH_ALL) == [("SHADOWED_RULE", 1)]


def test_rule_hidden_piecewise_by_rules_covering_each_source(directory: Directory) -> None:
    rules = [
        {"action": "ALLOW", "source": "vault:*"},
        {"action": "ALLOW", "source": "exchange:*"},
        {"action": "BLOCK", "source": ["vault:hot", "exchange:exch-main"]},
        CATCH_ALL,
    ]
    assert warnings(directory, *rules) == [("SHADOWED_RULE", 2)]


def test_narrower_amount_ranges_and_scopes_are_not_shadowed(directory: Directory) -> None:
    rules = [
        {"action": "BLOCK", "amount": {"min": 1000, "currency": "USD"}},
        {"action": "ALLOW", "amount": {"min": 10, "currency": "USD"}},  # 10 < x <= 1000 still reach it
        {"action": "ALLOW", "amount": {"min": 5000, "currency": "EUR"}},  # another currency: not judged
        {"action": "ALLOW", "initiator": "jaime"},
        {"action": "ALLOW", "initiator": ["jaime", "cersei"]},
        CATCH_ALL,
    ]
    assert warnings(directory, *rules) == []


def test_higher_minimum_in_the_same_currency_is_shadowed(directory: Directory) -> None:
    rules = [
        {"action": "BLOCK", "amount": {"min": 1000}},
        {"action": "ALLOW", "amount": {"min": 2000, "max": 5000}},
        CATCH_ALL,
    ]
    assert warnings(directory, *rules) == [("SHADOWED_RULE", 1)]


def test_amount_over_time_rule_below_a_single_transaction_rule(directory: Directory) -> None:
    rules = [
        {"action": "ALLOW", "source": "vault:*", "designated_signers": {"groups": ["group-1"]}},
        {"action": "BLOCK", "source": "vault:hot", "amount": {"min": 100000}, "over": {"window": "24h"}},
        CATCH_ALL,
    ]
    assert warnings(directory, *rules) == [("AOT_SHADOWED_BY_SINGLE_TX", 1)]
    assert warnings(directory, rules[1], rules[0], CATCH_ALL) == []  # the recommended order


def test_wider_amount_over_time_rule_shadows_a_narrower_one(directory: Directory) -> None:
    rules = [
        {"action": "BLOCK", "amount": {"min": 1000}, "over": {"window": "24h"}},
        {"action": "BLOCK", "amount": {"min": 5000}, "over": {"window": "1h", "per": ["initiator"]}},
        {"action": "BLOCK", "amount": {"min": 5000}, "over": {"window": "48h"}},
        CATCH_ALL,
    ]
    assert warnings(directory, *rules) == [("SHADOWED_RULE", 1)]


def test_no_catch_all_rule_at_the_end(directory: Directory) -> None:
    assert warnings(directory, {"action": "ALLOW", "asset": "BTC"}) == [("NO_CATCH_ALL", 0)]
    assert warnings(directory) == [("NO_CATCH_ALL", None)]
    per_operation = {
        "action": "2-TIER",
        "operation": "TRANSFER",
        "approvers": {"groups": [{"users": ["tywin"]}]},
    }
    assert warnings(directory, per_operation) == []


def test_signers_no_node_serves_or_only_one_node_serves(directory: Directory) -> None:
    unserved = {"action": "ALLOW", "source": "vault:0", "designated_signers": "bot"}
    single = {"action": "ALLOW", "source": "vault:hot", "designated_signers": ["signer-a", "bot"]}
    ha = {"action": "ALLOW", "source": "vault:treasury", "designated_signers": {"groups": ["group-1"]}}
    console = {"action": "ALLOW", "asset": "BTC", "designated_signers": "jaime"}
    found = warnings(directory, unserved, single, ha, console, CATCH_ALL, topology=TOPOLOGY)
    assert found == [
        ("SIGNER_NOT_SERVED", 0),
        ("SIGNER_NOT_SERVED", 1),
        ("NO_HIGH_AVAILABILITY", 1),
    ]


def test_topology_is_only_judged_when_given(directory: Directory) -> None:
    assert warnings(directory, {"action": "ALLOW", "designated_signers": "bot"}) == []


def test_ignored_approvers_and_signers(directory: Directory) -> None:
    rules = [
        {"action": "ALLOW", "asset": "BTC", "approvers": {"groups": [{"users": ["tywin"]}]}},
        {"action": "BLOCK", "asset": "ETH", "designated_signers": "signer-a"},
        CATCH_ALL,
    ]
    assert warnings(directory, *rules) == [("APPROVERS_IGNORED", 0), ("SIGNERS_IGNORED", 1)]


def test_native_threshold_on_any_asset(directory: Directory) -> None:
    rule = {"action": "BLOCK", "amount": {"min": 1, "currency": "NATIVE"}}
    assert warnings(directory, rule, CATCH_ALL) == [("NATIVE_AMOUNT_ANY_ASSET", 0)]


def test_named_initiator_who_cannot_sign_without_designated_signer(directory: Directory) -> None:
    assert warnings(directory, {"action": "ALLOW", "initiator": "ops"}, CATCH_ALL) == [
        ("INITIATOR_CANNOT_SIGN", 0)
    ]


def test_findings_serialise_for_json(directory: Directory) -> None:
    policy = load_policy({"rules": [{"action": "ALLOW", "asset": "BTC"}]}, directory, origin="t")
    (finding,) = lint(policy, directory)
    assert finding.to_dict() == {
        "severity": "warning",
        "code": "NO_CATCH_ALL",
        "rule": 0,
        "field": None,
        "message": finding.message,
    }
