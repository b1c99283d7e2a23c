"""Publish-time validation: every error, in the Fireblocks result shape, naming rule index and field."""

from __future__ import annotations

from typing import Any

import pytest

from cosigner_ha.policy import Directory, load_policy, validate


def fb(**fields: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "type": "TRANSFER",
        "action": "ALLOW",
        "asset": "*",
        "amountCurrency": "USD",
        "amountScope": "SINGLE_TX",
        "amount": "0",
        "periodSec": 0,
    }
    rule.update(fields)
    return {k: v for k, v in rule.items() if v is not None}


def errors(directory: Directory, *rules: dict[str, Any]) -> list[tuple[int, str, str]]:
    result = validate(load_policy({"rules": list(rules)}, directory, origin="t"), directory).to_dict()
    return [
        (r["index"], e["errorCodeName"], e["errorField"])
        for r in result["checkResult"]["results"]
        for e in r["errors"]
    ]


def test_a_valid_policy_has_the_success_shape(directory: Directory) -> None:
    result = validate(load_policy({"rules": [fb(), fb(action="BLOCK")]}, directory, origin="t"), directory)
    assert result.ok
    assert result.to_dict() == {
        "status": "SUCCESS",
        "checkResult": {
            "errors": 0,
            "results": [
                {"index": 0, "status": "ok", "errors": []},
                {"index": 1, "status": "ok", "errors": []},
            ],
        },
    }


def test_an_invalid_policy_has_the_failure_shape(directory: Directory) -> None:
    policy = load_policy(
        {"rules": [fb(), fb(designatedSigners={"users": ["u-ghost"]})]}, directory, origin="t"
    )
    assert validate(policy, directory).to_dict() == {
        "status": "INVALID_CONFIGURATION",
        "checkResult": {
            "errors": 1,
            "results": [
                {"index": 0, "status": "ok", "errors": []},
                {
                    "index": 1,
                    "status": "failure",
                    "errors": [
                        {
                            "errorMessage": (
                                "designated signer 'u-ghost' is not a user or API user of the workspace"
                            ),
                            "errorCode": 1003,
                            "errorCodeName": "UNKNOWN_USER",
                            "errorField": "designatedSigners",
                        }
                    ],
                },
            ],
        },
    }


@pytest.mark.parametrize(
    "missing", ["type", "action", "asset", "amountCurrency", "amountScope", "amount", "periodSec"]
)
def test_each_missing_required_fireblocks_field(directory: Directory, missing: str) -> None:
    assert errors(directory, fb(**{missing: None})) == [(0, "MISSING_REQUIRED_FIELD", missing)]


def test_missing_native_action_and_missing_approvers(directory: Directory) -> None:
    assert errors(directory, {"asset": "BTC"}, {"action": "2-TIER"}) == [
        (0, "MISSING_REQUIRED_FIELD", "action"),
        (1, "MISSING_REQUIRED_FIELD", "approvers"),
    ]
    assert errors(directory, fb(action="2-TIER")) == [(0, "MISSING_REQUIRED_FIELD", "authorizationGroups")]


def test_console_and_api_users_mixed_among_designated_signers(directory: Directory) -> None:
    assert errors(directory, {"action": "ALLOW", "designated_signers": ["signer-a", "jaime"]}) == [
        (0, "MIXED_SIGNER_TYPES", "designated_signers")
    ]
    mixed = fb(designatedSigners={"users": ["u-jaime"], "usersGroups": ["g-1"]})
    assert errors(directory, mixed) == [(0, "MIXED_SIGNER_TYPES", "designatedSigners")]


def test_unknown_users_and_groups_wherever_they_appear(directory: Directory) -> None:
    rule = fb(
        action="2-TIER",
        operators={"users": ["u-nobody"], "usersGroups": ["g-none"]},
        designatedSigners={"usersGroups": ["g-gone"]},
        authorizationGroups={"groups": [{"users": ["u-tywin", "u-who"]}]},
    )
    assert errors(directory, rule) == [
        (0, "UNKNOWN_USER", "operators"),
        (0, "UNKNOWN_GROUP", "operators"),
        (0, "UNKNOWN_USER", "authorizationGroups"),
        (0, "UNKNOWN_GROUP", "designatedSigners"),
    ]


def test_names_are_taken_as_given_without_a_workspace() -> None:
    d = Directory.permissive()
    assert (
        errors(d, fb(operators={"users": ["u-nobody"]}, designatedSigners={"usersGroups": ["g-gone"]})) == []
    )


def test_wildcard_operator_beside_named_ones(directory: Directory) -> None:
    assert errors(directory, fb(operators={"wildcard": "*", "users": ["u-jaime"]})) == [
        (0, "WILDCARD_WITH_NAMED_OPERATORS", "operators")
    ]
    assert errors(directory, {"action": "ALLOW", "initiator": ["*", "jaime"]}) == [
        (0, "WILDCARD_WITH_NAMED_OPERATORS", "initiator")
    ]


def test_apply_for_approve_only_on_transfer(directory: Directory) -> None:
    assert errors(directory, fb(applyForApprove=True)) == []
    assert errors(directory, fb(transactionType="CONTRACT_CALL", applyForApprove=True)) == [
        (0, "APPLY_FOR_APPROVE_NOT_TRANSFER", "applyForApprove")
    ]


def test_apply_for_typed_message_only_on_contract_call(directory: Directory) -> None:
    assert errors(directory, fb(transactionType="CONTRACT_CALL", applyForTypedMessage=True)) == []
    assert errors(directory, fb(applyForTypedMessage=True)) == [
        (0, "APPLY_FOR_TYPED_MESSAGE_NOT_CONTRACT_CALL", "applyForTypedMessage")
    ]


@pytest.mark.parametrize("period", [0, -60])
def test_time_window_of_zero_or_less(directory: Directory, period: int) -> None:
    assert errors(directory, fb(amountScope="TIMEFRAME", periodSec=period)) == [
        (0, "INVALID_TIME_PERIOD", "periodSec")
    ]
    native = {"action": "ALLOW", "over": {"window": period}}
    assert errors(directory, native) == [(0, "INVALID_TIME_PERIOD", "over.window")]


def test_zero_period_is_fine_on_single_transaction_rules(directory: Directory) -> None:
    assert errors(directory, fb(amountScope="SINGLE_TX", periodSec=0)) == []


def test_designated_api_user_whose_role_cannot_sign(directory: Directory) -> None:
    assert errors(directory, {"action": "ALLOW", "designated_signers": "ops"}) == [
        (0, "SIGNER_ROLE_CANNOT_SIGN", "designated_signers")
    ]
    assert errors(directory, fb(designatedSigner="a-ops")) == [
        (0, "SIGNER_ROLE_CANNOT_SIGN", "designatedSigners")
    ]


def test_console_user_whose_role_cannot_sign(directory: Directory) -> None:
    assert errors(directory, {"action": "ALLOW", "designated_signers": "varys"}) == [
        (0, "SIGNER_ROLE_CANNOT_SIGN", "designated_signers")
    ]


@pytest.mark.parametrize("threshold", [0, 3])
def test_approval_threshold_between_one_and_the_group_size(directory: Directory, threshold: int) -> None:
    rule = {"action": "2-TIER", "approvers": {"groups": [{"groups": ["council"], "threshold": threshold}]}}
    assert errors(directory, rule) == [(0, "INVALID_APPROVAL_THRESHOLD", "approvers")]


def test_amount_max_must_exceed_min(directory: Directory) -> None:
    assert errors(directory, {"action": "ALLOW", "amount": {"min": 10, "max": 10}}) == [
        (0, "INVALID_AMOUNT_RANGE", "amount.max")
    ]


def test_unknown_accounts_in_source_or_destination(directory: Directory) -> None:
    assert errors(directory, {"action": "ALLOW", "source": "vault:nope", "destination": "wallet:gone"}) == [
        (0, "UNKNOWN_ACCOUNT", "source"),
        (0, "UNKNOWN_ACCOUNT", "destination"),
    ]
    assert errors(directory, fb(src={"ids": [["99", "VAULT"]]})) == [(0, "UNKNOWN_ACCOUNT", "src")]


def test_external_descriptor_is_a_unique_rule_id(directory: Directory) -> None:
    assert errors(directory, fb(externalDescriptor="r1"), fb(externalDescriptor="r1")) == [
        (1, "DUPLICATE_EXTERNAL_DESCRIPTOR", "externalDescriptor")
    ]


def test_every_error_code_is_distinct_and_documented() -> None:
    from pathlib import Path

    from cosigner_ha.policy.validation import CODES

    assert len(set(CODES.values())) == len(CODES)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
    for name, code in CODES.items():
        assert f"| {code} | `{name}` |" in doc
