"""Reading `[workspace]`, `[callbacks]`, `[[users]]`, `[[api_users]]`, `[[groups]]` and `[[nodes]]`: who and
what the workspace has, and the topology the product must allow."""

from __future__ import annotations

import dataclasses

from cosigner_ha.cluster.scenario.credentials import (
    ApiPublicKey,
    HandlerPrivateKey,
    read_private_key,
    read_public_key,
)
from cosigner_ha.cluster.scenario.frozen import FrozenDict
from cosigner_ha.cluster.scenario.loader_base import (
    SITE,
    LoaderBase,
    https_url,
    nonempty_string,
    target_reference,
)
from cosigner_ha.cluster.scenario.model import (
    SAAS_ENDPOINT,
    SIGNING_ROLES,
    ApiUser,
    ApiUserRole,
    AsgiCallback,
    Callback,
    CallbackAction,
    Enclave,
    Group,
    Node,
    PythonCallback,
    ScriptedCallback,
    UrlCallback,
    User,
    UserRole,
    Workspace,
    WorkspaceEnv,
)
from cosigner_ha.cluster.scenario.reading import (
    BOOL,
    DURATION,
    IDENT,
    IDENT_PATTERN,
    NAME,
    Conv,
    Invalid,
    Table,
    array,
    choice,
    integer,
    number,
)
from cosigner_ha.cluster.scenario.refs import ACCOUNT_KINDS
from cosigner_ha.policy.vocabulary import API_USER_NAME_MAX


def _loop(value: object) -> str:
    if value not in ("asyncio", "trio"):
        raise Invalid("one of asyncio, trio")
    return str(value)


ID: Conv[str] = Conv("an id (a non-empty string, such as a Fireblocks UUID)", nonempty_string)


class WorkspaceReader(LoaderBase):
    def workspace(self, t: Table | None) -> Workspace | None:
        if t is None:
            return None
        mark = self.mark()
        name = t.require("name", NAME)
        env = self.env = t.get("env", choice(WorkspaceEnv), WorkspaceEnv.MAINNET)
        prices: dict[str, float] = {}
        if (price_table := t.table("prices_usd")) is not None:
            positive = number(above=0)
            for asset, value in price_table.data.items():
                price_table.has(asset)
                if not IDENT_PATTERN.fullmatch(asset):
                    price_table.error(asset, "expected an asset symbol of letters, digits, '.', '_' and '-'")
                elif (price := price_table.convert(asset, value, positive)) is not None:
                    prices[asset] = price
        self.refs.assets.extend(prices)
        lists: dict[str, tuple[str, ...]] = {}
        for field in ACCOUNT_KINDS.values():
            ids = t.get(field, array(IDENT), ())
            lists[field] = ids or ()
            self.refs.accounts[field].extend(lists[field])
        eur_usd = t.get("eur_usd", number(above=0), None)
        if eur_usd is not None and "EUR" in prices and prices["EUR"] != eur_usd:
            t.error(
                "eur_usd",
                f"prices_usd.EUR = {prices['EUR']:g} (the older spelling of the rate) disagrees with "
                f"eur_usd = {eur_usd:g}; expected the EUR rate once, as eur_usd",
            )
        self.eur_rate = eur_usd if eur_usd is not None else prices.get("EUR")
        prices_eur: dict[str, float] = {}
        if (eur_table := t.table("prices_eur")) is not None:
            for asset, value in eur_table.data.items():
                eur_table.has(asset)
                if (price := eur_table.convert(asset, value, number(above=0))) is not None:
                    prices_eur[asset] = price
        self.eur_assets = set(prices_eur)
        balances = self.balances(t, lists["vaults"], prices)
        t.finish()
        if not self.clean_since(mark) or name is None or env is None:
            return None
        return Workspace(
            name=name,
            env=env,
            prices_usd=FrozenDict(prices),
            eur_usd=eur_usd,
            prices_eur=FrozenDict(prices_eur),
            balances=balances,
            **lists,
        )

    def entity_id(self, t: Table, what: str) -> str | None:
        """The Fireblocks id of a user, API user or group (a UUID, say): not a name, so no name rules
        apply; unique across all three kinds, and never another entity's name."""
        ident = t.get("id", ID, None)
        if ident is not None:
            if ident in self.id_paths:
                t.error("id", f"{ident!r} is already the id of {self.id_paths[ident]}; expected unique ids")
            else:
                self.id_paths[ident] = f"{t.path} ({what})"
        return ident

    def check_ids(self) -> None:
        """An id that is also a name would make a policy's reference ambiguous."""
        names = {**self.person_paths, **self.group_paths}
        for ident, path in self.id_paths.items():
            if ident in names and not path.startswith(f"{names[ident]} "):
                self.problems.add(
                    f"{path.split(' ')[0]}.id",
                    f"{ident!r} is the name of {names[ident]}; expected an id that is no user, API user or "
                    "group name",
                )

    def callbacks(self, t: Table | None) -> list[Callback]:
        if t is None:
            return []
        out: list[Callback] = []
        for name in t.data:
            self.refs.callbacks.append(name)
            sub = t.table(name)
            if sub is None:
                continue
            if not IDENT_PATTERN.fullmatch(name):
                t.error(name, "expected a callback name of letters, digits, '.', '_' and '-'")
            if (callback := self.callback(name, sub)) is not None:
                out.append(callback)
        return out

    def callback(self, name: str, t: Table) -> Callback | None:
        mark = self.mark()
        kinds = [k for k in ("python", "asgi", "url") if k in t.data]
        if len(kinds) > 1:
            t.error(kinds[1], f"expected at most one of python, asgi and url; {kinds[0]} is already given")
            return None
        if kinds == ["python"] or kinds == ["asgi"]:
            return self.code_callback(name, t, kinds[0], mark)
        if kinds == ["url"]:
            url = t.require("url", Conv("an https:// URL", https_url))
            t.finish(("url",), context="a url callback (runtime mode only)")
            return UrlCallback(name=name, url=url) if self.clean_since(mark) and url is not None else None
        d = ScriptedCallback(name)
        site = t.get("site", SITE, None)
        latency = t.get("latency", DURATION, d.latency)
        jitter = t.get("jitter", DURATION, d.jitter)
        if t.data.get("action") == "IGNORE":
            t.has("action")
            t.error(
                "action",
                "expected one of APPROVE, REJECT, RETRY: IGNORE answers approvals only, never signing",
            )
            action = None
        else:
            action = t.get("action", choice(CallbackAction), d.action)
        reject_above = t.get("reject_above_usd", number(lo=0), None)
        retry_first_n = t.get("retry_first_n", integer(0), 0)
        timeout_first_n = t.get("timeout_first_n", integer(0), 0)
        private_key: HandlerPrivateKey | None = None
        written = t.get("private_key", Conv("a path to the handler's PEM private key", nonempty_string), None)
        if written is not None:
            read = read_private_key(self.base_dir, written)
            if isinstance(read, str):
                t.error("private_key", read)
            else:
                private_key = read
        t.finish(
            (
                "private_key",
                "latency",
                "jitter",
                "action",
                "reject_above_usd",
                "retry_first_n",
                "timeout_first_n",
                "python",
                "asgi",
                "url",
                "site",
            ),
            context=f"[callbacks.{name}]",
        )
        if not self.clean_since(mark):
            return None
        assert latency is not None and jitter is not None and action is not None
        assert retry_first_n is not None and timeout_first_n is not None
        return ScriptedCallback(
            name=name,
            latency=latency,
            jitter=jitter,
            action=action,
            reject_above_usd=reject_above,
            retry_first_n=retry_first_n,
            site=site,
            timeout_first_n=timeout_first_n,
            private_key=private_key,
        )

    def users(self, tables: list[Table]) -> list[User]:
        out = []
        owners: list[str] = []
        for t in tables:
            mark = self.mark()
            name = t.require("name", NAME)
            role = t.require("role", choice(UserRole))
            user_id = self.entity_id(t, "a user")
            t.finish()
            if name is not None:
                self.unique(t, name, self.person_paths, "user names")
                self.refs.users.append(name)
                if role is not None:
                    self.roles[name] = role
            if role is UserRole.OWNER:
                if owners:
                    t.error("role", f"expected one OWNER at most; {owners[0]} is already the workspace owner")
                owners.append(t.path)
            if name is not None and user_id is not None:
                self.refs.ids[user_id] = name
            if self.clean_since(mark) and name is not None and role is not None:
                out.append(User(name, role, user_id))
        return out

    def balances(
        self, t: Table, vaults: tuple[str, ...], prices: dict[str, float]
    ) -> FrozenDict[str, FrozenDict[str, float]]:
        """`balances = { hot = { ETH = 100 } }`: per vault of `vaults`, per asset of `prices_usd`."""
        out: dict[str, FrozenDict[str, float]] = {}
        table = t.table("balances")
        if table is None:
            return FrozenDict()
        amount = number(lo=0)
        for vault in table.data:
            assets = table.table(vault)
            if vault not in vaults:
                table.error(
                    vault, f"no vault {vault!r}; expected one of [workspace] vaults: {', '.join(vaults)}"
                )
                continue
            if assets is None:
                continue
            row: dict[str, float] = {}
            for asset, value in assets.data.items():
                assets.has(asset)
                if asset not in prices:
                    assets.error(
                        asset,
                        f"no asset {asset!r}; expected one of [workspace] prices_usd: {', '.join(prices)}",
                    )
                elif (converted := assets.convert(asset, value, amount)) is not None:
                    row[asset] = converted
            out[vault] = FrozenDict(row)
        return FrozenDict(out)

    def api_users(self, tables: list[Table]) -> list[ApiUser]:
        out = []
        keys: dict[str, str] = {}
        for t in tables:
            mark = self.mark()
            name = t.require("name", NAME)
            if name is not None:
                if len(name) > API_USER_NAME_MAX:
                    t.error(
                        "name",
                        f"expected an API user name of at most {API_USER_NAME_MAX} characters, got {len(name)}: {name!r}",
                    )
                self.unique(t, name, self.person_paths, "names across [[users]] and [[api_users]]")
                self.refs.api_users.append(name)
            role = t.require("role", choice(ApiUserRole))
            callback = t.get("callback", self.refs.callback(), None)
            if name is not None and role is not None:
                self.roles[name] = role
            if callback is not None:
                self.callback_users.add(callback)
            api_id = self.entity_id(t, "an API user")
            if name is not None and api_id is not None:
                self.refs.ids[api_id] = name
            api_key, public_key = self.rest_credentials(t, keys)
            t.finish()
            if self.clean_since(mark) and name is not None and role is not None:
                out.append(
                    ApiUser(
                        name=name,
                        role=role,
                        callback=callback,
                        id=api_id,
                        api_key=api_key,
                        public_key=public_key,
                    )
                )
        return out

    def code_callback(self, name: str, t: Table, kind: str, mark: int) -> Callback | None:
        """A `python` or `asgi` handler: the user's own code, imported from `path` when given."""
        target = t.require(kind, Conv('a "module.path:attribute" reference', target_reference))
        latency = t.get("latency", DURATION, 0.0)
        jitter = t.get("jitter", DURATION, 0.0)
        folder = t.get("path", Conv("a folder to import the handler from", nonempty_string), None)
        path = None
        if folder is not None:
            path = (self.base_dir / folder).resolve()
            if not path.is_dir():
                t.error(
                    "path", f"{folder!r} (resolved to {path}) is not a folder; expected where {target} lives"
                )
        site = t.get("site", SITE, None)
        keys: tuple[str, ...] = (kind, "latency", "jitter", "path", "site")
        key: ApiPublicKey | None = None
        loop: str | None = "asyncio"
        if kind == "asgi":
            keys += ("public_key", "loop")
            loop = t.get("loop", Conv("one of asyncio, trio", _loop), "asyncio")
            written = t.get(
                "public_key", Conv("a path to the handler's PEM public key", nonempty_string), None
            )
            if written is not None:
                read = read_public_key(self.base_dir, written)
                if isinstance(read, str):
                    t.error("public_key", read)
                else:
                    key = read
        t.finish(keys, context=f"a {kind} callback")
        if not self.clean_since(mark) or target is None or latency is None or jitter is None or loop is None:
            return None
        if kind == "python":
            return PythonCallback(
                name=name, target=target, latency=latency, jitter=jitter, path=path, site=site
            )
        return AsgiCallback(
            name=name,
            target=target,
            latency=latency,
            jitter=jitter,
            path=path,
            public_key=key,
            loop=loop,
            site=site,
        )

    def rest_credentials(self, t: Table, seen: dict[str, str]) -> tuple[str | None, ApiPublicKey | None]:
        """`api_key` and `public_key` (given together), for the REST API (docs/rest-api.md)."""
        api_key = t.get("api_key", Conv("an API key (a non-empty string)", nonempty_string), None)
        written = t.get("public_key", Conv("a path to a PEM public key or CSR", nonempty_string), None)
        if api_key is not None:
            if api_key in seen:
                t.error(
                    "api_key", f"{api_key!r} is already the api_key of {seen[api_key]}; expected unique keys"
                )
            seen[api_key] = t.path
        if (api_key is None) != (written is None):
            missing = "public_key" if written is None else "api_key"
            t.error(missing, "required with " + ("api_key" if written is None else "public_key"))
            return None, None
        if written is None:
            return None, None
        key = read_public_key(self.base_dir, written)
        if isinstance(key, str):
            t.error("public_key", key)
            return None, None
        return api_key, key

    def groups(self, tables: list[Table]) -> list[Group]:
        names = [t.data.get("name") for t in tables]
        self.refs.groups.extend(n for n in names if isinstance(n, str))
        out = []
        seen: dict[str, str] = {}
        for t in tables:
            mark = self.mark()
            name = t.require("name", NAME)
            if name is not None:
                self.unique(t, name, seen, "group names")
                self.group_paths[name] = t.path
            members = t.require("members", array(self.refs.person(), nonempty=True))
            group_id = self.entity_id(t, "a group")
            if name is not None and group_id is not None:
                self.refs.group_ids[group_id] = name
            t.finish()
            if self.clean_since(mark) and name is not None and members is not None:
                out.append(Group(name, members, group_id))
        return out

    def nodes(self, tables: list[Table]) -> list[Node]:
        served_by = self.served_by
        seen: dict[str, str] = {}
        out = []
        for t in tables:
            mark = self.mark()
            name = t.require("name", IDENT)
            if name is not None:
                if name == SAAS_ENDPOINT:
                    t.error(
                        "name",
                        f"{SAAS_ENDPOINT!r} is reserved for the SaaS in fault links; expected another node name",
                    )
                self.unique(t, name, seen, "node names")
                self.refs.nodes.append(name)
            enclave = t.require("enclave", choice(Enclave))
            if name is not None and enclave is not None:
                self.enclaves[name] = enclave
            if enclave is Enclave.COMMUNAL and self.env is WorkspaceEnv.MAINNET:
                t.error(
                    "enclave",
                    "a communal (sandbox) co-signer serves testnet and sandbox workspaces only, and "
                    "workspace.env is mainnet; expected one of sgx, nitro, gcp",
                )
            if enclave not in (None, Enclave.COMMUNAL) and self.env is WorkspaceEnv.SANDBOX:
                t.error(
                    "enclave",
                    "a sandbox workspace signs with the communal co-signer only (its API users are paired "
                    "with it automatically; self-hosted co-signers are for testnet and mainnet "
                    'workspaces); expected "communal"',
                )
            site = t.require("site", SITE)
            if site is not None:
                self.node_sites.append(site)
            served = t.get("api_users", array(self.refs.api_user()), ())
            for i, user in enumerate(served or ()):
                role = self.roles.get(user)
                if role is not None and role not in SIGNING_ROLES:
                    t.error(
                        f"api_users[{i}]",
                        f"API user {user!r} has role {role}, which cannot sign; expected an API user "
                        "with role SIGNER or ADMIN",
                    )
                if user in served_by:
                    t.error(
                        f"api_users[{i}]",
                        f"API user {user!r} is already paired with node {served_by[user]}; an API user "
                        "pairs with one co-signer, expected an API user no other node serves",
                    )
                elif name is not None:
                    served_by[user] = name
            standby = t.get("standby", BOOL, False)
            log_max_bytes = t.get("log_max_bytes", integer(1024), 4_100_000)
            log_files = t.get("log_files", integer(1, 1000), 10)
            sessions = t.get("signing_sessions", integer(1, 10_000), None)
            round_time = t.get("signing_round_time", DURATION, None)
            boot = tuple(t.get(key, DURATION, None) for key in ("boot_time", "attest_time", "restore_time"))
            t.finish()
            if self.clean_since(mark):
                assert name and enclave and site and served is not None and standby is not None
                assert log_max_bytes is not None and log_files is not None
                out.append(
                    Node(
                        name,
                        enclave,
                        site,
                        served,
                        standby,
                        log_max_bytes,
                        log_files,
                        sessions,
                        round_time,
                        *boot,
                    )
                )
        return self.auto_pair_communal(out)

    def auto_pair_communal(self, nodes: list[Node]) -> list[Node]:
        """In a sandbox workspace, every signing API user no node lists is paired with the (first)
        communal co-signer, as the product pairs each new sandbox API user automatically."""
        if self.env is not WorkspaceEnv.SANDBOX:
            return nodes
        communal = next((i for i, n in enumerate(nodes) if n.enclave is Enclave.COMMUNAL), None)
        if communal is None:
            return nodes
        unpaired = [
            user
            for user in self.refs.api_users
            if self.roles.get(user) in SIGNING_ROLES and user not in self.served_by
        ]
        if not unpaired:
            return nodes
        node = nodes[communal]
        for user in unpaired:
            self.served_by[user] = node.name
        nodes[communal] = dataclasses.replace(node, api_users=(*node.api_users, *unpaired))
        return nodes
