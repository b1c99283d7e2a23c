"""The workspace directory: built from a scenario or by hand, refusing inconsistent data with the key path."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from cosigner_ha.policy import Directory, PolicyError, User


def test_from_scenario_reads_users_groups_accounts_and_prices(directory: Directory) -> None:
    assert directory.resolve_user("u-tywin") == "tywin"
    assert directory.resolve_user("bot") == "bot"  # no id: the name is the id
    assert directory.resolve_user("u-nobody") is None
    assert directory.resolve_group("g-1") == directory.resolve_group("group-1") == "group-1"
    assert directory.members("group-1") == ("signer-a", "signer-b", "signer-c")
    assert (directory.is_api_user("ops"), directory.is_api_user("jaime"), directory.is_api_user("x")) == (
        True,
        False,
        None,
    )
    assert [directory.can_sign(n) for n in ("ops", "signer-c", "tywin", "varys", "x")] == [
        False,
        True,
        True,
        False,
        None,
    ]
    assert directory.knows_account("VAULT", "hot") and not directory.knows_account("VAULT", "cold")
    assert directory.knows_account("ONE_TIME_ADDRESS", "0xabc")
    assert directory.prices_eur["ETH"] == Decimal(2400)


def test_built_by_hand() -> None:
    d = Directory(
        users=[User("tywin", "OWNER")],
        api_users=[User("signer-a", "SIGNER", id="7f3c")],
        groups={"g": ["signer-a"]},
        vaults=["0"],
        prices_usd={"BTC": 60000.5},
        prices_eur={"BTC": "50000"},
    )
    assert d.resolve_user("7f3c") == "signer-a" and d.members("g") == ("signer-a",)
    assert d.multiplier("BTC", "NATIVE") == 1 and d.multiplier("ETH", "USD") is None


def test_permissive_directory_knows_nothing_and_refuses_nothing() -> None:
    d = Directory.permissive()
    assert not d.strict and d.resolve_user("anyone") is None and d.members("g") is None
    assert d.can_sign("anyone") is None and d.multiplier("BTC", "USD") is None


def _edit(scenario: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(scenario)
    node: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    if value is DELETE:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


DELETE = object()
BAD = [
    ("workspace", DELETE, "workspace", "expected a [workspace] table"),
    ("users.0.role", "KING", "users[0].role", "expected a role among OWNER, ADMIN"),
    ("api_users.0.role", "OWNER", "api_users[0].role", "expected a role among ADMIN, NON_SIGNING_ADMIN"),
    ("api_users.0.name", "x" * 31, "api_users[0].name", "an API user name has at most 30 characters"),
    ("api_users.1.name", "tywin", "api_users[1].name", "user name 'tywin' is used twice"),
    ("api_users.1.id", "u-tywin", "api_users[1].id", "user id 'u-tywin' is used twice"),
    ("users.0.name", 5, "users[0].name", "expected a string"),
    ("users", {"name": "x"}, "users", "expected an array of tables [[users]]"),
    (
        "groups.0.members",
        ["signer-a", "ghost"],
        "groups.group-1.members[1]",
        "group member 'ghost' is not a user",
    ),
    (
        "groups.0.members",
        ["signer-a", "tywin"],
        "groups.group-1.members",
        "either console users or API users",
    ),
    ("groups.1.name", "group-1", "groups[1].name", "group 'group-1' is defined twice"),
    ("groups.0.members", "signer-a", "groups[0].members", "expected a list of non-empty strings"),
    ("workspace.vaults", ["ok", 3], "workspace.vaults", "expected a list of non-empty strings"),
    ("workspace.prices_usd", [1], "workspace.prices_usd", "expected a table of asset = price"),
    ("workspace.prices_usd.BTC", 0, "workspace.prices_usd.BTC", "expected a positive number, got 0"),
    ("workspace.prices_usd.ETH", "lots", "workspace.prices_usd.ETH", "expected a number, got 'lots'"),
    ("workspace.eur_usd", -1, "workspace.eur_usd", "expected a positive number"),
]


@pytest.mark.parametrize(("path", "value", "field", "message"), BAD, ids=[b[2] for b in BAD])
def test_bad_scenarios_name_the_key_path(
    scenario: dict[str, Any], path: str, value: Any, field: str, message: str
) -> None:
    with pytest.raises(PolicyError) as info:
        Directory.from_scenario(_edit(scenario, path, value), origin="s.toml")
    assert (info.value.origin, info.value.field) == ("s.toml", field)
    assert message in str(info.value)
