"""Loading a scenario file: TOML in, a checked `Scenario` out, or a `ScenarioError` listing every problem.

The loader refuses, before anything runs, whatever would make a run meaningless: an unknown name or key,
a malformed duration, a wrong type, a fault aimed at nothing, a time past the end of the run, a topology
the product would not allow (an API user that cannot sign on a node, a communal co-signer in a mainnet
workspace, one API user paired with two nodes). It reads the whole file before giving up, so one run of
the loader shows everything to fix.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cosigner_ha.cluster.scenario.credentials import ApiPublicKey, read_public_key
from cosigner_ha.cluster.scenario.durations import Rate, format_duration
from cosigner_ha.cluster.scenario.errors import Problem, ScenarioError
from cosigner_ha.cluster.scenario.frozen import FrozenDict
from cosigner_ha.cluster.scenario.keys import (
    FAULT_KEYS,
    FAULT_TARGETS,
    FAULTS_WITH_FOR,
    SECTIONS,
    WORKLOAD_KEYS,
)
from cosigner_ha.cluster.scenario.model import (
    INITIATING_ROLES,
    SAAS_ENDPOINT,
    SIGNING_ROLES,
    SUB_STATUSES,
    VERSION,
    AddressType,
    ApiUser,
    ApiUserRole,
    AsgiCallback,
    Callback,
    CallbackAction,
    CallbackFailurePolicy,
    CallbackFaultMode,
    Enclave,
    Expect,
    ExpectOutcome,
    ExpectWindow,
    Fault,
    FaultAction,
    FireblocksPolicy,
    Group,
    InlinePolicy,
    Node,
    Operation,
    PolicySpec,
    PythonCallback,
    SaasSettings,
    Scenario,
    ScenarioInfo,
    ScriptedCallback,
    Selection,
    TxStatus,
    UrlCallback,
    User,
    UserRole,
    Workload,
    Workspace,
    WorkspaceEnv,
    site_is_under,
)
from cosigner_ha.cluster.scenario.reading import (
    BOOL,
    DURATION,
    IDENT,
    IDENT_PATTERN,
    NAME,
    POSITIVE_DURATION,
    RATE,
    SIGNED_DURATION,
    STRING,
    Conv,
    Invalid,
    Problems,
    Table,
    array,
    choice,
    describe,
    did_you_mean,
    integer,
    number,
    one_of,
    strings_in,
)
from cosigner_ha.cluster.scenario.refs import ACCOUNT_KINDS, Refs
from cosigner_ha.cluster.scenario.rules import check_rule

API_USER_NAME_MAX = 30
SEED_MAX = 2**63 - 1  # the largest TOML integer

_TARGET = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
)
_TOML_POSITION = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and check a scenario file; relative paths in it are taken from the file's folder."""
    file = Path(path)
    origin = str(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ScenarioError(
            [Problem(origin, "", f"cannot read the scenario file: {exc.strerror or exc}")]
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(
            [Problem(origin, "", "expected UTF-8 text (TOML files are UTF-8)", line, column)]
        ) from None
    return load_scenario_text(text, origin, base_dir=file.parent)


def load_scenario_text(
    text: str, origin: str = "<scenario>", *, base_dir: str | os.PathLike[str] | None = None
) -> Scenario:
    """Check scenario text; `origin` names it in messages, `base_dir` anchors relative paths (default: cwd)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        if match := _TOML_POSITION.match(message):
            line, col = int(match["line"]), int(match["col"])
            problem = Problem(origin, "", f"invalid TOML: {match['msg']}", line, col)
        else:
            lines = text.count("\n") + 1
            problem = Problem(
                origin, "", f"invalid TOML: {message}", lines, len(text.rsplit("\n", 1)[-1]) + 1
            )
        raise ScenarioError([problem]) from None
    return scenario_from_dict(data, origin, base_dir=base_dir)


def scenario_from_dict(
    data: Mapping[str, Any], origin: str = "<scenario>", *, base_dir: str | os.PathLike[str] | None = None
) -> Scenario:
    """Check a scenario given as the dict TOML would parse to (the Hypothesis strategies' entry point)."""
    if not isinstance(data, Mapping):
        raise ScenarioError([Problem(origin, "", f"expected a table of sections, got {describe(data)}")])
    return _Loader(origin, Path(base_dir) if base_dir is not None else Path.cwd()).load(data)


class _Loader:
    def __init__(self, origin: str, base_dir: Path) -> None:
        self.problems = Problems(origin)
        self.base_dir = base_dir
        self.refs = Refs()
        self.duration: float | None = None
        self.env: WorkspaceEnv | None = None
        # Facts read from items even when the item has other problems, so that one mistake does not
        # cascade into spurious ones elsewhere.
        self.person_paths: dict[str, str] = {}  # user and API user names -> where declared
        self.roles: dict[str, str] = {}  # user and API user names -> role
        self.callback_users: set[str] = set()  # callbacks some API user names
        self.served_by: dict[str, str] = {}  # API user -> the node serving it at the start
        self.node_sites: list[str] = []
        self.enclaves: dict[str, Enclave] = {}  # node -> its enclave kind
        self.workload_names: list[str] = []
        self.token_validity: float | None = None  # [saas] pairing_token_validity, once read

    def load(self, data: Mapping[str, Any]) -> Scenario:
        root = Table(self.problems, data, "")
        info = self.scenario(root.table("scenario", required=True))
        saas = self.saas(root.table("saas"))
        workspace = self.workspace(root.table("workspace", required=True))
        callbacks = self.callbacks(root.table("callbacks"))
        users = self.users(root.tables("users", what="an array of tables ([[users]])"))
        api_users = self.api_users(root.tables("api_users", what="an array of tables ([[api_users]])"))
        groups = self.groups(root.tables("groups", what="an array of tables ([[groups]])"))
        node_tables = root.tables("nodes", what="an array of tables ([[nodes]])")
        if not data.get("nodes"):
            self.problems.add("nodes", "required: at least one [[nodes]] table")
        nodes = self.nodes(node_tables)
        policy = None
        if (policy_table := root.table("policy")) is not None:
            policy = self.policy_spec(policy_table)
            policy_table.finish(("rules", "fireblocks_json"))
        workloads = self.workloads(root.tables("workload", what="an array of tables ([[workload]])"))
        faults = self.faults(root.tables("faults", what="an array of tables ([[faults]])"))
        expect = self.expect(root.table("expect"))
        root.finish(SECTIONS)
        if self.problems.items or info is None or workspace is None or saas is None or expect is None:
            raise ScenarioError(self.problems.items)
        return Scenario(
            scenario=info,
            saas=saas,
            workspace=workspace,
            users=tuple(users),
            api_users=tuple(api_users),
            groups=tuple(groups),
            nodes=tuple(nodes),
            callbacks=tuple(callbacks),
            policy=policy,
            workloads=tuple(workloads),
            faults=tuple(faults),
            expect=expect,
            origin=self.problems.origin,
        )

    # -- helpers ---------------------------------------------------------------------------------------

    def mark(self) -> int:
        return len(self.problems)

    def clean_since(self, mark: int) -> bool:
        return len(self.problems) == mark

    def unique(self, table: Table, name: str, seen: dict[str, str], what: str) -> None:
        """Refuse a name already used: `seen` maps names to the path that declared them."""
        if name in seen:
            table.error("name", f"{name!r} is already the name of {seen[name]}; expected unique {what}")
        else:
            seen[name] = table.path

    def time(self, table: Table, key: str, *, required: bool = True, inclusive: bool = False) -> float | None:
        """A time on the timeline: an offset before the end of the run (at the end when `inclusive`)."""
        value = table.require(key, DURATION) if required else table.get(key, DURATION, None)
        end = self.duration
        if value is not None and end is not None and (value > end if inclusive else value >= end):
            bound = "at most" if inclusive else "before"
            table.error(
                key,
                f"expected a time {bound} the end of the run (scenario.duration = {format_duration(end)}), "
                f"got {format_duration(value)}",
            )
            return None
        return value

    # -- sections --------------------------------------------------------------------------------------

    def scenario(self, t: Table | None) -> ScenarioInfo | None:
        if t is None:
            return None
        mark = self.mark()
        version = t.get("version", integer(), VERSION)
        if version is not None and version != VERSION:
            t.error(
                "version",
                f"expected {VERSION} (this cosigner-ha reads scenario files of version {VERSION}), got {version}",
            )
        name = t.require("name", NAME)
        seed = t.require("seed", integer(0, SEED_MAX))
        self.duration = duration = t.require("duration", POSITIVE_DURATION)
        description = t.get("description", STRING, "")
        t.finish()
        if (
            not self.clean_since(mark)
            or name is None
            or seed is None
            or duration is None
            or description is None
        ):
            return None
        return ScenarioInfo(name=name, seed=seed, duration=duration, description=description)

    def saas(self, t: Table | None) -> SaasSettings | None:
        if t is None:
            return SaasSettings()
        mark = self.mark()
        d = SaasSettings()
        values = {
            "probe_window": t.get("probe_window", POSITIVE_DURATION, d.probe_window),
            "selection": t.get("selection", choice(Selection), d.selection),
            "long_poll_interval": t.get("long_poll_interval", POSITIVE_DURATION, d.long_poll_interval),
            "offline_after": t.get("offline_after", POSITIVE_DURATION, d.offline_after),
            "callback_deadline": t.get("callback_deadline", POSITIVE_DURATION, d.callback_deadline),
            "callback_failure": t.get("callback_failure", choice(CallbackFailurePolicy), d.callback_failure),
            "callback_retry_attempts": t.get(
                "callback_retry_attempts", integer(0), d.callback_retry_attempts
            ),
            "callback_retry_interval": t.get(
                "callback_retry_interval", POSITIVE_DURATION, d.callback_retry_interval
            ),
            "pairing_token_validity": t.get(
                "pairing_token_validity", POSITIVE_DURATION, d.pairing_token_validity
            ),
            "authorization_timeout": t.get(
                "authorization_timeout", POSITIVE_DURATION, d.authorization_timeout
            ),
            "signing_timeout": t.get("signing_timeout", POSITIVE_DURATION, d.signing_timeout),
            "owner_approval_latency": t.get("owner_approval_latency", DURATION, d.owner_approval_latency),
            "admin_approval_latency": t.get("admin_approval_latency", DURATION, d.admin_approval_latency),
        }
        t.finish()
        self.token_validity = values["pairing_token_validity"]  # type: ignore[assignment]
        if not self.clean_since(mark):
            return None
        return SaasSettings(**values)  # type: ignore[arg-type]  # all present once clean

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
        balances = self.balances(t, lists["vaults"], prices)
        t.finish()
        if not self.clean_since(mark) or name is None or env is None:
            return None
        return Workspace(name=name, env=env, prices_usd=FrozenDict(prices), balances=balances, **lists)

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
        target_conv = Conv('a "module.path:attribute" reference', _target)
        if kinds == ["python"] or kinds == ["asgi"]:
            kind = kinds[0]
            target = t.require(kind, target_conv)
            latency = t.get("latency", DURATION, 0.0)
            t.finish((kind, "latency"), context=f"a {kind} callback")
            if not self.clean_since(mark) or target is None or latency is None:
                return None
            cls = PythonCallback if kind == "python" else AsgiCallback
            return cls(name=name, target=target, latency=latency)
        if kinds == ["url"]:
            url = t.require("url", Conv("an https:// URL", _https_url))
            t.finish(("url",), context="a url callback (runtime mode only)")
            return UrlCallback(name=name, url=url) if self.clean_since(mark) and url is not None else None
        d = ScriptedCallback(name)
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
        t.finish(
            (
                "latency",
                "jitter",
                "action",
                "reject_above_usd",
                "retry_first_n",
                "timeout_first_n",
                "python",
                "asgi",
                "url",
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
            timeout_first_n=timeout_first_n,
        )

    def users(self, tables: list[Table]) -> list[User]:
        out = []
        owners: list[str] = []
        for t in tables:
            mark = self.mark()
            name = t.require("name", NAME)
            role = t.require("role", choice(UserRole))
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
            if self.clean_since(mark) and name is not None and role is not None:
                out.append(User(name, role))
        return out

    def api_users(self, tables: list[Table]) -> list[ApiUser]:
        out = []
        ids: dict[str, str] = {}
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
            api_id = t.get("id", NAME, None)
            if api_id is not None:
                if api_id in ids:
                    t.error(
                        "id", f"{api_id!r} is already the id of {ids[api_id]}; expected unique API user ids"
                    )
                ids[api_id] = t.path
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

    def rest_credentials(self, t: Table, seen: dict[str, str]) -> tuple[str | None, ApiPublicKey | None]:
        """`api_key` and `public_key` (given together), for the REST API (docs/rest-api.md)."""
        api_key = t.get("api_key", Conv("an API key (a non-empty string)", _nonempty_string), None)
        written = t.get("public_key", Conv("a path to a PEM public key or CSR", _nonempty_string), None)
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
            members = t.require("members", array(self.refs.person(), nonempty=True))
            t.finish()
            if self.clean_since(mark) and name is not None and members is not None:
                out.append(Group(name, members))
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
            t.finish()
            if self.clean_since(mark):
                assert name and enclave and site and served is not None and standby is not None
                assert log_max_bytes is not None and log_files is not None
                out.append(Node(name, enclave, site, served, standby, log_max_bytes, log_files))
        return out

    def policy_spec(self, t: Table) -> PolicySpec | None:
        """`rules = [...]` or `fireblocks_json = "path"` ([policy] and `policy` faults)."""
        has_rules, has_file = "rules" in t.data, "fireblocks_json" in t.data
        if has_rules == has_file:
            t.error(
                "",
                'expected either rules ([[...rules]] tables) or fireblocks_json = "path"'
                + (", not both" if has_rules else ""),
            )
            return None
        if has_file:
            return self.fireblocks_json(t)
        mark = self.mark()
        rules = []
        for rule in t.tables("rules", what="an array of rule tables"):
            if (checked := check_rule(rule, self.refs)) is not None:
                rules.append(checked)
        return InlinePolicy(tuple(rules)) if self.clean_since(mark) else None

    def fireblocks_json(self, t: Table) -> FireblocksPolicy | None:
        written = t.require("fireblocks_json", Conv("a path to a JSON file", _nonempty_string))
        if written is None:
            return None
        path = (self.base_dir / written).resolve()
        try:
            data = path.read_bytes()
        except OSError as exc:
            t.error(
                "fireblocks_json",
                f"cannot read {written!r} (resolved to {path}): {exc.strerror or exc}; expected a readable JSON file",
            )
            return None
        try:
            json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                why = f" at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            else:
                why = f" (not UTF-8 at byte {exc.start})"
            t.error(
                "fireblocks_json",
                f"{written!r} is not valid JSON{why}; expected an exported Fireblocks policy",
            )
            return None
        return FireblocksPolicy(path=path, sha256=hashlib.sha256(data).hexdigest())

    def workloads(self, tables: list[Table]) -> list[Workload]:
        roles = self.roles
        seen: dict[str, str] = {}
        out = []
        for t in tables:
            mark = self.mark()
            name = t.require("name", NAME)
            if name is not None:
                self.unique(t, name, seen, "workload names")
                self.workload_names.append(name)
            initiator = t.require("initiator", self.refs.person())
            if initiator is not None and roles.get(initiator, INITIATING_ROLES[0]) not in INITIATING_ROLES:
                t.error(
                    "initiator",
                    f"{initiator!r} has role {roles[initiator]}, which cannot initiate transactions; expected a "
                    f"user or API user with role {', '.join(INITIATING_ROLES)}",
                )
            asset = t.require("asset", self.refs.asset())
            low = high = None
            if (amount := t.table("amount", required=True)) is not None:
                low = amount.require("min", number(lo=0))
                high = amount.get("max", number(lo=0), low)
                if low is not None and high is not None and high < low:
                    amount.error("max", f"expected a maximum of at least the minimum {low:g}, got {high:g}")
                amount.finish()
            source = t.require("source", self.refs.account(("vault", "exchange", "fiat")))
            destination = t.require("destination", self.refs.account(tuple(ACCOUNT_KINDS), one_time=True))
            if source is not None and source == destination:
                t.error("destination", f"expected a destination other than the source {source!r}")
            implied = (
                AddressType.ONE_TIME
                if (destination or "").startswith("one-time:")
                else AddressType.WHITELISTED
            )
            address = t.get("destination_address", choice(AddressType), implied)
            if address is not None and destination is not None and address is not implied:
                t.error(
                    "destination_address",
                    f"expected {implied.value!r} for destination {destination!r} "
                    "(one-time:<address> destinations are one-time, workspace accounts whitelisted)",
                )
            operation = t.get("operation", choice(Operation), Operation.TRANSFER)
            rate: Rate | None = None
            start, stop, at, count = 0.0, None, None, 1
            if t.has("rate"):
                rate = t.require("rate", RATE)
                start = self.time(t, "start", required=False) or 0.0
                stop = self.time(t, "stop", required=False, inclusive=True)
                if stop is not None and stop <= start:
                    t.error(
                        "stop",
                        f"expected a stop after the start {format_duration(start)}, got {format_duration(stop)}",
                    )
                for key in ("at", "count"):
                    if key in t.data:
                        t.error(key, "expected either rate (with start, stop) or at (with count), not both")
            elif t.has("at"):
                at = self.time(t, "at")
                count = t.get("count", integer(1), 1) or 1
                for key in ("start", "stop"):
                    if key in t.data:
                        t.error(
                            key,
                            "start and stop go with rate; an at workload submits count transactions at once",
                        )
            else:
                t.error("", 'expected an arrival form: rate = "2/min" (Poisson), or at = "1h" with count = 1')
            t.finish(WORKLOAD_KEYS, context="a [[workload]]")
            if self.clean_since(mark):
                assert name and initiator and asset and source and destination and address and operation
                assert low is not None and high is not None
                out.append(
                    Workload(
                        name=name,
                        initiator=initiator,
                        asset=asset,
                        amount_min=low,
                        amount_max=high,
                        source=source,
                        destination=destination,
                        destination_address=address,
                        operation=operation,
                        rate=rate,
                        start=start,
                        stop=stop,
                        at=at,
                        count=count,
                    )
                )
        return out

    def faults(self, tables: list[Table]) -> list[Fault]:
        out: list[tuple[Fault, Table]] = []
        for t in tables:
            if (fault := self.fault(t)) is not None:
                out.append((fault, t))
        self.check_pairing_timeline(out)
        return [fault for fault, _ in out]

    def fault(self, t: Table) -> Fault | None:
        mark = self.mark()
        at = self.time(t, "at")
        action = t.require("action", choice(FaultAction))
        if action is None:  # its other keys cannot be judged without knowing the action
            return None
        targets = FAULT_TARGETS[action]
        own = FAULT_KEYS.get(action, ())
        allowed = ("at", "action", *targets, *(("for",) if action in FAULTS_WITH_FOR else ()), *own)
        given = [k for k in targets if k in t.data]
        if targets and len(given) != 1:
            listed = " or ".join(targets)
            t.error(
                given[1] if len(given) > 1 else "",
                f"expected exactly one target for a {action} fault: {listed}"
                + (f"; got {', '.join(given)}" if given else ""),
            )
        fields: dict[str, Any] = {}
        if "node" in given:
            fields["node"] = t.require("node", self.refs.node())
        if "site" in given:
            site = t.require("site", SITE)
            sites = list(dict.fromkeys(self.node_sites))
            if site is not None and sites and not any(site_is_under(s, site) for s in sites):
                t.error(
                    "site",
                    f"site prefix {site!r} matches no node; expected a prefix of {one_of('node sites', sites)}{did_you_mean(site, sites)}",
                )
            fields["site"] = site
        if "link" in given:
            endpoints = [SAAS_ENDPOINT, *self.refs.nodes]
            ends = t.require("link", array(self._endpoint(endpoints)))
            if ends is not None and len(ends) != 2:
                t.error("link", f"expected two endpoints (node names or {SAAS_ENDPOINT!r}), got {len(ends)}")
            fields["link"] = ends
        if "callback" in given:
            name = t.require("callback", self.refs.callback())
            if name is not None and name not in self.callback_users:
                t.error(
                    "callback",
                    f"no API user uses callback {name!r}; expected a callback some [[api_users]] names",
                )
            fields["callback"] = name
        if action in FAULTS_WITH_FOR:
            fields["for_"] = t.get("for", POSITIVE_DURATION, None)
        if action is FaultAction.LATENCY:
            fields["amount"] = t.require("amount", POSITIVE_DURATION)
            fields["jitter"] = t.get("jitter", DURATION, None)
        elif action is FaultAction.LOSS:
            fields["ratio"] = t.require("ratio", number(hi=1, above=0))
        elif action is FaultAction.CALLBACK:
            fields["mode"] = t.require("mode", choice(CallbackFaultMode))
        elif action is FaultAction.DISK_LOSS:
            fields["backup"] = t.get("backup", BOOL, False)
            fields["new_host"] = t.get("new_host", BOOL, False)
        elif action is FaultAction.CLOCK_SKEW:
            skew = t.require("skew", SIGNED_DURATION)
            if skew == 0:
                t.error("skew", "expected a skew other than zero")
            fields["skew"] = skew
        elif action is FaultAction.POLICY:
            fields["policy"] = self.policy_spec(t)
        elif action in (FaultAction.PAIR, FaultAction.UNPAIR):
            user = t.require("api_user", self.refs.api_user())
            if action is FaultAction.PAIR and user is not None:
                role = self.roles.get(user)
                if role is not None and role not in SIGNING_ROLES:
                    t.error(
                        "api_user",
                        f"API user {user!r} has role {role}, which cannot sign; expected an API user with role SIGNER or ADMIN",
                    )
            fields["api_user"] = user
            if action is FaultAction.PAIR:
                fields["token_age"] = self.token_age(t, at, fields.get("node"))
        self.finish_fault(t, action, allowed)
        if not self.clean_since(mark) or at is None:
            return None
        return Fault(at=at, action=action, **fields)

    def token_age(self, t: Table, at: float | None, node: str | None) -> float | None:
        """`token_age` of a pair fault: the token waits this long between the console and the node."""
        age = t.get("token_age", POSITIVE_DURATION, None)
        if age is None:
            return None
        if node is not None and self.enclaves.get(node) is Enclave.GCP:
            t.error(
                "token_age",
                f"node {node} is a gcp co-signer, paired through the SaaS, which hands it a fresh token at "
                "once; expected a pair fault on an sgx, nitro or communal node (an operator carries its token)",
            )
        end = self.duration
        if at is not None and end is not None and at + age >= end:
            t.error(
                "token_age",
                f"the token would be used at {format_duration(at + age)}, at or after the end of the run "
                f"(scenario.duration = {format_duration(end)}); expected at + token_age before the end",
            )
        return age

    def finish_fault(self, t: Table, action: FaultAction, allowed: tuple[str, ...]) -> None:
        """Unknown keys, telling apart a key of another action from a plain misspelling."""
        every = {k for a in FaultAction for k in (*FAULT_TARGETS[a], *FAULT_KEYS.get(a, ()))} | {"for"}
        for key in t.data:
            if key in allowed:
                continue
            if key in every:
                users = [
                    a.value
                    for a in FaultAction
                    if key in FAULT_TARGETS[a]
                    or key in FAULT_KEYS.get(a, ())
                    or (key == "for" and a in FAULTS_WITH_FOR)
                ]
                t.error(
                    key,
                    f"{key!r} does not apply to a {action} fault (it belongs to {', '.join(users)}); expected {', '.join(allowed)}",
                )
            else:
                t.error(
                    key,
                    f"unknown key {key!r} in a {action} fault{did_you_mean(key, allowed)}; expected {', '.join(allowed)}",
                )

    def _endpoint(self, endpoints: list[str]) -> Conv[str]:
        return strings_in(endpoints, one_of(f"link endpoints ({SAAS_ENDPOINT!r} or a node name)", endpoints))

    def check_pairing_timeline(self, faults: list[tuple[Fault, Table]]) -> None:
        """Walk pair/unpair faults in time order: pair an unpaired API user, unpair a paired one."""
        paired = dict(self.served_by)
        ordered = sorted(enumerate(faults), key=lambda item: (item[1][0].effective_at, item[0]))
        validity = self.token_validity
        for _, (fault, t) in ordered:
            user, node = fault.api_user, fault.node
            if user is None or node is None:
                continue
            when = format_duration(fault.effective_at)
            if fault.action is FaultAction.PAIR:
                expired = validity is not None and (fault.token_age or 0.0) >= validity
                if user in paired:
                    t.error(
                        "api_user",
                        f"API user {user!r} is paired with node {paired[user]} at {when}; expected an unpaired API user (unpair it first)",
                    )
                elif not expired:  # an expired token pairs nothing: the API user stays unpaired
                    paired[user] = node
            elif fault.action is FaultAction.UNPAIR:
                if paired.get(user) != node:
                    now = f"is paired with node {paired[user]}" if user in paired else "is not paired"
                    t.error(
                        "api_user",
                        f"API user {user!r} {now} at {when}; expected an API user node {node} serves then",
                    )
                else:
                    del paired[user]

    def expect(self, t: Table | None) -> Expect | None:
        if t is None:
            return Expect()
        mark = self.mark()
        values = {
            "all_terminal": t.get("all_terminal", BOOL, True),
            "no_double_sign": t.get("no_double_sign", BOOL, True),
            "no_nonce_reuse": t.get("no_nonce_reuse", BOOL, True),
            "min_completed_ratio": t.get("min_completed_ratio", number(0, 1), None),
            "max_signing_latency_p99": t.get("max_signing_latency_p99", POSITIVE_DURATION, None),
            "max_failover": t.get("max_failover", POSITIVE_DURATION, None),
        }
        windows = []
        for w in t.tables("window", what="an array of tables ([[expect.window]])"):
            start = self.time(w, "from")
            end = self.time(w, "to", inclusive=True)
            if start is not None and end is not None and end <= start:
                w.error(
                    "to", f"expected a time after from = {format_duration(start)}, got {format_duration(end)}"
                )
            signed_by = w.require("signed_by", array(self.refs.node(), nonempty=True))
            w.finish()
            if start is not None and end is not None and signed_by is not None:
                windows.append(ExpectWindow(start, end, signed_by))
        outcomes = []
        workloads = self.workload_names
        for o in t.tables("outcome", what="an array of tables ([[expect.outcome]])"):
            workload = o.get("workload", strings_in(workloads, one_of("workload names", workloads)), None)
            status = o.require("status", choice(TxStatus))
            sub_status = o.get("sub_status", choice_of(SUB_STATUSES, "sub-statuses"), None)
            count = o.get("count", integer(0), None)
            o.finish()
            if status is not None:
                outcomes.append(ExpectOutcome(status, workload, sub_status, count))
        t.finish()
        if not self.clean_since(mark):
            return None
        return Expect(windows=tuple(windows), outcomes=tuple(outcomes), **values)  # type: ignore[arg-type]


def choice_of(values: tuple[str, ...], what: str) -> Conv[str]:
    return strings_in(values, one_of(what, values))


def _target(value: Any) -> str:
    if not isinstance(value, str) or not _TARGET.fullmatch(value):
        raise Invalid('a "module.path:attribute" reference such as "mypkg.handlers:decide"')
    return value


def _https_url(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("an https:// URL")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise Invalid("an https:// URL with a host (the co-signer calls handlers over TLS only)")
    return value


def _nonempty_string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("a non-empty string")
    return value


_SITE_EXPECTED = (
    'a site path provider[/region[/zone]] of letters, digits, ".", "_" and "-", such as "aws/us-east-1/a"'
)


def _site(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(_SITE_EXPECTED)
    parts = value.split("/")
    if not 1 <= len(parts) <= 3 or not all(IDENT_PATTERN.fullmatch(p) for p in parts):
        raise Invalid(_SITE_EXPECTED)
    return value


SITE: Conv[str] = Conv(_SITE_EXPECTED, _site)
