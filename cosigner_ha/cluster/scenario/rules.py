"""Checks on inline TAP rules that only the scenario can make: their keys, value types and names.

The rules stay plain data for `cosigner_ha.policy` to compile (first match, ledger, lint). What is
checked here is what needs the rest of the file: that every user, API user, group, account and asset a
rule names is declared, and that no key is misspelt, so that a typo is refused before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cosigner_ha.cluster.scenario.frozen import FrozenDict, freeze
from cosigner_ha.cluster.scenario.model import Operation
from cosigner_ha.cluster.scenario.reading import (
    DURATION,
    Conv,
    Invalid,
    Table,
    array,
    integer,
    number,
    one_of,
    strings_in,
)
from cosigner_ha.cluster.scenario.refs import ACCOUNT_KINDS, Refs
from cosigner_ha.policy.native import KEYS as NATIVE_RULE_KEYS

#: The keys of a rule (DESIGN.md section 4), as the policy package reads them: one list, so that the
#: scenario loader and the policy loader can never disagree on what a rule may say.
RULE_KEYS = NATIVE_RULE_KEYS
RULE_ACTIONS = ("ALLOW", "BLOCK", "2-TIER")
CURRENCIES = ("USD", "EUR", "NATIVE")
OVER_PER = ("initiator", "source", "destination")
DESTINATION_ADDRESS = ("whitelisted", "one-time", "*")
SOURCE_KINDS = ("vault", "exchange", "fiat")
#: What a rule's source may name beyond the kinds a transaction leaves from (Fireblocks rules can).
ACCOUNT_TAIL = ("wallet", "internal", "contract", "network")


def _one_of_strings(choices: tuple[str, ...]) -> Conv[str]:
    return strings_in(choices, f"one of {', '.join(choices)}")


def _one_or_list(conv: Conv[str]) -> Conv[Any]:
    """One value or a non-empty array of them (docs/policy.md: `source = ["exchange:*", "fiat:*"]`)."""
    listed = array(conv, nonempty=True)

    def parse(value: Any) -> Any:
        return listed.parse(value) if isinstance(value, list) else conv.parse(value)

    return Conv(f"{conv.expected}, or an array of them", parse)


def check_rule(
    rule: Table, refs: Refs, eur_priced: Callable[[], bool] = lambda: False
) -> FrozenDict[str, Any] | None:
    """The rule, frozen as written, or None when a problem was recorded against it. Users, API users and
    groups may be named by Fireblocks id as well as by name."""
    mark = len(rule.problems)
    rule.require("action", _one_of_strings(RULE_ACTIONS))
    if rule.has("initiator"):
        _check_principals(rule, "initiator", refs, allow_star=True)
    operations = strings_in(["*", *Operation], f'"*" or one of {", ".join(Operation)}')
    rule.get("operation", _one_or_list(operations), "*")
    rule.get("source", _one_or_list(refs.account(SOURCE_KINDS + ACCOUNT_TAIL, wildcards=True)), "*")
    rule.get("destination", _one_or_list(refs.account(tuple(ACCOUNT_KINDS), wildcards=True)), "*")
    rule.get("destination_address", _one_of_strings(DESTINATION_ADDRESS), "*")
    rule.get("asset", refs.asset(wildcard=True), "*")
    if (amount := rule.table("amount")) is not None:
        low = amount.get("min", number(lo=0), 0.0)
        high = amount.get("max", number(lo=0), None)
        currency = amount.get("currency", _one_of_strings(CURRENCIES), "USD")
        if low is not None and high is not None and high < low:
            amount.error("max", f"expected a maximum of at least the minimum {low:g}, got {high:g}")
        if currency == "EUR" and not eur_priced():
            amount.error(
                "currency",
                "EUR amounts need the EUR rate: give workspace.eur_usd = <US dollars per euro> "
                "(or EUR prices in workspace.prices_eur)",
            )
        amount.finish()
    if (over := rule.table("over")) is not None:
        over.require("window", DURATION)
        over.get("per", array(_one_of_strings(OVER_PER)), ())
        over.finish()
    if (approvers := rule.table("approvers")) is not None:
        approvers.get("logic", _one_of_strings(("AND", "OR")), "AND")
        for group in approvers.tables("groups"):
            group.get("users", array(refs.person(by_id=True)), ())
            group.get("groups", array(refs.group(by_id=True)), ())
            group.get("threshold", integer(lo=1), 1)
            group.finish()
        approvers.finish()
    if rule.has("designated_signers"):
        _check_principals(rule, "designated_signers", refs, allow_star=False)
    rule.finish(RULE_KEYS, context="a policy rule")
    return freeze(rule.data) if len(rule.problems) == mark else None


def _check_principals(rule: Table, key: str, refs: Refs, *, allow_star: bool) -> None:
    """ "*" (initiators only), one user or API user (by name or id), a list of them, or
    { users = [...], groups = [...] }."""
    value = rule.data[key]
    if isinstance(value, str | list):
        if allow_star and value == "*":
            return
        names = (["*"] if allow_star else []) + refs.people + list(refs.ids)
        what = ('"*", ' if allow_star else "") + "a user or API user name (or id), an array of them,"
        one = strings_in(
            names,
            f"{what} or {{ users = [...], groups = [...] }}; {one_of('user and API user names', refs.people)}",
        )
        rule.convert(key, value, _one_or_list(one))
        return
    table = rule.table(key)
    if table is None:
        return
    table.get("users", array(refs.person(by_id=True)), ())
    table.get("groups", array(refs.group(by_id=True)), ())
    if key == "initiator":
        table.get("services", array(Conv("a service name", _service)), ())
    table.finish()


def _service(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("a non-empty string")
    return value
