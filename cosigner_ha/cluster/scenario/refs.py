"""The names a scenario declares, and converters for values that must name one of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from cosigner_ha.cluster.scenario.reading import Conv, Invalid, did_you_mean, one_of, strings_in

#: Account reference prefixes and the [workspace] key listing their ids.
ACCOUNT_KINDS: dict[str, str] = {
    "vault": "vaults",
    "exchange": "exchanges",
    "fiat": "fiat_accounts",
    "wallet": "wallets",
    "internal": "internal_wallets",
    "contract": "contract_wallets",
    "network": "network_connections",
}
#: A workload destination outside the workspace's lists: "one-time:<address>".
ONE_TIME = "one-time"


@dataclasses.dataclass
class Refs:
    """Declared names, filled while reading, in file order (items with other problems still count)."""

    users: list[str] = dataclasses.field(default_factory=list)  # console users
    api_users: list[str] = dataclasses.field(default_factory=list)
    groups: list[str] = dataclasses.field(default_factory=list)
    nodes: list[str] = dataclasses.field(default_factory=list)
    callbacks: list[str] = dataclasses.field(default_factory=list)
    assets: list[str] = dataclasses.field(default_factory=list)
    ids: dict[str, str] = dataclasses.field(default_factory=dict)  # user and API user ids -> names
    group_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    accounts: dict[str, list[str]] = dataclasses.field(
        default_factory=lambda: {field: [] for field in ACCOUNT_KINDS.values()}
    )

    @property
    def people(self) -> list[str]:
        """Who may be named as an initiator, approver or signer: console users and API users."""
        return self.users + self.api_users

    def node(self) -> Conv[str]:
        return strings_in(self.nodes, one_of("node names", self.nodes))

    def api_user(self) -> Conv[str]:
        return strings_in(self.api_users, one_of("API user names", self.api_users))

    def person(self, *, by_id: bool = False) -> Conv[str]:
        """A user or API user by name; with `by_id` (policy rules) by Fireblocks id too."""
        if by_id and self.ids:
            choices = self.people + list(self.ids)
            return strings_in(choices, one_of("user and API user names or ids", self.people))
        return strings_in(self.people, one_of("user and API user names", self.people))

    def group(self, *, by_id: bool = False) -> Conv[str]:
        if by_id and self.group_ids:
            choices = self.groups + list(self.group_ids)
            return strings_in(choices, one_of("group names or ids", self.groups))
        return strings_in(self.groups, one_of("group names", self.groups))

    def callback(self) -> Conv[str]:
        return strings_in(self.callbacks, one_of("callbacks ([callbacks.<name>])", self.callbacks))

    def asset(self, *, wildcard: bool = False) -> Conv[str]:
        choices = (["*"] if wildcard else []) + self.assets
        what = "assets of workspace.prices_usd" + (' or "*"' if wildcard else "")
        return strings_in(choices, one_of(what, choices))

    def account(self, kinds: Sequence[str], *, wildcards: bool = False, one_time: bool = False) -> Conv[str]:
        """ "kind:id" naming a declared account; "*" and "kind:*" in rules; "one-time:<address>"."""
        forms = [f"{kind}:<id>" for kind in kinds] + ([f"{ONE_TIME}:<address>"] if one_time else [])
        if wildcards:
            forms = ['"*"', *forms, "<kind>:*"]
        expected = f"an account reference {', '.join(forms[:-1])} or {forms[-1]}"

        def parse(value: Any) -> str:
            if not isinstance(value, str):
                raise Invalid(expected)
            if wildcards and value == "*":
                return value
            kind, sep, ident = value.partition(":")
            if one_time and kind == ONE_TIME and sep and ident.strip():
                return value
            if not sep or kind not in kinds:
                hint = did_you_mean(kind, kinds) if sep else ""
                raise Invalid(f"{expected}; got {value!r}{hint}", show_value=False)
            if wildcards and ident == "*":
                return value
            ids = self.accounts[ACCOUNT_KINDS[kind]]
            if ident not in ids:
                listed = one_of(f"workspace.{ACCOUNT_KINDS[kind]}", ids)
                raise Invalid(
                    f"{kind}:<id> with an id that is {listed}; got {value!r}{did_you_mean(ident, ids)}",
                    show_value=False,
                )
            return value

        return Conv(expected, parse)
