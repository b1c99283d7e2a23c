"""The native rule form: `[[policy.rules]]` of a scenario file (DESIGN.md section 4), or the same in JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .directory import Directory
from .durations import parse_duration
from .model import (
    ACTIONS,
    ADDRESS_TYPES,
    CURRENCIES,
    LOGICS,
    OPERATIONS,
    AmountRange,
    ApproverGroup,
    Approvers,
    Initiators,
    PeerPattern,
    Rule,
    Signers,
    Window,
)
from .reading import RuleReader, describe
from .transaction import ACCOUNT_KINDS

KEYS = (
    "initiator",
    "operation",
    "source",
    "destination",
    "destination_address",
    "asset",
    "amount",
    "over",
    "action",
    "approvers",
    "designated_signers",
    "description",
)
# keys only the native form has, used to tell the forms apart
OWN_KEYS = frozenset(KEYS) - {"action", "asset", "amount"}
PER = ("initiator", "source", "destination")


def load_native_rule(raw: object, index: int, origin: str, directory: Directory) -> Rule:
    r = RuleReader(origin, index, directory)
    rule = r.table(raw, "", KEYS)
    missing: tuple[str, ...] = ()
    action = None
    if "action" in rule:
        action = r.choice(rule["action"], "action", ACTIONS)
    else:
        missing = ("action",)
    return Rule(
        index=index,
        form="native",
        action=action,
        operations=_operations(r, rule.get("operation", "*")),
        asset=None if rule.get("asset", "*") == "*" else r.string(rule["asset"], "asset"),
        initiators=_initiators(r, rule.get("initiator", "*")),
        source=_accounts(r, rule.get("source", "*"), "source"),
        destination=_accounts(r, rule.get("destination", "*"), "destination"),
        address_type=_address_type(r, rule.get("destination_address", "*")),
        amount=_amount(r, rule["amount"]) if "amount" in rule else AmountRange(),
        window=_over(r, rule["over"]) if "over" in rule else None,
        approvers=_approvers(r, rule["approvers"]) if "approvers" in rule else None,
        signers=_signers(r, rule.get("designated_signers", [])),
        description=r.string(rule["description"], "description") if "description" in rule else None,
        missing=missing,
    )


def _names(r: RuleReader, value: object, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (r.string(value, field),)
    return r.strings(value, field)


def _operations(r: RuleReader, value: object) -> tuple[str, ...] | None:
    if value == "*":
        return None
    ops = _names(r, value, "operation")
    if not ops:
        r.fail("operation", 'expected "*", an operation or a non-empty list of operations')
    for i, op in enumerate(ops):
        r.choice(op, "operation" if isinstance(value, str) else f"operation[{i}]", OPERATIONS)
    return tuple(dict.fromkeys(ops))


def _initiators(r: RuleReader, value: object) -> Initiators:
    if isinstance(value, Mapping):
        table = r.table(value, "initiator", ("users", "groups", "services"))
        users = r.strings(table.get("users", []), "initiator.users")
        groups = r.strings(table.get("groups", []), "initiator.groups")
        services = r.strings(table.get("services", []), "initiator.services")
    else:
        if not isinstance(value, str | list):
            r.fail(
                "initiator",
                f'expected "*", a user name, a list of names or {{ groups = [...] }}, got {describe(value)}',
            )
        users, groups, services = _names(r, value, "initiator"), (), ()
    wildcard = "*" in users
    named = tuple(r.user(u) for u in users if u != "*")
    return Initiators(
        wildcard=wildcard or not (named or groups or services),
        users=named,
        groups=tuple(r.group(g) for g in groups),
        services=services,
    )


def _accounts(r: RuleReader, value: object, field: str) -> tuple[PeerPattern, ...] | None:
    if value == "*":
        return None
    items = _names(r, value, field)
    if not items:
        r.fail(field, 'expected "*", an account or a non-empty list of accounts')
    patterns = []
    kinds = " | ".join(f"{k}:<id>" for k in ACCOUNT_KINDS)
    for i, item in enumerate(items):
        where = field if isinstance(value, str) else f"{field}[{i}]"
        if item == "*":
            return None
        kind, _, ident = item.partition(":")
        if kind not in ACCOUNT_KINDS or not ident:
            r.fail(where, f'expected "*" or {kinds} (id may be "*"), got {item!r}')
        peer_type, subtype = ACCOUNT_KINDS[kind]
        patterns.append(PeerPattern(peer_type, None if ident == "*" else ident, subtype))
    return tuple(dict.fromkeys(patterns))


def _address_type(r: RuleReader, value: object) -> str | None:
    return None if value == "*" else r.choice(value, "destination_address", (*ADDRESS_TYPES, "*"))


def _amount(r: RuleReader, value: object) -> AmountRange:
    table = r.table(value, "amount", ("min", "max", "currency"))
    return AmountRange(
        min=r.number(table.get("min", 0), "amount.min"),
        max=r.number(table["max"], "amount.max") if "max" in table else None,
        currency=r.choice(table.get("currency", "USD"), "amount.currency", CURRENCIES),
    )


def _over(r: RuleReader, value: object) -> Window:
    table = r.table(value, "over", ("window", "per"))
    if "window" not in table:
        r.fail("over.window", 'required: a duration such as "24h" (or a number of seconds)')
    window = table["window"]
    if isinstance(window, str):
        try:
            seconds = parse_duration(window)
        except ValueError as exc:
            r.fail("over.window", str(exc))
    elif isinstance(window, int | float) and not isinstance(window, bool):
        seconds = float(window)
    else:
        r.fail(
            "over.window", f'expected a duration such as "24h" or a number of seconds, got {describe(window)}'
        )
    per = _names(r, table.get("per", []), "over.per")
    for i, item in enumerate(per):
        r.choice(item, f"over.per[{i}]", PER)
    return Window(seconds, "initiator" in per, "source" in per, "destination" in per)


def _approvers(r: RuleReader, value: object) -> Approvers:
    table = r.table(value, "approvers", ("groups", "logic", "allow_operator_as_authorizer"))
    raw_groups = table.get("groups", [])
    if not isinstance(raw_groups, list):
        r.fail(
            "approvers.groups",
            f"expected a list of {{ users = [...], threshold = n }}, got {describe(raw_groups)}",
        )
    groups = []
    for i, raw in enumerate(raw_groups):
        where = f"approvers.groups[{i}]"
        group = r.table(raw, where, ("users", "groups", "threshold"))
        groups.append(
            ApproverGroup(
                users=tuple(r.user(u) for u in r.strings(group.get("users", []), f"{where}.users")),
                groups=tuple(r.group(g) for g in r.strings(group.get("groups", []), f"{where}.groups")),
                threshold=r.integer(group.get("threshold", 1), f"{where}.threshold"),
            )
        )
    return Approvers(
        groups=tuple(groups),
        logic=r.choice(table.get("logic", "AND"), "approvers.logic", LOGICS),
        allow_operator_as_authorizer=r.boolean(
            table.get("allow_operator_as_authorizer", False), "approvers.allow_operator_as_authorizer"
        ),
    )


def _signers(r: RuleReader, value: object) -> Signers:
    if isinstance(value, Mapping):
        table: Mapping[str, Any] = r.table(value, "designated_signers", ("users", "groups"))
        users = r.strings(table.get("users", []), "designated_signers.users")
        groups = r.strings(table.get("groups", []), "designated_signers.groups")
    else:
        if not isinstance(value, str | list):
            r.fail(
                "designated_signers",
                "expected a name, a list of names or { users = [...], groups = [...] }, "
                f"got {describe(value)}",
            )
        users, groups = _names(r, value, "designated_signers"), ()
    return Signers(tuple(r.user(u) for u in users), tuple(r.group(g) for g in groups))
