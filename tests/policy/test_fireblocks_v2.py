"""The v2 policy format (the SDK's `PolicyRule`), and v1 policies built with the SDK's own models.

Workspace and documented outcomes: the seed's HA page, Method 2 (tap-policy.md section 3): Tywin
approves; vault transfers are signed by one of Group 1; a group on a rule an exchange source reaches
makes such transfers fail (FAILED / SIGNER_NOT_FOUND); no match is BLOCKED_BY_POLICY.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosigner_ha.policy import (
    Directory,
    PolicyEngine,
    PolicyError,
    ReferenceEngine,
    Transaction,
    lint,
    load_policy,
    validate,
)

from .sdk_rules import v1_policy, v1_rule, v1_to_v2
from .support import tx

# Method 2 in v1, every user and group by id (as an export names them)
METHOD_2_V1 = [
    v1_rule(action="2-TIER", src=[["*", "EXCHANGE"]], approvers=[(["u-tywin"], 1)]),
    v1_rule(action="2-TIER", src=[["*", "FIAT_ACCOUNT"]], approvers=[(["u-tywin"], 1)]),
    v1_rule(action="2-TIER", approvers=[(["u-tywin"], 1)], signer_groups=["g-1"]),
]


def method_2_v2() -> list[dict[str, Any]]:
    return [v1_to_v2(rule, i) for i, rule in enumerate(METHOD_2_V1)]


@pytest.mark.parametrize("form", ["fireblocks", "v2"])
def test_sdk_built_method_2_decides_as_documented(directory: Directory, form: str) -> None:
    source = v1_policy(*METHOD_2_V1) if form == "fireblocks" else {"rules": method_2_v2()}
    policy = load_policy(source, directory, origin=f"method-2 ({form})")
    assert policy.form == form
    assert validate(policy, directory).ok
    engine = PolicyEngine(policy, directory)
    vault = engine.decide(tx())
    assert (vault.rule, vault.status, vault.designated_signers) == (
        2,
        "PENDING_AUTHORIZATION",
        ("signer-a", "signer-b", "signer-c"),
    )
    assert vault.approvers is not None and vault.approvers.groups[0].members == ("tywin",)
    exchange = engine.decide(tx(source="exchange:exch-main"))
    assert (exchange.rule, exchange.status, exchange.designated_signers) == (
        0,
        "PENDING_AUTHORIZATION",
        ("jaime",),
    )
    fiat = engine.decide(tx(source="fiat:bank-usd", asset="USDC", amount=500))
    assert (fiat.rule, fiat.status) == (1, "PENDING_AUTHORIZATION")


@pytest.mark.parametrize("form", ["fireblocks", "v2"])
def test_a_group_on_a_rule_exchange_sources_reach_fails_them(directory: Directory, form: str) -> None:
    """Method 1's mistake (the HA page, "Exchange or fiat accounts"): such transfers fail automatically."""
    rule = v1_rule(action="ALLOW", signer_groups=["g-1"])
    source = v1_policy(rule) if form == "fireblocks" else {"rules": [v1_to_v2(rule, 0)]}
    engine = PolicyEngine(load_policy(source, directory, origin="m1"), directory)
    decision = engine.decide(tx(source="exchange:exch-main"))
    assert (decision.status, decision.sub_status) == ("FAILED", "SIGNER_NOT_FOUND")
    assert engine.decide(tx(amount=0)).status == "BLOCKED"  # a transfer of nothing is not "greater than $0"


def test_v2_block_and_no_match(directory: Directory) -> None:
    rules = [
        v1_to_v2(v1_rule(action="BLOCK", asset="BTC"), 0),
        v1_to_v2(v1_rule(action="ALLOW", asset="ETH"), 1),
    ]
    engine = PolicyEngine(load_policy({"rules": rules}, directory, origin="p"), directory)
    assert engine.decide(tx(asset="BTC")).to_json()["sub_status"] == "BLOCKED_BY_POLICY"
    assert engine.decide(tx(asset="USDC")).rule is None


def test_v2_reads_initiator_signers_and_account_types(directory: Directory) -> None:
    rule = {
        "id": "r1",
        "name": "ops to partners",
        "policyEngineVersion": "v2",
        "type": "CONTRACT_CALL",
        "initiator": {"users": ["a-ops"], "groups": [], "operator": "INCLUDES"},
        "source": {"type": ["VAULT"], "operator": "INCLUDES"},
        "destination": {
            "ids": [
                {"type": "EXTERNAL", "id": "partner-a"},
                {"type": "INTERNAL"},
                {"type": "NETWORK_CONNECTION"},
            ],
            "operator": "INCLUDES",
            "addressType": "WHITELISTED",
        },
        "verdict": {"action": "ALLOW", "designatedSigners": {"type": "SINGLE", "users": ["a-signer-a"]}},
        "amount": {"range": {"min": "0", "max": "1000"}, "currency": "USD"},
    }
    policy = load_policy({"rules": [rule]}, directory, origin="v2.json")
    (loaded,) = policy.rules
    assert (loaded.description, loaded.rule_id, loaded.operations) == (
        "ops to partners",
        "r1",
        ("CONTRACT_CALL",),
    )
    assert loaded.initiators.users == ("ops",) and loaded.signers.users == ("signer-a",)
    assert [(p.type, p.id, p.subtype) for p in loaded.destination or ()] == [
        ("UNMANAGED", "partner-a", "EXTERNAL"),
        ("UNMANAGED", None, "INTERNAL"),
        ("NETWORK_CONNECTION", None, None),
    ]
    engine = PolicyEngine(policy, directory)
    call = tx(initiator="ops", operation="CONTRACT_CALL", amount=0, destination="wallet:partner-a")
    assert engine.decide(call).designated_signers == ("signer-a",)  # a zero-value contract call
    assert engine.decide(tx(initiator="ops", operation="CONTRACT_CALL", amount=1)).rule is None  # wallet:cold


def _rule(**changes: Any) -> dict[str, Any]:
    rule = copy.deepcopy(method_2_v2()[2])
    for path, value in changes.items():
        target = rule
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    return rule


@pytest.mark.parametrize(
    ("rule", "field", "construct"),
    [
        (_rule(type="ORDER"), "type", "policy type ORDER"),
        (_rule(type="AML_CHAINALYSIS_V2_SCREENING"), "type", "policy type AML_CHAINALYSIS_V2_SCREENING"),
        (_rule(verdict__action="SCREEN"), "verdict.action", "verdict SCREEN"),
        (_rule(source__tags=[{"id": "t1"}]), "source.tags", "source.tags"),
        (_rule(asset={"nftTransfer": True}), "asset.nftTransfer", "nftTransfer = true"),
        (
            _rule(asset={"nftTransfer": False, "assetTypes": ["ETH", "BTC"]}),
            "asset.assetTypes",
            "several assets",
        ),
        (
            _rule(destination__ids=[{"type": "VAULT", "address": "0xabc"}]),
            "destination.ids[0].address",
            "matching by address",
        ),
        (_rule(initiator={"fbAdminGroups": ["x"]}), "initiator.fbAdminGroups", "initiator.fbAdminGroups"),
        (_rule(source__type=["END_USER_WALLET"]), "source.type[0]", "account type END_USER_WALLET"),
        (_rule(method={"method": "transfer"}), "method", "method"),
        (_rule(derivationPath={"path": [44]}), "derivationPath", "derivationPath"),
        (_rule(isGlobalPolicy=True), "isGlobalPolicy", "isGlobalPolicy = true"),
        (
            _rule(
                amount={"range": {"min": "10"}, "currency": "USD"},
                amountOverTime={
                    "range": {"min": "100"},
                    "currency": "USD",
                    "timePeriod": {
                        "seconds": "60",
                        "initiator": "ACROSS_ALL_MATCHES",
                        "source": "ACROSS_ALL_MATCHES",
                        "destination": "ACROSS_ALL_MATCHES",
                    },
                },
            ),
            "amount",
            "amount beside amountOverTime",
        ),
    ],
)
def test_what_the_engine_cannot_honour_is_refused_by_name_and_path(
    directory: Directory, rule: dict[str, Any], field: str, construct: str
) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy({"rules": [method_2_v2()[0], rule]}, directory, origin="export.json")
    assert (info.value.origin, info.value.rule_index, info.value.field) == ("export.json", 1, field)
    assert f"{construct}" in info.value.problem and "is not supported by this simulator" in info.value.problem


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        (
            _rule(verdict__designatedSigners={"type": "SINGLE", "users": ["a", "b"]}),
            "verdict.designatedSigners.type",
            "SINGLE names exactly one user",
        ),
        (
            _rule(verdict__designatedSigners={"type": "INITIATOR", "users": ["a"]}),
            "verdict.designatedSigners.type",
            "INITIATOR means",
        ),
        (
            _rule(verdict__approvers={"approvalGroups": []}),
            "verdict.approvers.canInitiatorApprove",
            "required",
        ),
        (
            _rule(verdict__approvers={"canInitiatorApprove": True, "allowOperatorAsAuthorizer": False}),
            "verdict.approvers.allowOperatorAsAuthorizer",
            "disagrees with canInitiatorApprove",
        ),
        (_rule(policyEngineVersion="v3"), "policyEngineVersion", "expected one of v2"),
        (_rule(source={"type": ["VAULT"]}), "source.operator", 'required: "INCLUDES"'),
        (_rule(verdict__action="ALOW"), "verdict.action", "(did you mean 'ALLOW'?)"),
        (_rule(destination={"operator": "INCLUDES"}), "destination.addressType", "required"),
        (_rule(sorce={}), "sorce", "unknown key (did you mean 'source'?)"),
    ],
)
def test_bad_v2_values_name_the_rule_and_path(
    directory: Directory, rule: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy({"rules": [rule]}, directory, origin="export.json")
    assert (info.value.rule_index, info.value.field) == (0, field)
    assert message in info.value.problem


def test_mixing_v1_and_v2_rules_is_refused_saying_so(directory: Directory) -> None:
    rules = [METHOD_2_V1[0], method_2_v2()[1]]
    with pytest.raises(PolicyError) as info:
        load_policy({"rules": rules}, directory, origin="mixed.json")
    assert "the policy mixes v1 and v2 rules" in str(info.value)
    assert (info.value.rule_index, info.value.field) == (1, "policyEngineVersion")


def test_v2_rules_out_of_index_order_are_refused(directory: Directory) -> None:
    rules = method_2_v2()
    rules[0]["index"], rules[1]["index"] = 5, 3
    with pytest.raises(PolicyError, match="index 3 is not above rule 0's index 5") as info:
        load_policy({"rules": rules}, directory, origin="p")
    assert (info.value.rule_index, info.value.field) == (1, "index")


def test_two_v2_rules_with_one_id_do_not_publish(directory: Directory) -> None:
    rules = method_2_v2()
    rules[1]["id"] = rules[0]["id"]
    result = validate(load_policy({"rules": rules}, directory, origin="p"), directory).to_dict()
    (error,) = result["checkResult"]["results"][1]["errors"]
    assert (error["errorCodeName"], error["errorField"]) == ("DUPLICATE_RULE_ID", "id")


def test_v2_validation_names_v2_fields(directory: Directory) -> None:
    rule = _rule(verdict__designatedSigners={"type": "MULTIPLE", "users": ["u-jaime", "a-signer-a"]})
    result = validate(load_policy({"rules": [rule]}, directory, origin="p"), directory)
    assert {e.field for c in result.results for e in c.errors} == {"verdict.designatedSigners"}


# -- v1 and its v2 translation decide alike ------------------------------------------------------------

V1_RULE = st.builds(
    lambda action, asset, amount, currency, who, src, dst, address, signers, period, per, kind, approvers: (
        v1_rule(
            action=action,
            asset=asset,
            amount=amount,
            currency=currency,
            operators=who[0],
            groups=who[1],
            src=src,
            dst=dst,
            address=address,
            signers=signers[0],
            signer_groups=signers[1],
            approvers=approvers if action == "2-TIER" else None,
            period=period,
            per=per,
            transaction_type=kind,
        )
    ),
    st.sampled_from(["ALLOW", "BLOCK", "2-TIER"]),
    st.sampled_from(["*", "ETH", "BTC"]),
    st.sampled_from(["0", "100", "2999", "5000"]),
    st.sampled_from(["USD", "EUR", "NATIVE"]),
    st.sampled_from([(None, None), (["u-jaime"], None), (["a-ops", "u-cersei"], None), (None, ["g-1"])]),
    st.sampled_from(
        [None, [["hot", "VAULT"]], [["*", "EXCHANGE"]], [["bank-usd", "FIAT_ACCOUNT"], ["hot", "VAULT"]]]
    ),
    st.sampled_from(
        [None, [["cold", "UNMANAGED", "EXTERNAL"]], [["*", "ONE_TIME_ADDRESS"]], [["0", "VAULT"]], [["cold"]]]
    ),
    st.sampled_from(["*", "WHITELISTED", "ONE_TIME"]),
    st.sampled_from(
        [(None, None), (["a-signer-a"], None), (None, ["g-1"]), (["a-signer-a", "a-signer-b"], None)]
    ),
    st.sampled_from([0, 0, 60, 3600]),
    st.tuples(st.booleans(), st.booleans(), st.booleans()),
    st.sampled_from(["TRANSFER", "CONTRACT_CALL"]),
    st.sampled_from(
        [[(["u-tywin"], 1)], [(["u-tywin", "u-cersei"], 2)], [(["u-tywin"], 1), (["u-cersei"], 1)]]
    ),
)
TRANSACTION = st.builds(
    lambda initiator, operation, asset, amount, source, destination, gap: (
        dict(
            initiator=initiator,
            operation=operation,
            asset=asset,
            amount=amount,
            source=source,
            destination=destination,
        ),
        gap,
    ),
    st.sampled_from(["jaime", "cersei", "ops", "signer-a", "tywin"]),
    st.sampled_from(["TRANSFER", "CONTRACT_CALL", "APPROVE"]),
    st.sampled_from(["ETH", "BTC", "USDC"]),
    st.sampled_from([Decimal(0), Decimal("0.01"), Decimal(1), Decimal("1.5"), Decimal(40)]),
    st.sampled_from(["vault:hot", "vault:treasury", "exchange:exch-main", "fiat:bank-usd"]),
    st.sampled_from(["wallet:cold", "wallet:partner-a", "one-time:0xab", "vault:0"]),
    st.sampled_from([0.0, 1.0, 30.0, 90.0]),
)


# the directory is immutable, so sharing it across examples is safe
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rules=st.lists(V1_RULE, min_size=1, max_size=5),
    txs=st.lists(TRANSACTION, min_size=1, max_size=12),
    match=st.sampled_from(["exceed", "at-least"]),
)
def test_a_v1_policy_and_its_v2_translation_decide_every_transaction_alike(
    directory: Directory, rules: list[dict[str, Any]], txs: list[tuple[dict[str, Any], float]], match: str
) -> None:
    v1 = load_policy({"rules": v1_policy(*rules)["rules"], "amount_match": match}, directory, origin="v1")
    v2 = load_policy(
        {"rules": [v1_to_v2(r, i) for i, r in enumerate(rules)], "amount_match": match},
        directory,
        origin="v2",
    )
    assert [f.code for f in lint(v1, directory)] == [f.code for f in lint(v2, directory)]
    if not validate(v1, directory).ok:
        assert not validate(v2, directory).ok
        return
    engines = (PolicyEngine(v1, directory), PolicyEngine(v2, directory), ReferenceEngine(v2, directory))
    at = 0.0
    for fields, gap in txs:
        at += gap
        transaction = Transaction(**fields, at=at)
        decisions = [e.decide(transaction) for e in engines]
        assert decisions[0] == decisions[1] == decisions[2], transaction
        for engine, decision in zip(engines, decisions, strict=True):
            engine.record(transaction, decision)


def test_an_unknown_name_gets_a_suggestion(directory: Directory) -> None:
    rule = {"action": "ALLOW", "designated_signers": ["signer-aa"], "initiator": {"groups": ["group1"]}}
    result = validate(load_policy({"rules": [rule]}, directory, origin="p"), directory)
    messages = [e.message for c in result.results for e in c.errors]
    assert "initiator group 'group1' is not a group of the workspace (did you mean 'group-1'?)" in messages
    assert any(
        "'signer-aa' is not a user or API user of the workspace (did you mean 'signer-a'?)" in m
        for m in messages
    )
