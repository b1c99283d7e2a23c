"""Publish-time validation, in the result shape of Fireblocks' `/v1/tap` publish and draft calls.

`{status, checkResult: {errors, results: [{index, status, errors: [{errorMessage, errorCode,
errorCodeName, errorField}]}]}}` (tap-policy.md section 4). Fireblocks does not publish its error codes;
the codes below are this project's, stable, and listed in docs/policy.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .directory import Directory
from .model import Policy, Rule
from .reading import did_you_mean
from .resolve import expand

CODES = {
    "MISSING_REQUIRED_FIELD": 1001,
    "MIXED_SIGNER_TYPES": 1002,
    "UNKNOWN_USER": 1003,
    "UNKNOWN_GROUP": 1004,
    "WILDCARD_WITH_NAMED_OPERATORS": 1005,
    "APPLY_FOR_APPROVE_NOT_TRANSFER": 1006,
    "APPLY_FOR_TYPED_MESSAGE_NOT_CONTRACT_CALL": 1007,
    "INVALID_TIME_PERIOD": 1008,
    "SIGNER_ROLE_CANNOT_SIGN": 1009,
    "INVALID_APPROVAL_THRESHOLD": 1010,
    "INVALID_AMOUNT_RANGE": 1011,
    "UNKNOWN_ACCOUNT": 1012,
    "DUPLICATE_EXTERNAL_DESCRIPTOR": 1013,
    "DUPLICATE_RULE_ID": 1014,
}
_ACCOUNT_TYPES = {
    "VAULT": "vault",
    "EXCHANGE": "exchange",
    "FIAT_ACCOUNT": "fiat account",
    "UNMANAGED": "wallet",
    "NETWORK_CONNECTION": "network connection",
}


@dataclass(frozen=True, slots=True)
class RuleError:
    message: str
    code_name: str
    field: str

    @property
    def code(self) -> int:
        return CODES[self.code_name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "errorMessage": self.message,
            "errorCode": self.code,
            "errorCodeName": self.code_name,
            "errorField": self.field,
        }


@dataclass(frozen=True, slots=True)
class RuleCheck:
    index: int
    errors: tuple[RuleError, ...]

    @property
    def status(self) -> str:
        return "failure" if self.errors else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "status": self.status, "errors": [e.to_dict() for e in self.errors]}


@dataclass(frozen=True, slots=True)
class ValidationResult:
    results: tuple[RuleCheck, ...]

    @property
    def error_count(self) -> int:
        return sum(len(r.errors) for r in self.results)

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def status(self) -> str:
        return "SUCCESS" if self.ok else "INVALID_CONFIGURATION"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checkResult": {"errors": self.error_count, "results": [r.to_dict() for r in self.results]},
        }


def validate(policy: Policy, directory: Directory) -> ValidationResult:
    """Every rule checked; a rule's errors in the order of its fields."""
    seen_descriptors: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    results = []
    for rule in policy.rules:
        errors = list(_rule_errors(rule, directory))
        if rule.rule_id is not None:
            first_id = seen_ids.setdefault(rule.rule_id, rule.index)
            if first_id != rule.index:
                errors.append(
                    RuleError(
                        f"id {rule.rule_id!r} is already the id of rule {first_id}", "DUPLICATE_RULE_ID", "id"
                    )
                )
        if rule.form == "fireblocks" and rule.description is not None:
            first = seen_descriptors.setdefault(rule.description, rule.index)
            if first != rule.index:
                errors.append(
                    RuleError(
                        f"externalDescriptor {rule.description!r} is already the id of rule {first}",
                        "DUPLICATE_EXTERNAL_DESCRIPTOR",
                        "externalDescriptor",
                    )
                )
        results.append(RuleCheck(rule.index, tuple(errors)))
    return ValidationResult(tuple(results))


def _rule_errors(rule: Rule, directory: Directory) -> Iterator[RuleError]:
    name = rule.field_name
    for field in rule.missing:
        yield RuleError(f"required field {field!r} is missing", "MISSING_REQUIRED_FIELD", field)

    initiators = rule.initiators
    if initiators.wildcard and initiators.named:
        yield RuleError(
            "the wildcard initiator '*' stands alone: it cannot be listed beside named users, groups "
            "or services",
            "WILDCARD_WITH_NAMED_OPERATORS",
            name("initiator"),
        )
    yield from _unknown(directory, initiators.users, initiators.groups, name("initiator"), "initiator")

    ops = rule.operations or ()
    if rule.apply_for_approve and ops[:1] != ("TRANSFER",):
        yield RuleError(
            f"applyForApprove applies only to TRANSFER rules; this rule's transactionType is {ops[0]}",
            "APPLY_FOR_APPROVE_NOT_TRANSFER",
            "applyForApprove",
        )
    if rule.apply_for_typed_message and ops[:1] != ("CONTRACT_CALL",):
        yield RuleError(
            "applyForTypedMessage applies only to CONTRACT_CALL rules; "
            f"this rule's transactionType is {ops[0]}",
            "APPLY_FOR_TYPED_MESSAGE_NOT_CONTRACT_CALL",
            "applyForTypedMessage",
        )

    if directory.strict:
        for side, patterns in (("source", rule.source), ("destination", rule.destination)):
            for p in patterns or ():
                if (
                    p.type in _ACCOUNT_TYPES
                    and p.id is not None
                    and not (
                        directory.knows_account(p.type, p.id)
                        if p.subtype is None
                        else directory.knows_peer(p.type, p.id, p.subtype)
                    )
                ):
                    yield RuleError(
                        f"{side} names {_ACCOUNT_TYPES[p.type]} {p.id!r}, which the workspace does not have",
                        "UNKNOWN_ACCOUNT",
                        name(side),
                    )

    amount = rule.amount
    if amount.max is not None and amount.max <= amount.min:
        yield RuleError(
            f"amount max {amount.max} must be greater than min {amount.min} "
            "(the rule applies to amounts > min and <= max)",
            "INVALID_AMOUNT_RANGE",
            name("amount.max"),
        )
    if rule.window is not None and rule.window.seconds <= 0 and "periodSec" not in rule.missing:
        yield RuleError(
            f"an amount-over-time window must be longer than zero, got {rule.window.seconds:g} s",
            "INVALID_TIME_PERIOD",
            name("over.window"),
        )

    if rule.action == "2-TIER" and rule.approvers is None:
        yield RuleError(
            "a 2-TIER rule needs approvers (at least one approval group)",
            "MISSING_REQUIRED_FIELD",
            name("approvers"),
        )
    if rule.approvers is not None:
        field = name("approvers")
        for i, group in enumerate(rule.approvers.groups):
            yield from _unknown(directory, group.users, group.groups, field, f"approval group {i}")
            members = expand(directory, group.users, group.groups)
            known_size = directory.strict or not group.groups
            if group.threshold < 1 or (known_size and group.threshold > len(members)):
                yield RuleError(
                    f"approval group {i} needs a threshold between 1 and its {len(members)} members, "
                    f"got {group.threshold}",
                    "INVALID_APPROVAL_THRESHOLD",
                    field,
                )

    signers = rule.signers
    field = name("designated_signers")
    yield from _unknown(directory, signers.users, signers.groups, field, "designated signer")
    resolved = expand(directory, signers.users, signers.groups)
    api = [n for n in resolved if directory.is_api_user(n) is True]
    console = [n for n in resolved if directory.is_api_user(n) is False]
    if api and console:
        yield RuleError(
            f"designated signers mix API users ({', '.join(api)}) and console users ({', '.join(console)}); "
            "all of a rule's designated signers must be API users, or none",
            "MIXED_SIGNER_TYPES",
            field,
        )
    for signer in resolved:
        if directory.can_sign(signer) is False:
            user = directory.user(signer)
            assert user is not None
            kind = "API user" if directory.is_api_user(signer) else "user"
            yield RuleError(
                f"designated {kind} {signer!r} has role {user.role}, which cannot sign "
                f"({'SIGNER or ADMIN' if directory.is_api_user(signer) else 'OWNER, ADMIN or SIGNER'} can)",
                "SIGNER_ROLE_CANNOT_SIGN",
                field,
            )


def _unknown(
    directory: Directory, users: tuple[str, ...], groups: tuple[str, ...], field: str, what: str
) -> Iterator[RuleError]:
    if not directory.strict:
        return
    people = [u.name for u in (*directory.users, *directory.api_users)]
    for user in users:
        if directory.user(user) is None:
            hint = did_you_mean(user, people)
            yield RuleError(
                f"{what} {user!r} is not a user or API user of the workspace{hint}", "UNKNOWN_USER", field
            )
    for group in groups:
        if directory.members(group) is None:
            hint = did_you_mean(group, list(directory.groups))
            yield RuleError(
                f"{what} group {group!r} is not a group of the workspace{hint}", "UNKNOWN_GROUP", field
            )
