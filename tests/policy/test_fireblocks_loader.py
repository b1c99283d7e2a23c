"""The exported Fireblocks v1 rule: every field, deprecated fields onto their successors, clear errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cosigner_ha.policy import Directory, PolicyEngine, PolicyError, load_policy
from cosigner_ha.policy.model import (
    AmountRange,
    ApproverGroup,
    Approvers,
    Initiators,
    PeerPattern,
    RawMessageSigning,
    Signers,
    Window,
)

from .support import tx

BASE: dict[str, Any] = {
    "type": "TRANSFER",
    "action": "ALLOW",
    "asset": "*",
    "amountCurrency": "USD",
    "amountScope": "SINGLE_TX",
    "amount": "0",
    "periodSec": 0,
}


def rule(directory: Directory, **fields: Any) -> Any:
    policy = load_policy({"rules": [{**BASE, **fields}]}, directory, origin="export.json")
    assert policy.form == "fireblocks"
    return policy.rules[0]


def test_every_current_field(directory: Directory) -> None:
    r = rule(
        directory,
        transactionType="CONTRACT_CALL",
        action="2-TIER",
        asset="ETH",
        operators={"users": ["u-jaime"], "usersGroups": ["council"], "services": ["svc-1"]},
        designatedSigners={"users": ["a-signer-a"], "usersGroups": ["g-1"]},
        src={"ids": [["hot", "VAULT"], ["*", "EXCHANGE", "*"]]},
        dst={"ids": [["partner-a", "UNMANAGED", "EXTERNAL"], ["*", "ONE_TIME_ADDRESS"]]},
        dstAddressType="ONE_TIME",
        amountCurrency="EUR",
        amountScope="TIMEFRAME",
        amount=1500.5,
        periodSec=86400,
        amountAggregation={
            "operators": "PER_SINGLE_MATCH",
            "srcTransferPeers": "ACROSS_ALL_MATCHES",
            "dstTransferPeers": "PER_SINGLE_MATCH",
        },
        authorizationGroups={
            "logic": "OR",
            "allowOperatorAsAuthorizer": True,
            "groups": [{"users": ["u-tywin"], "usersGroups": ["council"], "th": 2}, {"users": ["u-jaime"]}],
        },
        rawMessageSigning={"algorithm": "MPC_ECDSA_SECP256K1", "derivationPath": {"path": [44, 0, 0, 0, 0]}},
        applyForTypedMessage=True,
        externalDescriptor="rule-7",
    )
    assert r.operations == ("CONTRACT_CALL", "TYPED_MESSAGE")
    assert r.asset == "ETH" and r.action == "2-TIER"
    assert r.initiators == Initiators(False, ("jaime",), ("council",), ("svc-1",))
    assert r.signers == Signers(("signer-a",), ("group-1",))
    assert r.source == (PeerPattern("VAULT", "hot"), PeerPattern("EXCHANGE"))
    assert r.destination == (
        PeerPattern("UNMANAGED", "partner-a", "EXTERNAL"),
        PeerPattern("ONE_TIME_ADDRESS"),
    )
    assert r.address_type == "one-time"
    assert r.amount == AmountRange(Decimal("1500.5"), None, "EUR")
    assert r.window == Window(86400.0, per_initiator=True, per_source=False, per_destination=True)
    assert r.approvers == Approvers(
        (ApproverGroup(("tywin",), ("council",), 2), ApproverGroup(("jaime",), (), 1)), "OR", True
    )
    assert r.raw_message_signing == RawMessageSigning("MPC_ECDSA_SECP256K1", (44, 0, 0, 0, 0))
    assert r.description == "rule-7" and r.missing == ()


def test_apply_for_approve_adds_the_approve_operation(directory: Directory) -> None:
    assert rule(directory, applyForApprove=True).operations == ("TRANSFER", "APPROVE")


def test_wildcards_mean_any(directory: Directory) -> None:
    r = rule(
        directory,
        operators={"wildcard": "*"},
        src={"ids": [["*"]]},
        dst={"ids": [["*", "*", "*"]]},
        dstAddressType="*",
    )
    assert (r.initiators, r.source, r.destination, r.address_type, r.asset) == (
        Initiators(),
        None,
        None,
        None,
        None,
    )


def test_exports_write_null_for_unset_fields(directory: Directory) -> None:
    r = rule(
        directory, operator=None, designatedSigner=None, authorizationGroups=None, amountAggregation=None
    )
    assert r.initiators == Initiators() and r.approvers is None


def test_euro_is_read_as_eur(directory: Directory) -> None:
    assert rule(directory, amountCurrency="EURO").amount.currency == "EUR"


def test_timeframe_without_aggregation_totals_across_all_matches(directory: Directory) -> None:
    assert rule(directory, amountScope="TIMEFRAME", periodSec=60).window == Window(60.0)


# -- deprecated fields ---------------------------------------------------------------------------------


def test_deprecated_fields_map_onto_their_replacements(directory: Directory) -> None:
    r = rule(
        directory,
        action="2-TIER",
        operator="u-jaime",
        designatedSigner="a-signer-b",
        srcType="VAULT",
        srcId="hot",
        dstType="UNMANAGED",
        dstSubType="EXTERNAL",
        dstId="*",
        authorizers=["u-tywin", "u-cersei"],
        authorizersCount=2,
    )
    assert r.initiators == Initiators(False, ("jaime",))
    assert r.signers == Signers(("signer-b",))
    assert r.source == (PeerPattern("VAULT", "hot"),)
    assert r.destination == (PeerPattern("UNMANAGED", None, "EXTERNAL"),)
    assert r.approvers == Approvers((ApproverGroup(("tywin", "cersei"), (), 2),))


def test_deprecated_wildcard_operator_and_empty_values_are_neutral(directory: Directory) -> None:
    r = rule(
        directory,
        operator="*",
        designatedSigner="",
        srcType="*",
        srcId="",
        authorizers=[],
        authorizersCount=0,
    )
    assert (r.initiators, r.signers, r.source, r.approvers) == (Initiators(), Signers(), None, None)


def test_deprecated_fields_that_agree_with_their_replacements_are_accepted(directory: Directory) -> None:
    r = rule(
        directory,
        action="2-TIER",
        operator="u-jaime",
        operators={"users": ["u-jaime", "u-cersei"]},
        designatedSigner="a-signer-a",
        designatedSigners={"users": ["a-signer-a"]},
        srcType="VAULT",
        srcId="hot",
        src={"ids": [["hot", "VAULT"], ["0", "VAULT"]]},
        authorizers=["u-tywin"],
        authorizersCount=1,
        authorizationGroups={"groups": [{"users": ["u-tywin"], "th": 1}]},
    )
    assert r.initiators.users == ("jaime", "cersei") and r.source == (
        PeerPattern("VAULT", "hot"),
        PeerPattern("VAULT", "0"),
    )


def test_deprecated_source_decides_like_its_replacement(directory: Directory) -> None:
    old = load_policy(
        {"rules": [{**BASE, "srcType": "EXCHANGE", "action": "BLOCK"}, BASE]}, directory, origin="o"
    )
    new = load_policy(
        {"rules": [{**BASE, "src": {"ids": [["*", "EXCHANGE"]]}, "action": "BLOCK"}, BASE]},
        directory,
        origin="n",
    )
    for source in ("exchange:exch-main", "vault:hot", "fiat:bank-usd"):
        t = tx(source=source)
        assert PolicyEngine(old, directory).decide(t) == PolicyEngine(new, directory).decide(t)


BAD = [
    ({"type": "CONTRACT_CALL"}, "type", "expected one of TRANSFER, got 'CONTRACT_CALL'"),
    ({"transactionType": "SWAP"}, "transactionType", "expected one of TRANSFER, CONTRACT_CALL, APPROVE"),
    ({"action": "allow"}, "action", "expected one of ALLOW, BLOCK, 2-TIER"),
    ({"asset": 3}, "asset", "expected a non-empty string"),
    ({"foo": 1}, "foo", "unknown key; expected one of type, action, asset"),
    ({"operators": {"wildcard": "any"}}, "operators.wildcard", "expected one of *, got 'any'"),
    ({"operators": {"everyone": True}}, "operators.everyone", "unknown key"),
    ({"operators": {"users": "u-jaime"}}, "operators.users", "expected a list of strings"),
    ({"operator": 5}, "operator", "expected a non-empty string"),
    ({"operator": "u-tywin", "operators": {"users": ["u-jaime"]}}, "operator", "disagrees with operators"),
    ({"operator": "*", "operators": {"users": ["u-jaime"]}}, "operator", "disagrees with operators"),
    (
        {"designatedSigner": "a-signer-c", "designatedSigners": {"users": ["a-signer-a"]}},
        "designatedSigner",
        "is not among designatedSigners.users",
    ),
    (
        {"designatedSigners": {"type": "SINGLE"}},
        "designatedSigners.type",
        "unknown key; expected one of users, usersGroups",
    ),
    ({"src": {"ids": "*"}}, "src.ids", "expected a list of id tuples"),
    ({"src": {"ids": [[]]}}, "src.ids[0]", "expected a tuple [id], [id, type] or [id, type, subType]"),
    ({"src": {"ids": [["a", "VAULT", "*", "x"]]}}, "src.ids[0]", "expected a tuple"),
    ({"dst": {"ids": [["a", "BANK"]]}}, "dst.ids[0][1]", "expected one of EXCHANGE, UNMANAGED, VAULT"),
    (
        {"dst": {"ids": [["a", "UNMANAGED", "OTHER"]]}},
        "dst.ids[0][2]",
        "expected one of EXTERNAL, INTERNAL, CONTRACT",
    ),
    ({"dst": {"ids": [[7]]}}, "dst.ids[0][0]", "expected a non-empty string, got 7"),
    ({"src": {"ids": [["hot", "VAULT"]]}, "srcType": "EXCHANGE"}, "srcType", "is not among src.ids"),
    ({"srcType": "BANK"}, "srcType", "expected one of EXCHANGE, UNMANAGED"),
    ({"dstSubType": "OTHER"}, "dstSubType", "expected one of EXTERNAL"),
    ({"dstAddressType": "ANY"}, "dstAddressType", "expected one of WHITELISTED, ONE_TIME, *"),
    ({"amountCurrency": "GBP"}, "amountCurrency", "expected one of USD, EUR, EURO, NATIVE"),
    ({"amountScope": "DAILY"}, "amountScope", "expected one of SINGLE_TX, TIMEFRAME"),
    ({"amount": "1e"}, "amount", "expected a number, got '1e'"),
    ({"amount": -5}, "amount", "expected a number >= 0"),
    ({"amount": True}, "amount", "expected a number, got True"),
    ({"periodSec": "day"}, "periodSec", "expected a number"),
    (
        {"amountScope": "TIMEFRAME", "periodSec": 60, "amountAggregation": {"operators": "SOME"}},
        "amountAggregation.operators",
        "expected one of PER_SINGLE_MATCH, ACROSS_ALL_MATCHES",
    ),
    ({"authorizationGroups": {"logic": "XOR"}}, "authorizationGroups.logic", "expected one of AND, OR"),
    (
        {"authorizationGroups": {"groups": [{"users": ["u-tywin"], "th": "1"}]}},
        "authorizationGroups.groups[0].th",
        "whole number",
    ),
    (
        {"authorizationGroups": {"groups": [{"user": []}]}},
        "authorizationGroups.groups[0].user",
        "unknown key",
    ),
    ({"authorizationGroups": {"groups": {}}}, "authorizationGroups.groups", "expected a list of groups"),
    (
        {
            "authorizers": ["u-tywin"],
            "authorizersCount": 1,
            "authorizationGroups": {"groups": [{"users": ["u-cersei"]}]},
        },
        "authorizers",
        "disagree with authorizationGroups",
    ),
    ({"authorizersCount": 2}, "authorizersCount", "authorizersCount is 2 but authorizers is empty"),
    (
        {"rawMessageSigning": {"derivationPath": {"path": [44]}}},
        "rawMessageSigning.algorithm",
        "expected a non-empty string, got null",
    ),
    (
        {"rawMessageSigning": {"algorithm": "X", "derivationPath": {"path": ["44"]}}},
        "rawMessageSigning.derivationPath.path[0]",
        "whole number",
    ),
    ({"applyForApprove": "yes"}, "applyForApprove", "expected true or false"),
    ({"externalDescriptor": 5}, "externalDescriptor", "expected a non-empty string"),
]


@pytest.mark.parametrize(("fields", "field", "message"), BAD, ids=[b[1] for b in BAD])
def test_bad_values_name_file_rule_and_field(
    directory: Directory, fields: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy({"rules": [BASE, BASE, {**BASE, **fields}]}, directory, origin="export.json")
    error = info.value
    assert (error.origin, error.rule_index, error.field) == ("export.json", 2, field)
    assert message in str(error)
