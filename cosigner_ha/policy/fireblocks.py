"""The exported Fireblocks v1 ("legacy") TAP rule, every field, deprecated ones mapped onto their successors.

Source of the fields: ../shared/reference/tap-policy.md section 1.1 (py-sdk `LegacyPolicyRule`, the
OpenAPI `LegacyPolicyRule` schema). A deprecated field (`operator`, `designatedSigner`, `srcType`/`srcId`/
`srcSubType`, `dstType`/..., `authorizers`/`authorizersCount`) stands for its successor when the successor
is absent; when both are present they must agree, or the load fails naming the deprecated field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .directory import Directory
from .model import (
    ACTIONS,
    LOGICS,
    OPERATIONS,
    PEER_SUBTYPES,
    PEER_TYPES,
    AmountRange,
    ApproverGroup,
    Approvers,
    Initiators,
    PeerPattern,
    RawMessageSigning,
    Rule,
    Signers,
    Window,
)
from .reading import RuleReader, describe

REQUIRED = ("type", "action", "asset", "amountCurrency", "amountScope", "amount", "periodSec")
KEYS = (
    *REQUIRED,
    "transactionType",
    "operator",
    "operators",
    "designatedSigner",
    "designatedSigners",
    "src",
    "dst",
    "srcType",
    "srcSubType",
    "srcId",
    "dstType",
    "dstSubType",
    "dstId",
    "dstAddressType",
    "authorizers",
    "authorizersCount",
    "authorizationGroups",
    "amountAggregation",
    "rawMessageSigning",
    "applyForApprove",
    "applyForTypedMessage",
    "externalDescriptor",
)
OWN_KEYS = frozenset(KEYS) - {"action", "asset", "amount"}
AGGREGATIONS = ("PER_SINGLE_MATCH", "ACROSS_ALL_MATCHES")
CURRENCY_ALIASES = {
    "USD": "USD",
    "EUR": "EUR",
    "EURO": "EUR",
    "NATIVE": "NATIVE",
}  # the DEV guide writes EURO
_ADDRESS_TYPES = {"WHITELISTED": "whitelisted", "ONE_TIME": "one-time", "*": None}


def _listed(table: Mapping[str, Any], key: str) -> Any:
    """A list field; exports write null (or leave out) an empty one."""
    value = table.get(key)
    return [] if value is None else value


def load_fireblocks_rule(raw: object, index: int, origin: str, directory: Directory) -> Rule:
    r = RuleReader(origin, index, directory)
    given = r.table(raw, "", KEYS)
    rule = {k: v for k, v in given.items() if v is not None}  # exports write null for unset optional fields
    missing = tuple(k for k in REQUIRED if k not in rule)
    if "type" in rule:
        r.choice(rule["type"], "type", ("TRANSFER",))  # transactionType selects the operation
    action = r.choice(rule["action"], "action", ACTIONS) if "action" in rule else None
    operation = r.choice(rule.get("transactionType", "TRANSFER"), "transactionType", OPERATIONS)
    apply_for_approve = r.boolean(rule.get("applyForApprove", False), "applyForApprove")
    apply_for_typed = r.boolean(rule.get("applyForTypedMessage", False), "applyForTypedMessage")
    operations = [operation]
    if apply_for_approve and "APPROVE" not in operations:
        operations.append("APPROVE")
    if apply_for_typed and "TYPED_MESSAGE" not in operations:
        operations.append("TYPED_MESSAGE")
    asset = r.string(rule.get("asset", "*"), "asset")
    currency = r.choice(rule.get("amountCurrency", "USD"), "amountCurrency", tuple(CURRENCY_ALIASES))
    scope = r.choice(rule.get("amountScope", "SINGLE_TX"), "amountScope", ("SINGLE_TX", "TIMEFRAME"))
    period = r.number(rule.get("periodSec", 0), "periodSec", allow_negative=True)
    window = None
    if scope == "TIMEFRAME":
        per = _aggregation(r, rule.get("amountAggregation"))
        window = Window(float(period), *per)
    return Rule(
        index=index,
        form="fireblocks",
        action=action,
        operations=tuple(operations),
        asset=None if asset == "*" else asset,
        initiators=_operators(r, rule),
        source=_peers(r, rule, "src"),
        destination=_peers(r, rule, "dst"),
        address_type=_ADDRESS_TYPES[
            r.choice(rule.get("dstAddressType", "*"), "dstAddressType", tuple(_ADDRESS_TYPES))
        ],
        amount=AmountRange(
            min=r.number(rule.get("amount", 0), "amount"), currency=CURRENCY_ALIASES[currency]
        ),
        window=window,
        approvers=_authorization(r, rule),
        signers=_signers(r, rule),
        description=r.string(rule["externalDescriptor"], "externalDescriptor")
        if "externalDescriptor" in rule
        else None,
        missing=missing,
        apply_for_approve=apply_for_approve,
        apply_for_typed_message=apply_for_typed,
        raw_message_signing=_raw_signing(r, rule.get("rawMessageSigning")),
    )


def _operators(r: RuleReader, rule: Mapping[str, Any]) -> Initiators:
    found = None
    if "operators" in rule:
        table = r.table(rule["operators"], "operators", ("wildcard", "users", "usersGroups", "services"))
        wildcard = "wildcard" in table and table["wildcard"] is not None
        if wildcard:
            r.choice(table["wildcard"], "operators.wildcard", ("*",))
        found = Initiators(
            wildcard=wildcard,
            users=tuple(r.user(u) for u in r.strings(_listed(table, "users"), "operators.users")),
            groups=tuple(
                r.group(g) for g in r.strings(_listed(table, "usersGroups"), "operators.usersGroups")
            ),
            services=r.strings(_listed(table, "services"), "operators.services"),
        )
        if not found.wildcard and not found.named:
            found = None  # an empty operators object says nothing; fall back to `operator` or "anyone"
    old = rule.get("operator", "")
    if old == "":
        return found or Initiators()
    old = r.string(old, "operator")
    if found is None:
        return Initiators() if old == "*" else Initiators(wildcard=False, users=(r.user(old),))
    if (old == "*" and not found.wildcard) or (old != "*" and r.user(old) not in found.users):
        r.fail("operator", f"deprecated operator {old!r} disagrees with operators; remove one of them")
    return found


def _signers(r: RuleReader, rule: Mapping[str, Any]) -> Signers:
    found = None
    if "designatedSigners" in rule:
        table = r.table(rule["designatedSigners"], "designatedSigners", ("users", "usersGroups"))
        found = Signers(
            tuple(r.user(u) for u in r.strings(_listed(table, "users"), "designatedSigners.users")),
            tuple(
                r.group(g) for g in r.strings(_listed(table, "usersGroups"), "designatedSigners.usersGroups")
            ),
        )
    old = rule.get("designatedSigner", "")
    if old == "":
        return found or Signers()
    name = r.user(r.string(old, "designatedSigner"))
    if found is None or not found.named:
        return Signers((name,))
    if name not in found.users:
        r.fail(
            "designatedSigner", f"deprecated designatedSigner {old!r} is not among designatedSigners.users"
        )
    return found


def _pattern(r: RuleReader, items: object, field: str) -> PeerPattern:
    if not isinstance(items, list | tuple) or not 1 <= len(items) <= 3:
        r.fail(field, f"expected a tuple [id], [id, type] or [id, type, subType], got {describe(items)}")
    ident = r.string(items[0], f"{field}[0]")
    peer_type = r.choice(items[1], f"{field}[1]", (*PEER_TYPES, "*")) if len(items) > 1 else "*"
    subtype = r.choice(items[2], f"{field}[2]", (*PEER_SUBTYPES, "*")) if len(items) > 2 else "*"
    return PeerPattern(
        None if peer_type == "*" else peer_type,
        None if ident == "*" else ident,
        None if subtype == "*" else subtype,
    )


def _peers(r: RuleReader, rule: Mapping[str, Any], side: str) -> tuple[PeerPattern, ...] | None:
    patterns: tuple[PeerPattern, ...] | None = None
    if side in rule:
        table = r.table(rule[side], side, ("ids",))
        ids = _listed(table, "ids")
        if not isinstance(ids, list):
            r.fail(f"{side}.ids", f"expected a list of id tuples, got {describe(ids)}")
        found = [_pattern(r, items, f"{side}.ids[{i}]") for i, items in enumerate(ids)]
        if found and PeerPattern() not in found:
            patterns = tuple(dict.fromkeys(found))
        elif found:
            patterns = None
    keys = (f"{side}Id", f"{side}Type", f"{side}SubType")
    present = [k for k in keys if rule.get(k, "") not in ("", "*")]
    if not present:
        return patterns
    old = PeerPattern(
        r.choice(rule[keys[1]], keys[1], PEER_TYPES) if keys[1] in present else None,
        r.string(rule[keys[0]], keys[0]) if keys[0] in present else None,
        r.choice(rule[keys[2]], keys[2], PEER_SUBTYPES) if keys[2] in present else None,
    )
    if side not in rule:
        return (old,)
    if patterns is None or old not in patterns:
        r.fail(
            present[0], f"deprecated {'/'.join(present)} {old} is not among {side}.ids; remove one of them"
        )
    return patterns


def _aggregation(r: RuleReader, value: object) -> tuple[bool, bool, bool]:
    if value is None:
        return (False, False, False)
    table = r.table(value, "amountAggregation", ("operators", "srcTransferPeers", "dstTransferPeers"))

    def per(key: str) -> bool:
        choice = r.choice(table.get(key, "ACROSS_ALL_MATCHES"), f"amountAggregation.{key}", AGGREGATIONS)
        return choice == "PER_SINGLE_MATCH"

    return per("operators"), per("srcTransferPeers"), per("dstTransferPeers")


def _authorization(r: RuleReader, rule: Mapping[str, Any]) -> Approvers | None:
    found = None
    if "authorizationGroups" in rule:
        table = r.table(
            rule["authorizationGroups"],
            "authorizationGroups",
            ("logic", "allowOperatorAsAuthorizer", "groups"),
        )
        raw_groups = _listed(table, "groups")
        if not isinstance(raw_groups, list):
            r.fail("authorizationGroups.groups", f"expected a list of groups, got {describe(raw_groups)}")
        groups = []
        for i, raw in enumerate(raw_groups):
            where = f"authorizationGroups.groups[{i}]"
            group = r.table(raw, where, ("users", "usersGroups", "th"))
            groups.append(
                ApproverGroup(
                    users=tuple(r.user(u) for u in r.strings(_listed(group, "users"), f"{where}.users")),
                    groups=tuple(
                        r.group(g) for g in r.strings(_listed(group, "usersGroups"), f"{where}.usersGroups")
                    ),
                    threshold=r.integer(group.get("th", 1), f"{where}.th"),
                )
            )
        found = Approvers(
            groups=tuple(groups),
            logic=r.choice(table.get("logic", "AND"), "authorizationGroups.logic", LOGICS),
            allow_operator_as_authorizer=r.boolean(
                table.get("allowOperatorAsAuthorizer", False), "authorizationGroups.allowOperatorAsAuthorizer"
            ),
        )
        if not found.groups:
            found = None
    authorizers = tuple(r.user(u) for u in r.strings(_listed(rule, "authorizers"), "authorizers"))
    count = r.integer(rule.get("authorizersCount", 0), "authorizersCount")
    if not authorizers:
        if count > 0:
            r.fail("authorizersCount", f"authorizersCount is {count} but authorizers is empty")
        return found
    old = ApproverGroup(users=authorizers, threshold=count or 1)
    if found is None:
        return Approvers(groups=(old,))
    if not any(
        set(g.users) == set(authorizers) and not g.groups and g.threshold == old.threshold
        for g in found.groups
    ):
        r.fail(
            "authorizers",
            "deprecated authorizers/authorizersCount disagree with authorizationGroups; remove one of them",
        )
    return found


def _raw_signing(r: RuleReader, value: object) -> RawMessageSigning | None:
    if value is None:
        return None
    table = r.table(value, "rawMessageSigning", ("algorithm", "derivationPath"))
    path: tuple[int, ...] = ()
    if "derivationPath" in table:
        inner = r.table(table["derivationPath"], "rawMessageSigning.derivationPath", ("path",))
        raw_path = inner.get("path", [])
        if not isinstance(raw_path, list):
            r.fail(
                "rawMessageSigning.derivationPath.path",
                f"expected a list of numbers, got {describe(raw_path)}",
            )
        path = tuple(
            r.integer(p, f"rawMessageSigning.derivationPath.path[{i}]") for i, p in enumerate(raw_path)
        )
    return RawMessageSigning(r.string(table.get("algorithm"), "rawMessageSigning.algorithm"), path)
