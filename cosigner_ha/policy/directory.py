"""The workspace as the policy sees it: users, API users, groups, accounts and prices, as plain data.

The caller (the SaaS simulator, the cluster runner, the CLI) builds it; the policy package never reads a
scenario file's other sections. A *permissive* directory knows nothing and takes every name as given, for
`policy eval` without `--scenario`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .errors import PolicyError
from .money import price_table, to_decimal
from .vocabulary import (
    API_USER_NAME_MAX,
    CONSOLE_SIGNING_ROLES,
    POLICY_ONLY_ROLES,
    SIGNING_ROLES,
    ApiUserRole,
    Role,
)

if TYPE_CHECKING:
    from .transaction import Transaction

CONSOLE_ROLES = (*(r.value for r in Role), *POLICY_ONLY_ROLES)
API_ROLES = (*(r.value for r in ApiUserRole), *POLICY_ONLY_ROLES)
# DESIGN.md section 2: API users sign with SIGNER or ADMIN; console users also as OWNER.
API_SIGNING_ROLES = frozenset(SIGNING_ROLES)
CONSOLE_SIGNING_ROLES_SET = frozenset(CONSOLE_SIGNING_ROLES)


@dataclass(frozen=True, slots=True)
class User:
    """A console user or an API user. `id` is what an exported Fireblocks policy calls it (default: name)."""

    name: str
    role: str
    id: str | None = None

    @property
    def ref(self) -> str:
        return self.id if self.id is not None else self.name


class Directory:
    """Users, API users, groups, accounts and prices of one workspace, with lookups the policy needs."""

    def __init__(
        self,
        *,
        users: Sequence[User] = (),
        api_users: Sequence[User] = (),
        groups: Mapping[str, Sequence[str]] | None = None,
        group_ids: Mapping[str, str] | None = None,
        vaults: Iterable[str] = (),
        exchanges: Iterable[str] = (),
        fiat_accounts: Iterable[str] = (),
        wallets: Iterable[str] = (),
        internal_wallets: Iterable[str] = (),
        network_connections: Iterable[str] = (),
        contract_wallets: Iterable[str] = (),
        prices_usd: Mapping[str, object] | None = None,
        eur_usd: object | None = None,
        prices_eur: Mapping[str, object] | None = None,
        strict: bool = True,
        origin: str = "workspace",
    ) -> None:
        self.origin = origin
        self.strict = strict
        self.users: tuple[User, ...] = tuple(users)
        self.api_users: tuple[User, ...] = tuple(api_users)
        self._by_name: dict[str, tuple[User, bool]] = {}  # name -> (user, is_api)
        self._by_ref: dict[str, str] = {}
        for label, seq, is_api in (("users", self.users, False), ("api_users", self.api_users, True)):
            roles = API_ROLES if is_api else CONSOLE_ROLES
            for i, user in enumerate(seq):
                where = f"{label}[{i}]"
                if not isinstance(user.name, str) or not user.name:
                    raise PolicyError("expected a non-empty name", origin=origin, field=f"{where}.name")
                if user.role not in roles:
                    raise PolicyError(
                        f"expected a role among {', '.join(roles)}, got {user.role!r}",
                        origin=origin,
                        field=f"{where}.role",
                    )
                if is_api and len(user.name) > API_USER_NAME_MAX:
                    raise PolicyError(
                        f"an API user name has at most {API_USER_NAME_MAX} characters, "
                        f"{user.name!r} has {len(user.name)}",
                        origin=origin,
                        field=f"{where}.name",
                    )
                if user.name in self._by_name:
                    raise PolicyError(
                        f"user name {user.name!r} is used twice "
                        "(names are unique across console and API users)",
                        origin=origin,
                        field=f"{where}.name",
                    )
                if user.ref in self._by_ref and self._by_ref[user.ref] != user.name:
                    raise PolicyError(
                        f"user id {user.ref!r} is used twice", origin=origin, field=f"{where}.id"
                    )
                self._by_name[user.name] = (user, is_api)
                self._by_ref[user.ref] = user.name
        self.groups: dict[str, tuple[str, ...]] = {}
        for name, members in (groups or {}).items():
            listed = tuple(members)
            for j, member in enumerate(listed):
                if strict and member not in self._by_name:
                    raise PolicyError(
                        f"group member {member!r} is not a user or API user of the workspace",
                        origin=origin,
                        field=f"groups.{name}.members[{j}]",
                    )
            kinds = {self._by_name[m][1] for m in listed if m in self._by_name}
            if len(kinds) > 1:
                raise PolicyError(
                    "a group holds either console users or API users, not both",
                    origin=origin,
                    field=f"groups.{name}.members",
                )
            self.groups[name] = tuple(dict.fromkeys(listed))
        self._group_by_ref: dict[str, str] = {name: name for name in self.groups}
        for ref, name in (group_ids or {}).items():
            if name not in self.groups:
                raise PolicyError(
                    f"group id {ref!r} names unknown group {name!r}", origin=origin, field="group_ids"
                )
            if ref in self._by_ref or (ref in self._group_by_ref and self._group_by_ref[ref] != name):
                other = self._by_ref.get(ref) or self._group_by_ref[ref]
                raise PolicyError(
                    f"id {ref!r} of group {name!r} is already the id or name of {other!r}; "
                    "expected one id per user, API user and group",
                    origin=origin,
                    field=f"groups.{name}.id",
                )
            self._group_by_ref[ref] = name
        for user in (*self.users, *self.api_users):
            if user.id is not None and user.id in self.groups:
                raise PolicyError(
                    f"id {user.id!r} of {user.name!r} is already the name of a group; "
                    "expected one id per user, API user and group",
                    origin=origin,
                    field="id",
                )
        self.vaults = tuple(vaults)
        self.exchanges = tuple(exchanges)
        self.fiat_accounts = tuple(fiat_accounts)
        self.wallets = tuple(wallets)
        self.internal_wallets = tuple(internal_wallets)
        self.network_connections = tuple(network_connections)
        self.contract_wallets = tuple(contract_wallets)
        # (type, subtype) -> ids, as a transaction's peer names them (transaction.ACCOUNT_KINDS)
        self._peers: dict[tuple[str, str | None], frozenset[str]] = {
            ("VAULT", None): frozenset(self.vaults),
            ("EXCHANGE", None): frozenset(self.exchanges),
            ("FIAT_ACCOUNT", None): frozenset(self.fiat_accounts),
            ("UNMANAGED", "EXTERNAL"): frozenset(self.wallets),
            ("UNMANAGED", "INTERNAL"): frozenset(self.internal_wallets),
            ("UNMANAGED", "CONTRACT"): frozenset(self.contract_wallets),
            ("NETWORK_CONNECTION", None): frozenset(self.network_connections),
        }
        self._accounts: dict[str, frozenset[str]] = {}
        for (peer_type, _), ids in self._peers.items():
            self._accounts[peer_type] = self._accounts.get(peer_type, frozenset()) | ids
        usd = _prices(prices_usd or {}, origin, "prices_usd")
        eur = _prices(prices_eur or {}, origin, "prices_eur")
        if eur_usd is not None:
            rate = _positive(eur_usd, origin, "workspace.eur_usd")
            for asset, price in usd.items():
                eur.setdefault(asset, price / rate)
        self.prices_usd = usd
        self.prices_eur = eur
        self._scales: dict[str, tuple[int, dict[str, int]]] = {
            "USD": price_table(usd),
            "EUR": price_table(eur),
        }

    # -- construction ----------------------------------------------------------------------------------

    @classmethod
    def permissive(cls) -> Directory:
        """Knows nobody: names and ids are taken as given, groups cannot be expanded, no prices."""
        return cls(strict=False, origin="(no workspace)")

    @classmethod
    def from_scenario(cls, data: Mapping[str, Any], *, origin: str = "scenario") -> Directory:
        """From the parsed TOML of a scenario file (DESIGN.md section 4); reads only what the policy needs."""
        workspace = data.get("workspace")
        if not isinstance(workspace, Mapping):
            raise PolicyError("expected a [workspace] table", origin=origin, field="workspace")

        def strings(table: Mapping[str, Any], key: str, path: str) -> list[str]:
            value = table.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise PolicyError("expected a list of non-empty strings", origin=origin, field=path)
            return list(value)

        def people(key: str) -> list[User]:
            entries = data.get(key, [])
            if not isinstance(entries, list):
                raise PolicyError(f"expected an array of tables [[{key}]]", origin=origin, field=key)
            found = []
            for i, entry in enumerate(entries):
                if not isinstance(entry, Mapping):
                    raise PolicyError("expected a table", origin=origin, field=f"{key}[{i}]")
                for field in ("name", "role"):
                    if not isinstance(entry.get(field), str):
                        raise PolicyError("expected a string", origin=origin, field=f"{key}[{i}].{field}")
                ref = entry.get("id")
                if ref is not None and not isinstance(ref, str | int):
                    raise PolicyError("expected a string id", origin=origin, field=f"{key}[{i}].id")
                found.append(User(entry["name"], entry["role"], None if ref is None else str(ref)))
            return found

        groups: dict[str, list[str]] = {}
        group_ids: dict[str, str] = {}
        entries = data.get("groups", [])
        if not isinstance(entries, list):
            raise PolicyError("expected an array of tables [[groups]]", origin=origin, field="groups")
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                raise PolicyError(
                    "expected a table with a string name", origin=origin, field=f"groups[{i}].name"
                )
            if entry["name"] in groups:
                raise PolicyError(
                    f"group {entry['name']!r} is defined twice", origin=origin, field=f"groups[{i}].name"
                )
            groups[entry["name"]] = strings(entry, "members", f"groups[{i}].members")
            if "id" in entry:
                ref = str(entry["id"])
                if ref in group_ids:
                    raise PolicyError(
                        f"id {ref!r} is already the id of group {group_ids[ref]!r}; expected unique ids",
                        origin=origin,
                        field=f"groups[{i}].id",
                    )
                group_ids[ref] = entry["name"]
        return cls(
            users=people("users"),
            api_users=people("api_users"),
            groups=groups,
            group_ids=group_ids,
            vaults=strings(workspace, "vaults", "workspace.vaults"),
            exchanges=strings(workspace, "exchanges", "workspace.exchanges"),
            fiat_accounts=strings(workspace, "fiat_accounts", "workspace.fiat_accounts"),
            wallets=strings(workspace, "wallets", "workspace.wallets"),
            internal_wallets=strings(workspace, "internal_wallets", "workspace.internal_wallets"),
            network_connections=strings(workspace, "network_connections", "workspace.network_connections"),
            contract_wallets=strings(workspace, "contract_wallets", "workspace.contract_wallets"),
            prices_usd=_table(workspace, "prices_usd", origin),
            prices_eur=_table(workspace, "prices_eur", origin),
            eur_usd=eur_rate(workspace, origin),
            origin=origin,
        )

    # -- lookups ---------------------------------------------------------------------------------------

    def user(self, name: str) -> User | None:
        found = self._by_name.get(name)
        return found[0] if found else None

    def is_api_user(self, name: str) -> bool | None:
        """True for an API user, False for a console user, None when unknown."""
        found = self._by_name.get(name)
        return found[1] if found else None

    def can_sign(self, name: str) -> bool | None:
        """Whether the user's role signs (None when the user is unknown)."""
        found = self._by_name.get(name)
        if found is None:
            return None
        user, is_api = found
        return user.role in (API_SIGNING_ROLES if is_api else CONSOLE_SIGNING_ROLES_SET)

    def resolve_user(self, ref: str) -> str | None:
        """A user's name from its id or its name; None when unknown."""
        if ref in self._by_ref:
            return self._by_ref[ref]
        return ref if ref in self._by_name else None

    def resolve_group(self, ref: str) -> str | None:
        return self._group_by_ref.get(ref)

    def members(self, group: str) -> tuple[str, ...] | None:
        return self.groups.get(group)

    def knows_account(self, peer_type: str, account_id: str) -> bool:
        known = self._accounts.get(peer_type)
        return known is None or account_id in known

    def knows_peer(self, peer_type: str, account_id: str, subtype: str | None) -> bool:
        known = self._peers.get((peer_type, subtype))
        return known is None or account_id in known

    def check_transaction(self, tx: Transaction, *, origin: str) -> None:
        """Refuse a transaction naming a user or account the workspace does not have (strict only)."""
        if not self.strict:
            return
        if tx.initiator not in self._by_name:
            raise PolicyError(
                f"initiator {tx.initiator!r} is not a user or API user of the workspace",
                origin=origin,
                field="initiator",
            )
        for field, peer in (("source", tx.source_peer), ("destination", tx.destination_peer)):
            if not self.knows_peer(peer.type, peer.id, peer.subtype):
                raise PolicyError(
                    f"{getattr(tx, field)!r} is not an account of the workspace",
                    origin=origin,
                    field=field,
                )

    def scale(self, currency: str) -> int:
        """The denominator D of `value * D == units * multiplier(asset)` in `currency` (1 for NATIVE)."""
        return 1 if currency == "NATIVE" else self._scales[currency][0]

    def multiplier(self, asset: str, currency: str) -> int | None:
        """Integer multiplier from 10^-18 asset units to D-scaled currency units; None without a price."""
        if currency == "NATIVE":
            return 1
        return self._scales[currency][1].get(asset)


def eur_rate(workspace: Mapping[str, Any], origin: str) -> object | None:
    """US dollars per euro: `eur_usd`, the documented key, or `prices_usd.EUR` (the spelling an earlier
    scenario format used), which must then agree with it."""
    rate: object | None = workspace.get("eur_usd")
    prices = workspace.get("prices_usd")
    alias: object | None = prices.get("EUR") if isinstance(prices, Mapping) else None
    if rate is None:
        return alias
    if alias is not None and _positive(alias, origin, "workspace.prices_usd.EUR") != _positive(
        rate, origin, "workspace.eur_usd"
    ):
        raise PolicyError(
            f"prices_usd.EUR = {alias!r} disagrees with eur_usd = {rate!r}; give the EUR rate once, as eur_usd",
            origin=origin,
            field="workspace.prices_usd.EUR",
        )
    return rate


def _table(workspace: Mapping[str, Any], key: str, origin: str) -> Mapping[str, object]:
    value = workspace.get(key, {})
    if not isinstance(value, Mapping):
        raise PolicyError("expected a table of asset = price", origin=origin, field=f"workspace.{key}")
    return value


def _positive(value: object, origin: str, field: str) -> Fraction:
    try:
        number = to_decimal(value)
    except ValueError as exc:
        raise PolicyError(str(exc), origin=origin, field=field) from None
    if number <= 0:
        raise PolicyError(f"expected a positive number, got {value!r}", origin=origin, field=field)
    return Fraction(number)


def _prices(prices: Mapping[str, object], origin: str, key: str) -> dict[str, Fraction]:
    return {asset: _positive(price, origin, f"workspace.{key}.{asset}") for asset, price in prices.items()}
