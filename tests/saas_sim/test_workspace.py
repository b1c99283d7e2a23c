"""The workspace model: a spec is taken whole or refused naming the key path, and nothing half-built."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cosigner_ha.policy.vocabulary import API_USER_NAME_MAX, Role
from cosigner_ha.saas_sim.errors import ValidationError
from cosigner_ha.saas_sim.workspace import (
    AccountKind,
    AccountRef,
    Network,
    UserStatus,
    Workspace,
)


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"id-{next(counter)}"


SPEC: dict[str, Any] = {
    "name": "acme",
    "env": "mainnet",
    "prices_usd": {"BTC": 60000, "ETH": 3000},
    "vaults": ["0", "hot"],
    "exchanges": ["exch-main"],
    "fiat_accounts": ["bank-usd"],
    "wallets": ["cold"],
    "users": [{"name": "tywin", "role": "OWNER"}, {"name": "cersei", "role": "APPROVER"}],
    "api_users": [
        {"name": "ops", "role": "EDITOR"},
        {"name": "signer-a", "role": "SIGNER", "callback": "risk"},
        {"name": "signer-b", "role": "SIGNER"},
    ],
    "groups": [{"name": "group-1", "members": ["signer-a", "signer-b"]}],
}


def test_a_whole_workspace_from_a_spec() -> None:
    ws = Workspace.from_spec(SPEC, new_id=ids())
    assert ws.network is Network.MAINNET
    assert ws.owner.name == "tywin"
    assert [u.name for u in ws.iter_api_users()] == ["ops", "signer-a", "signer-b"]
    assert ws.api_user("signer-a").status is UserStatus.PENDING_ACTIVATION
    assert ws.api_user("signer-a").callback == {"handler": "risk"}
    assert ws.api_user("signer-a").can_sign and not ws.api_user("ops").can_sign
    assert ws.members("group-1") == ("signer-a", "signer-b")
    assert ws.members("ops") == ("ops",)
    assert ws.price_usd("ETH") == 3000.0
    assert ws.account_exists(AccountRef.parse("exchange:exch-main", "x"))
    assert not ws.account_exists(AccountRef.parse("vault:nope", "x"))
    assert ws.account_exists(AccountRef(AccountKind.ONE_TIME, "0xabc"))
    assert ws.summary()["groups"] == [["group-1", ["signer-a", "signer-b"]]]


def test_a_workspace_without_an_owner_gets_one() -> None:
    ws = Workspace.from_spec({"name": "w", "users": [{"name": "tywin", "role": "ADMIN"}]}, new_id=ids())
    assert ws.owner.name == "owner" and ws.owner.role is Role.OWNER


def test_api_user_names_have_at_most_30_characters() -> None:
    ok = "a" * API_USER_NAME_MAX
    ws = Workspace.from_spec({"name": "w", "api_users": [{"name": ok, "role": "SIGNER"}]}, new_id=ids())
    assert ok in ws.api_users
    with pytest.raises(ValidationError) as err:
        Workspace.from_spec({"name": "w", "api_users": [{"name": ok + "b", "role": "SIGNER"}]}, new_id=ids())
    assert err.value.path == "workspace.api_users[0].name"
    assert "31 characters; at most 30" in str(err.value)


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"env": "devnet"}, "workspace.env", "mainnet, testnet, sandbox"),
        ({"prices_usd": {"BTC": -1}}, "workspace.prices_usd.BTC", "positive USD price"),
        ({"prices_usd": {"BTC": True}}, "workspace.prices_usd.BTC", "positive USD price"),
        ({"vaults": ["hot", "hot"]}, "workspace.vaults[1]", "listed twice"),
        ({"colour": "red"}, "workspace.colour", "unknown key"),
        ({"users": [{"name": "x", "role": "KING"}]}, "workspace.users[0].role", "role among"),
        (
            {"users": [{"name": "x", "role": "OWNER"}, {"name": "y", "role": "OWNER"}]},
            "workspace.users[1].role",
            "exactly one OWNER",
        ),
        ({"api_users": [{"name": "bot", "role": "OWNER"}]}, "workspace.api_users[0].role", "role among"),
        (
            {"api_users": [{"name": "tywin", "role": "SIGNER"}]},
            "workspace.api_users[0].name",
            "already taken",
        ),
        ({"api_users": [{"name": " pad", "role": "SIGNER"}]}, "workspace.api_users[0].name", "spaces"),
        (
            {"api_users": [{"name": "a", "role": "SIGNER", "colour": 1}]},
            "workspace.api_users[0].colour",
            "unknown key",
        ),
        ({"groups": [{"name": "g", "members": ["ghost"]}]}, "workspace.groups[0].members[0]", "neither"),
        ({"groups": [{"name": "g", "members": []}]}, "workspace.groups[0].members", "at least one"),
        (
            {"groups": [{"name": "g", "members": ["tywin", "signer-a"]}]},
            "workspace.groups[0].members[1]",
            "never both",
        ),
    ],
)
def test_bad_specs_are_refused_naming_the_key_path(change: dict[str, Any], path: str, words: str) -> None:
    spec = {**SPEC, **change}
    with pytest.raises(ValidationError) as err:
        Workspace.from_spec(spec, new_id=ids())
    assert err.value.path == path
    assert words in str(err.value)
    assert str(err.value).startswith(path + ": ")


def test_account_references() -> None:
    assert str(AccountRef.parse("vault:hot", "src")) == "vault:hot"
    assert AccountRef.parse("one-time:0xabc", "dst").kind is AccountKind.ONE_TIME
    with pytest.raises(ValidationError, match="src: expected '<kind>:<id>'"):
        AccountRef.parse("hot", "src")
    with pytest.raises(ValidationError, match="unknown account kind 'safe'"):
        AccountRef.parse("safe:1", "src")


def test_ids_a_scenario_fixes_are_the_ids_of_its_people_and_groups() -> None:
    spec = {
        **SPEC,
        "internal_wallets": ["cold-storage"],
        "contract_wallets": ["usdc"],
        "network_connections": ["desk"],
        "eur_usd": 1.25,
        "users": [{"name": "tywin", "role": "OWNER", "id": "u-1"}],
        "api_users": [
            {"name": "signer-a", "role": "SIGNER", "id": "3f1c6a52-8d0e-4a4b-9a66-1f0e2b7c9d10-long"}
        ],
        "groups": [{"name": "group-1", "members": ["signer-a"], "id": "g-1"}],
    }
    ws = Workspace.from_spec(spec, new_id=ids())
    assert (ws.owner.id, ws.api_user("signer-a").id, ws.groups["group-1"].id) == (
        "u-1",
        "3f1c6a52-8d0e-4a4b-9a66-1f0e2b7c9d10-long",
        "g-1",
    )
    assert ws.id == "id-1"  # generated ids are drawn only for what the spec leaves open
    for ref in ("internal:cold-storage", "contract:usdc", "network:desk"):
        assert ws.account_exists(AccountRef.parse(ref, "x"))
    assert ws.eur_usd == 1.25


def test_one_id_for_two_entities_is_refused_naming_where() -> None:
    spec = {**SPEC, "groups": [{"name": "group-1", "members": ["signer-a"], "id": "x"}]}
    spec["users"] = [{"name": "tywin", "role": "OWNER", "id": "x"}]
    with pytest.raises(
        ValidationError, match=r"workspace.groups\[0\].id.*'x' is already the id of workspace.users\[0\]"
    ):
        Workspace.from_spec(spec, new_id=ids())
