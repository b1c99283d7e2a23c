"""The two worked policies of the seed document ("Multiple Cosigners High Availability"), in both forms.

Method 1 gives Group 1 (the API co-signers) only vault-source transactions; everything else needs Tywin.
Method 2 sends exchange and fiat sources to Tywin first, so that the group rule below only sees the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.policy import Directory, PolicyEngine, lint, load_policy, load_policy_file

from .support import TOPOLOGY, WORKSPACE_TOML, tx, write

TYWIN_ONLY = {
    "logic": "AND",
    "allow_operator_as_authorizer": False,
    "groups": [{"members": ["tywin"], "threshold": 1}],
}
GROUP_1 = ["signer-a", "signer-b", "signer-c"]

METHOD_1_NATIVE = """
[[policy.rules]]
initiator = "*"
operation = "TRANSFER"
source = "vault:*"
destination = "*"
destination_address = "*"
asset = "*"
amount = { min = 0, currency = "USD" }
action = "ALLOW"
designated_signers = { groups = ["group-1"] }

[[policy.rules]]
initiator = "*"
operation = "TRANSFER"
source = "*"
destination = "*"
destination_address = "*"
asset = "*"
amount = { min = 0, currency = "USD" }
action = "2-TIER"
approvers = { groups = [{ users = ["tywin"], threshold = 1 }], logic = "AND" }
"""

METHOD_2_NATIVE = """
[[policy.rules]]
operation = "TRANSFER"
source = ["exchange:*", "fiat:*"]
amount = { min = 0, currency = "USD" }
action = "2-TIER"
approvers = { groups = [{ users = ["tywin"] }] }

[[policy.rules]]
operation = "TRANSFER"
amount = { min = 0, currency = "USD" }
action = "2-TIER"
approvers = { groups = [{ users = ["tywin"] }] }
designated_signers = { groups = ["group-1"] }
"""


def _fb_rule(**fields: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "type": "TRANSFER",
        "transactionType": "TRANSFER",
        "asset": "*",
        "amountCurrency": "USD",
        "amountScope": "SINGLE_TX",
        "amount": "0",
        "periodSec": 0,
        "operators": {"wildcard": "*"},
        "src": {"ids": [["*"]]},
        "dst": {"ids": [["*"]]},
        "dstAddressType": "*",
    }
    rule.update(fields)
    return rule


TYWIN_GROUPS = {
    "logic": "AND",
    "allowOperatorAsAuthorizer": False,
    "groups": [{"users": ["u-tywin"], "th": 1}],
}
METHOD_1_FIREBLOCKS = {
    "rules": [
        _fb_rule(
            action="ALLOW", src={"ids": [["*", "VAULT", "*"]]}, designatedSigners={"usersGroups": ["g-1"]}
        ),
        _fb_rule(action="2-TIER", authorizationGroups=TYWIN_GROUPS),
    ]
}
METHOD_2_FIREBLOCKS = {
    "rules": [
        _fb_rule(
            action="2-TIER",
            src={"ids": [["*", "EXCHANGE"], ["*", "FIAT_ACCOUNT"]]},
            authorizationGroups=TYWIN_GROUPS,
        ),
        _fb_rule(
            action="2-TIER", authorizationGroups=TYWIN_GROUPS, designatedSigners={"usersGroups": ["g-1"]}
        ),
    ]
}


@pytest.fixture(params=["native", "fireblocks"])
def method_1(request: pytest.FixtureRequest, tmp_path: Path, directory: Directory) -> PolicyEngine:
    if request.param == "native":
        path = write(tmp_path / "m1.toml", WORKSPACE_TOML + METHOD_1_NATIVE)
    else:
        path = write(tmp_path / "m1.json", METHOD_1_FIREBLOCKS)
    return PolicyEngine(load_policy_file(path, directory), directory)


@pytest.fixture(params=["native", "fireblocks"])
def method_2(request: pytest.FixtureRequest, tmp_path: Path, directory: Directory) -> PolicyEngine:
    if request.param == "native":
        path = write(tmp_path / "m2.toml", WORKSPACE_TOML + METHOD_2_NATIVE)
    else:
        path = write(tmp_path / "m2.json", METHOD_2_FIREBLOCKS)
    return PolicyEngine(load_policy_file(path, directory), directory)


@pytest.mark.parametrize("destination", ["wallet:cold", "one-time:0xabc", "vault:treasury"])
@pytest.mark.parametrize("vault", ["vault:0", "vault:hot"])
def test_method_1_vault_sources_are_signed_by_one_of_group_1(
    method_1: PolicyEngine, vault: str, destination: str
) -> None:
    decision = method_1.decide(tx(source=vault, destination=destination, asset="BTC", amount="0.5"))
    assert decision.to_json() == {
        "rule": 0,
        "action": "ALLOW",
        "status": "PENDING_SIGNATURE",
        "sub_status": None,
        "designated_signers": GROUP_1,
        "approvers": None,
    }


@pytest.mark.parametrize("source", ["exchange:exch-main", "fiat:bank-usd"])
def test_method_1_other_sources_need_tywin_and_no_cosigner_signs(method_1: PolicyEngine, source: str) -> None:
    decision = method_1.decide(tx(source=source))
    assert decision.rule == 1
    assert decision.status == "PENDING_AUTHORIZATION"
    assert decision.approvers is not None and decision.approvers.to_json() == TYWIN_ONLY
    assert decision.designated_signers == ("jaime",)  # no designated signer: the initiator signs
    assert not set(decision.designated_signers) & set(GROUP_1)


@pytest.mark.parametrize("source", ["exchange:exch-main", "fiat:bank-usd"])
def test_method_2_exchange_and_fiat_need_tywin_and_no_cosigner_signs(
    method_2: PolicyEngine, source: str
) -> None:
    decision = method_2.decide(tx(source=source, initiator="cersei"))
    assert (decision.rule, decision.status) == (0, "PENDING_AUTHORIZATION")
    assert decision.designated_signers == ("cersei",)
    assert decision.approvers is not None and decision.approvers.to_json() == TYWIN_ONLY


def test_method_2_vault_sources_are_approved_by_tywin_then_signed_by_group_1(method_2: PolicyEngine) -> None:
    decision = method_2.decide(tx(source="vault:treasury", destination="one-time:bc1q"))
    assert decision.to_json() == {
        "rule": 1,
        "action": "2-TIER",
        "status": "PENDING_AUTHORIZATION",
        "sub_status": None,
        "designated_signers": GROUP_1,
        "approvers": TYWIN_ONLY,
    }


def test_both_methods_cover_transactions_greater_than_zero_only(
    method_1: PolicyEngine, method_2: PolicyEngine
) -> None:
    for engine in (method_1, method_2):
        decision = engine.decide(tx(amount=0))
        assert (decision.rule, decision.status, decision.sub_status) == (None, "BLOCKED", "BLOCKED_BY_POLICY")


def test_method_2_without_its_first_rule_fails_exchange_transactions_automatically(
    directory: Directory,
) -> None:
    """The documented trap: a group on a rule an exchange or fiat source reaches makes it fail."""
    only_group_rule = {"rules": [METHOD_2_FIREBLOCKS["rules"][1]]}
    engine = PolicyEngine(load_policy(only_group_rule, directory, origin="m2-rule-2"), directory)
    for source in ("exchange:exch-main", "fiat:bank-usd"):
        decision = engine.decide(tx(source=source))
        assert (decision.status, decision.sub_status) == ("FAILED", "SIGNER_NOT_FOUND")
    assert engine.decide(tx(source="vault:hot")).status == "PENDING_AUTHORIZATION"


def test_methods_lint_clean_with_the_active_active_passive_topology(directory: Directory) -> None:
    for document in (METHOD_1_FIREBLOCKS, METHOD_2_FIREBLOCKS):
        policy = load_policy(document, directory, origin="seed")
        assert lint(policy, directory, TOPOLOGY) == []


def test_method_2_without_its_first_rule_is_flagged_by_lint(directory: Directory) -> None:
    policy = load_policy({"rules": [METHOD_2_FIREBLOCKS["rules"][1]]}, directory, origin="seed")
    codes = [(f.code, f.rule, f.field) for f in lint(policy, directory, TOPOLOGY)]
    assert codes == [("EXCHANGE_FIAT_MULTIPLE_SIGNERS", 0, "designatedSigners")]
