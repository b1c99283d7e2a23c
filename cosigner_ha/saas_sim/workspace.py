"""The workspace model: accounts, assets and prices, console users, API users and their roles, groups.

A workspace is described by a plain mapping (the scenario's `[workspace]` section with its `users`,
`api_users` and `groups` folded in) and refused as a whole, naming the key path, when any part breaks a
rule. Nothing is half-built: `Workspace.from_spec` either returns a complete workspace or raises.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from cosigner_ha.policy.vocabulary import (
    API_USER_NAME_MAX,
    SIGNING_ROLES,
    Role,
    WorkspaceEnv,
)
from cosigner_ha.saas_sim.errors import Conflict, NotFound, ValidationError

#: The workspace's kind, under the name the SaaS code reads best.
Network = WorkspaceEnv


class UserStatus(enum.StrEnum):
    """API user status (py-sdk `UserStatus`); pairing tokens are issued only in PENDING_ACTIVATION."""

    PENDING_ACTIVATION = "PENDING_ACTIVATION"
    PENDING_DEVICE_SETUP = "PENDING_DEVICE_SETUP"  # paired, waiting for the owner's approval of its shares
    READY = "READY"


class AccountKind(enum.StrEnum):
    VAULT = "vault"
    EXCHANGE = "exchange"
    FIAT = "fiat"
    WALLET = "wallet"  # a whitelisted external wallet
    INTERNAL = "internal"  # a whitelisted internal wallet (the customer's own addresses elsewhere)
    CONTRACT = "contract"  # a whitelisted contract wallet
    NETWORK = "network"  # a Fireblocks network connection
    ONE_TIME = "one-time"  # a one-time (non-whitelisted) address


_ACCOUNT_KIND_OF = {k.value: k for k in AccountKind}
_ACCOUNT_KIND_NAMES = ", ".join(_ACCOUNT_KIND_OF)
#: Where a workspace lists its accounts of each kind (a one-time address is never listed).
_ACCOUNT_LISTS = {
    AccountKind.VAULT: "vaults",
    AccountKind.EXCHANGE: "exchanges",
    AccountKind.FIAT: "fiat_accounts",
    AccountKind.WALLET: "wallets",
    AccountKind.INTERNAL: "internal_wallets",
    AccountKind.CONTRACT: "contract_wallets",
    AccountKind.NETWORK: "network_connections",
}


@dataclasses.dataclass(frozen=True, slots=True)
class AccountRef:
    """`vault:hot`, `exchange:exch-main`, `fiat:bank-usd`, `wallet:cold`, `one-time:0xabc...`.

    The same notation as the scenario file and `cosigner_ha.policy`.
    """

    kind: AccountKind
    id: str

    @classmethod
    def parse(cls, text: str, path: str) -> AccountRef:
        kind, sep, ident = text.partition(":")
        if not sep or not ident:
            raise ValidationError(
                path, f"expected '<kind>:<id>' with kind one of {_ACCOUNT_KIND_NAMES}, got {text!r}"
            )
        found = _ACCOUNT_KIND_OF.get(kind)  # every submission parses two: a dict, not `AccountKind(kind)`
        if found is None:
            raise ValidationError(
                path, f"unknown account kind {kind!r}; expected one of {_ACCOUNT_KIND_NAMES}"
            )
        return cls(found, ident)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


@dataclasses.dataclass(slots=True)
class ConsoleUser:
    id: str
    name: str
    role: Role


@dataclasses.dataclass(slots=True)
class ApiUser:
    id: str
    name: str
    role: Role
    status: UserStatus = UserStatus.PENDING_ACTIVATION
    #: The callback handler the SaaS has on record (url/public key), as approved by the owner; None = none.
    callback: dict[str, Any] | None = None
    #: The co-signer this API user is paired with, once pairing completed.
    cosigner_id: str | None = None

    @property
    def can_sign(self) -> bool:
        return self.role in SIGNING_ROLES


@dataclasses.dataclass(frozen=True, slots=True)
class UserGroup:
    name: str
    members: tuple[str, ...]
    kind: str  # "console" | "api": a group never mixes the two
    id: str | None = None  # the id an exported policy names it by (None: its name)


def _check_name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(path, f"expected a non-empty name, got {value!r}")
    if value != value.strip():
        raise ValidationError(path, f"name {value!r} has leading or trailing spaces")
    return value


def check_api_user_name(value: Any, path: str) -> str:
    name = _check_name(value, path)
    if len(name) > API_USER_NAME_MAX:
        raise ValidationError(
            path,
            f"API user name {name!r} has {len(name)} characters; at most {API_USER_NAME_MAX} are allowed",
        )
    return name


def _role(value: Any, path: str, allowed: Sequence[Role]) -> Role:
    names = ", ".join(r.value for r in allowed)
    if not isinstance(value, str) or value not in {r.value for r in allowed}:
        raise ValidationError(path, f"expected a role among {names}, got {value!r}")
    return Role(value)


def _names(value: Any, path: str) -> list[str]:
    if not isinstance(value, list | tuple):
        raise ValidationError(path, f"expected a list of names, got {type(value).__name__}")
    out = [_check_name(v, f"{path}[{i}]") for i, v in enumerate(value)]
    seen: set[str] = set()
    for i, name in enumerate(out):
        if name in seen:
            raise ValidationError(f"{path}[{i}]", f"{name!r} is listed twice")
        seen.add(name)
    return out


def _price(value: Any, path: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(path, f"expected a positive USD price, got {value!r}")
    return float(value)


KNOWN_SPEC_KEYS = (
    "name",
    "env",
    "prices_usd",
    "vaults",
    "exchanges",
    "fiat_accounts",
    "wallets",
    "internal_wallets",
    "network_connections",
    "contract_wallets",
    "eur_usd",
    "prices_eur",
    "users",
    "api_users",
    "groups",
)


class Workspace:
    """One customer workspace. Users of both kinds share one name space, as policies refer to them by name."""

    def __init__(
        self,
        *,
        id: str,
        name: str,
        network: Network,
        prices_usd: Mapping[str, float],
        vaults: Sequence[str] = (),
        exchanges: Sequence[str] = (),
        fiat_accounts: Sequence[str] = (),
        wallets: Sequence[str] = (),
        internal_wallets: Sequence[str] = (),
        network_connections: Sequence[str] = (),
        contract_wallets: Sequence[str] = (),
        eur_usd: float | None = None,
        prices_eur: Mapping[str, float] | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.network = network
        self.prices_usd: dict[str, float] = dict(prices_usd)
        self.vaults: list[str] = list(vaults)
        self.exchanges: list[str] = list(exchanges)
        self.fiat_accounts: list[str] = list(fiat_accounts)
        self.wallets: list[str] = list(wallets)
        self.internal_wallets: list[str] = list(internal_wallets)
        self.network_connections: list[str] = list(network_connections)
        self.contract_wallets: list[str] = list(contract_wallets)
        self.eur_usd = eur_usd  # US dollars per euro, for policy rules in EUR
        self.prices_eur: dict[str, float] = dict(prices_eur or {})
        self.users: dict[str, ConsoleUser] = {}
        self.api_users: dict[str, ApiUser] = {}
        self.groups: dict[str, UserGroup] = {}
        #: The workspace key's group public key, set when the key is created.
        self.public_key: bytes | None = None

    # --- construction --------------------------------------------------------------------------------------

    @classmethod
    def from_spec(
        cls, spec: Mapping[str, Any], *, new_id: Callable[[], str], path: str = "workspace"
    ) -> Workspace:
        """Build a whole workspace from a mapping, or raise `ValidationError` naming the key path.

        Without a console user of role OWNER, one named "owner" is added: every workspace has an owner, whose
        device holds a share of the workspace key and approves pairings.
        """
        if not isinstance(spec, Mapping):
            raise ValidationError(path, f"expected a table, got {type(spec).__name__}")
        unknown = [k for k in spec if k not in KNOWN_SPEC_KEYS]
        if unknown:
            raise ValidationError(
                f"{path}.{unknown[0]}", f"unknown key; expected one of {', '.join(KNOWN_SPEC_KEYS)}"
            )
        name = _check_name(spec.get("name"), f"{path}.name")
        env_value = spec.get("env", WorkspaceEnv.MAINNET.value)
        try:
            network = Network(env_value)
        except ValueError:
            raise ValidationError(
                f"{path}.env", f"expected one of mainnet, testnet, sandbox, got {env_value!r}"
            ) from None
        prices_raw = spec.get("prices_usd", {})
        if not isinstance(prices_raw, Mapping):
            raise ValidationError(f"{path}.prices_usd", "expected a table of asset = USD price")
        prices = {
            _check_name(asset, f"{path}.prices_usd"): _price(value, f"{path}.prices_usd.{asset}")
            for asset, value in prices_raw.items()
        }
        accounts = {
            key: _names(spec.get(key, []), f"{path}.{key}")
            for key in (
                "vaults",
                "exchanges",
                "fiat_accounts",
                "wallets",
                "internal_wallets",
                "network_connections",
                "contract_wallets",
            )
        }
        eur_usd = spec.get("eur_usd")
        prices_eur = spec.get("prices_eur", {})
        if not isinstance(prices_eur, Mapping):
            raise ValidationError(f"{path}.prices_eur", "expected a table of asset = EUR price")
        ws = cls(
            id=new_id(),
            name=name,
            network=network,
            prices_usd=prices,
            eur_usd=None if eur_usd is None else _price(eur_usd, f"{path}.eur_usd"),
            prices_eur={a: _price(v, f"{path}.prices_eur.{a}") for a, v in prices_eur.items()},
            **accounts,
        )
        ids: dict[str, str] = {}

        def given_id(table: Mapping[str, Any], where: str) -> str | None:
            """An id the scenario fixes (a Fireblocks UUID); unique across users, API users and groups."""
            ref = table.get("id")
            if ref is None:
                return None
            ref = _check_name(ref, f"{where}.id")
            if ref in ids:
                raise ValidationError(f"{where}.id", f"id {ref!r} is already the id of {ids[ref]}")
            ids[ref] = where
            return ref

        for i, user in enumerate(_table_list(spec.get("users", []), f"{path}.users")):
            upath = f"{path}.users[{i}]"
            _only_keys(user, upath, ("name", "role", "id"))
            ws.add_console_user(
                _check_name(user.get("name"), f"{upath}.name"),
                _role(user.get("role"), f"{upath}.role", list(Role)),
                new_id=new_id,
                path=upath,
                id=given_id(user, upath),
            )
        if not any(u.role is Role.OWNER for u in ws.users.values()):
            ws.add_console_user("owner", Role.OWNER, new_id=new_id, path=f"{path}.users")
        for i, api in enumerate(_table_list(spec.get("api_users", []), f"{path}.api_users")):
            apath = f"{path}.api_users[{i}]"
            _only_keys(api, apath, ("name", "role", "callback", "id"))
            api_user = ws.add_api_user(
                check_api_user_name(api.get("name"), f"{apath}.name"),
                _role(api.get("role"), f"{apath}.role", [r for r in Role if r is not Role.OWNER]),
                new_id=new_id,
                path=apath,
                id=given_id(api, apath),
            )
            if api.get("callback") is not None:
                # The SaaS keeps the handler on record (as ApiKey.callbackHandler); the node runs it.
                api_user.callback = {"handler": _check_name(api["callback"], f"{apath}.callback")}
        for i, group in enumerate(_table_list(spec.get("groups", []), f"{path}.groups")):
            gpath = f"{path}.groups[{i}]"
            _only_keys(group, gpath, ("name", "members", "id"))
            ws.add_group(
                _check_name(group.get("name"), f"{gpath}.name"),
                _names(group.get("members", []), f"{gpath}.members"),
                path=gpath,
                id=given_id(group, gpath),
            )
        return ws

    def _check_free(self, name: str, path: str) -> None:
        if name in self.users or name in self.api_users or name in self.groups:
            raise ValidationError(path, f"the name {name!r} is already taken in workspace {self.name!r}")

    def add_console_user(
        self, name: str, role: Role, *, new_id: Callable[[], str], path: str = "user", id: str | None = None
    ) -> ConsoleUser:
        _check_name(name, f"{path}.name")
        self._check_free(name, f"{path}.name")
        if role is Role.OWNER and any(u.role is Role.OWNER for u in self.users.values()):
            raise ValidationError(f"{path}.role", "a workspace has exactly one OWNER")
        user = ConsoleUser(new_id() if id is None else id, name, role)
        self.users[name] = user
        return user

    def add_api_user(
        self,
        name: str,
        role: Role,
        *,
        new_id: Callable[[], str],
        path: str = "api_user",
        id: str | None = None,
    ) -> ApiUser:
        check_api_user_name(name, f"{path}.name")
        self._check_free(name, f"{path}.name")
        if role is Role.OWNER:
            raise ValidationError(f"{path}.role", "an API user cannot be the workspace OWNER")
        user = ApiUser(new_id() if id is None else id, name, role)
        self.api_users[name] = user
        return user

    def add_group(
        self, name: str, members: Sequence[str], *, path: str = "group", id: str | None = None
    ) -> UserGroup:
        _check_name(name, f"{path}.name")
        self._check_free(name, f"{path}.name")
        if not members:
            raise ValidationError(f"{path}.members", "a group needs at least one member")
        kinds: list[str] = []
        for i, member in enumerate(members):
            if member in self.users:
                kinds.append("console")
            elif member in self.api_users:
                kinds.append("api")
            else:
                raise ValidationError(
                    f"{path}.members[{i}]", f"{member!r} is neither a console user nor an API user"
                )
        if len(set(kinds)) > 1:
            first_api = kinds.index("api")
            raise ValidationError(
                f"{path}.members[{first_api}]",
                "a group holds either console users or API users, never both "
                f"({members[kinds.index('console')]!r} is a console user, {members[first_api]!r} an API user)",
            )
        group = UserGroup(name, tuple(members), kinds[0], id)
        self.groups[name] = group
        return group

    # --- look-ups ------------------------------------------------------------------------------------------

    @property
    def owner(self) -> ConsoleUser:
        return next(u for u in self.users.values() if u.role is Role.OWNER)

    def api_user(self, name: str) -> ApiUser:
        try:
            return self.api_users[name]
        except KeyError:
            raise NotFound(f"workspace {self.name!r} has no API user {name!r}") from None

    def api_user_by_id(self, user_id: str) -> ApiUser:
        for user in self.api_users.values():
            if user.id == user_id:
                return user
        raise NotFound(f"workspace {self.name!r} has no API user with id {user_id!r}")

    def role_of(self, name: str) -> Role:
        if name in self.users:
            return self.users[name].role
        if name in self.api_users:
            return self.api_users[name].role
        raise NotFound(f"workspace {self.name!r} has no user {name!r}")

    def members(self, name: str) -> tuple[str, ...]:
        """A user's own name, or a group's members in listed order."""
        if name in self.groups:
            return self.groups[name].members
        self.role_of(name)
        return (name,)

    def account_exists(self, ref: AccountRef) -> bool:
        if ref.kind is AccountKind.ONE_TIME:
            return True
        listed: list[str] = getattr(self, _ACCOUNT_LISTS[ref.kind])
        return ref.id in listed

    def price_usd(self, asset: str) -> float:
        try:
            return self.prices_usd[asset]
        except KeyError:
            raise NotFound(
                f"workspace {self.name!r} has no USD price for asset {asset!r}; known: {', '.join(self.prices_usd)}"
            ) from None

    # --- changes that configuration-change approval gates --------------------------------------------------

    def add_wallet(self, name: str) -> None:
        _check_name(name, "wallet")
        if name in self.wallets:
            raise Conflict(f"wallet {name!r} is already whitelisted in workspace {self.name!r}")
        self.wallets.append(name)

    def iter_api_users(self) -> Iterator[ApiUser]:
        return iter(self.api_users.values())

    def summary(self) -> dict[str, Any]:
        """Plain data for traces and reports (lists in listed order, never set order)."""
        return {
            "id": self.id,
            "name": self.name,
            "env": self.network.value,
            "users": [[u.name, u.role.value] for u in self.users.values()],
            "api_users": [[u.name, u.role.value] for u in self.api_users.values()],
            "groups": [[g.name, list(g.members)] for g in self.groups.values()],
        }


def _table_list(value: Any, path: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list | tuple):
        raise ValidationError(path, f"expected a list of tables, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ValidationError(f"{path}[{i}]", f"expected a table, got {type(item).__name__}")
    return list(value)


def _only_keys(table: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ValidationError(f"{path}.{key}", f"unknown key; expected one of {', '.join(allowed)}")
