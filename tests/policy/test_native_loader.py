"""The native rule form: what each key accepts, and a clear error for every bad value."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cosigner_ha.policy import Directory, PolicyError, load_policy
from cosigner_ha.policy.model import AmountRange, ApproverGroup, Initiators, PeerPattern, Signers, Window


def rule(directory: Directory, **fields: Any) -> Any:
    return load_policy({"rules": [{"action": "ALLOW", **fields}]}, directory, origin="p.toml").rules[0]


def test_omitted_keys_match_anything(directory: Directory) -> None:
    r = rule(directory)
    assert (r.operations, r.asset, r.source, r.destination, r.address_type, r.window) == (None,) * 6
    assert r.initiators == Initiators() and r.signers == Signers()
    assert r.amount == AmountRange(Decimal(0), None, "USD")


def test_every_key(directory: Directory) -> None:
    r = rule(
        directory,
        initiator={"users": ["u-jaime"], "groups": ["council"], "services": ["svc"]},
        operation=["TRANSFER", "RAW"],
        source=["vault:*", "exchange:exch-main", "fiat:bank-usd"],
        destination=["wallet:cold", "one-time:*"],
        destination_address="one-time",
        asset="BTC",
        amount={"min": "0.5", "max": 2, "currency": "NATIVE"},
        over={"window": "1h30m", "per": ["initiator", "destination"]},
        approvers={"groups": [{"users": ["tywin"], "groups": ["council"], "threshold": 2}], "logic": "OR"},
        designated_signers={"users": ["a-signer-a"], "groups": ["g-1"]},
        description="hot wallet limit",
    )
    assert r.initiators == Initiators(False, ("jaime",), ("council",), ("svc",))  # ids resolve to names
    assert r.operations == ("TRANSFER", "RAW")
    assert r.source == (
        PeerPattern("VAULT", None),
        PeerPattern("EXCHANGE", "exch-main"),
        PeerPattern("FIAT_ACCOUNT", "bank-usd"),
    )
    assert r.destination == (
        PeerPattern("UNMANAGED", "cold", "EXTERNAL"),
        PeerPattern("ONE_TIME_ADDRESS", None),
    )
    assert (r.address_type, r.asset) == ("one-time", "BTC")
    assert r.amount == AmountRange(Decimal("0.5"), Decimal(2), "NATIVE")
    assert r.window == Window(5400.0, per_initiator=True, per_destination=True)
    assert r.approvers.groups == (ApproverGroup(("tywin",), ("council",), 2),) and r.approvers.logic == "OR"
    assert r.signers == Signers(("signer-a",), ("group-1",))
    assert r.description == "hot wallet limit"


def test_short_forms(directory: Directory) -> None:
    r = rule(
        directory, initiator="jaime", operation="STAKE", source="vault:hot", designated_signers="signer-a"
    )
    assert r.initiators.users == ("jaime",) and r.operations == ("STAKE",)
    assert r.source == (PeerPattern("VAULT", "hot"),) and r.signers.users == ("signer-a",)
    assert rule(directory, over={"window": 90}).window.seconds == 90.0
    assert rule(directory, source=["vault:hot", "*"]).source is None


BAD = [
    (
        {"actoin": "ALLOW"},
        "actoin",
        "unknown key (did you mean 'action'?); expected one of initiator, operation",
    ),
    ({"action": "PERMIT"}, "action", "expected one of ALLOW, BLOCK, 2-TIER, got 'PERMIT'"),
    ({"operation": "SWAP"}, "operation", "expected one of TRANSFER, CONTRACT_CALL"),
    ({"operation": ["TRANSFER", "SWAP"]}, "operation[1]", "got 'SWAP'"),
    ({"operation": []}, "operation", "non-empty list of operations"),
    ({"asset": 5}, "asset", "expected a non-empty string, got 5"),
    ({"initiator": 5}, "initiator", 'expected "*", a user name, a list of names'),
    (
        {"initiator": {"people": ["x"]}},
        "initiator.people",
        "unknown key; expected one of users, groups, services",
    ),
    ({"initiator": {"users": "jaime"}}, "initiator.users", "expected a list of strings, got 'jaime'"),
    ({"source": "vault"}, "source", 'expected "*" or vault:<id> | exchange:<id>'),
    ({"source": ["vault:hot", "bank:x"]}, "source[1]", "got 'bank:x'"),
    ({"destination": "wallet:"}, "destination", "got 'wallet:'"),
    ({"destination_address": "maybe"}, "destination_address", "expected one of whitelisted, one-time, *"),
    ({"amount": 5}, "amount", "expected a table/object with keys among min, max, currency, got 5"),
    ({"amount": {"min": "abc"}}, "amount.min", "expected a number, got 'abc'"),
    ({"amount": {"min": -1}}, "amount.min", "expected a number >= 0, got -1"),
    ({"amount": {"max": float("nan")}}, "amount.max", "expected a finite number"),
    ({"amount": {"currency": "GBP"}}, "amount.currency", "expected one of USD, EUR, NATIVE, got 'GBP'"),
    ({"amount": {"minimum": 1}}, "amount.minimum", "unknown key"),
    ({"over": "24h"}, "over", "expected a table/object with keys among window, per"),
    ({"over": {}}, "over.window", 'required: a duration such as "24h"'),
    ({"over": {"window": "soon"}}, "over.window", "expected a duration such as '250ms'"),
    ({"over": {"window": True}}, "over.window", "got true"),
    (
        {"over": {"window": "1h", "per": ["asset"]}},
        "over.per[0]",
        "expected one of initiator, source, destination",
    ),
    ({"approvers": []}, "approvers", "expected a table/object"),
    ({"approvers": {"groups": {"users": []}}}, "approvers.groups", "expected a list of { users = [...]"),
    ({"approvers": {"groups": [{"user": ["tywin"]}]}}, "approvers.groups[0].user", "unknown key"),
    (
        {"approvers": {"groups": [{"users": ["tywin"], "threshold": "2"}]}},
        "approvers.groups[0].threshold",
        "whole number",
    ),
    (
        {"approvers": {"groups": [{"users": ["tywin"], "threshold": 1.5}]}},
        "approvers.groups[0].threshold",
        "whole number",
    ),
    ({"approvers": {"groups": [], "logic": "XOR"}}, "approvers.logic", "expected one of AND, OR, got 'XOR'"),
    (
        {"approvers": {"groups": [], "allow_operator_as_authorizer": "yes"}},
        "approvers.allow_operator_as_authorizer",
        "true or false",
    ),
    ({"designated_signers": 7}, "designated_signers", "expected a name, a list of names"),
    (
        {"designated_signers": {"group": ["g"]}},
        "designated_signers.group",
        "unknown key (did you mean 'groups'?); expected one of users, groups",
    ),
    ({"designated_signers": ["ok", ""]}, "designated_signers[1]", "expected a non-empty string, got ''"),
    ({"description": 5}, "description", "expected a non-empty string"),
]


@pytest.mark.parametrize(("fields", "field", "message"), BAD, ids=[b[1] for b in BAD])
def test_bad_values_name_file_rule_and_field(
    directory: Directory, fields: dict[str, Any], field: str, message: str
) -> None:
    rules = [{"action": "ALLOW", "asset": "BTC"}, {"action": "ALLOW", **fields}]
    with pytest.raises(PolicyError) as info:
        load_policy({"rules": rules}, directory, origin="p.toml")
    error = info.value
    assert (error.origin, error.rule_index, error.field) == ("p.toml", 1, field)
    assert message in str(error)
    assert str(error).startswith(f"p.toml, rule 1, field '{field}': ")


def test_a_rule_that_is_not_a_table(directory: Directory) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy({"rules": [{"action": "ALLOW"}, "ALLOW"]}, directory, origin="p.toml")
    assert (info.value.rule_index, info.value.field) == (1, None)
    assert str(info.value) == "p.toml, rule 1: expected a rule table/object, got 'ALLOW'"
