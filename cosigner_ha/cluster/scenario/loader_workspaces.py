"""Reading the several-workspaces form (`[[workspaces]]`): each workspace with its own users, API users,
groups, policy and workloads, sharing the file's co-signers, callbacks and faults.

Each workspace is read with its own names (a rule or workload may name only its workspace's people,
accounts and assets); the co-signers then see every API user of every workspace. Names of users, API
users, groups and workloads are unique across the file, so that a node's `api_users`, a fault's
`api_user` and an outcome's `workload` name one thing. The product's own rules between co-signers and
workspaces are checked here: a GCP Confidential Space co-signer serves one workspace, a communal one no
mainnet workspace, a sandbox workspace only the communal one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cosigner_ha.cluster.scenario.loader_traffic import TrafficReader
from cosigner_ha.cluster.scenario.loader_workspace import WorkspaceReader
from cosigner_ha.cluster.scenario.model import (
    SIGNING_ROLES,
    ApiUser,
    Enclave,
    Group,
    Node,
    PolicySpec,
    User,
    Workload,
    Workspace,
    WorkspaceEnv,
    WorkspacePart,
)
from cosigner_ha.cluster.scenario.reading import Table, one_of, strings_in
from cosigner_ha.cluster.scenario.refs import Refs

#: What a `[[workspaces]]` table holds besides the `[workspace]` keys.
WORKSPACE_SECTIONS = ("users", "api_users", "groups", "policy", "workload")
#: Top-level sections the several-workspaces form moves into each `[[workspaces]]` table.
MOVED_SECTIONS = ("workspace", *WORKSPACE_SECTIONS)

#: The product's wording (developers.fireblocks.com, "GCP Confidential Space API Co-signer"): "Due to Google
#: Cloud's Confidential Space container architecture, the Co-signer can only be commanded through
#: Fireblocks' SaaS. As a result, it is restricted to a single workspace connected to the Co-signer."
GCP_ONE_WORKSPACE = (
    "a GCP Confidential Space co-signer is restricted to a single workspace (it can only be commanded "
    "through the Fireblocks SaaS, from the workspace it is connected to)"
)


@dataclasses.dataclass
class _Scope:
    """What one workspace's rules and workloads may name, and its per-workspace settings."""

    refs: Refs
    env: WorkspaceEnv | None
    eur_rate: float | None
    eur_assets: set[str]
    amount_match: str


@dataclasses.dataclass
class Tenancy:
    """The workspaces read, folded into the scenario's fields."""

    workspace: Workspace | None
    users: list[User]
    api_users: list[ApiUser]
    groups: list[Group]
    policy: PolicySpec | None
    workloads: list[Workload]
    parts: tuple[WorkspacePart, ...]


class WorkspacesReader(WorkspaceReader, TrafficReader):
    def __init__(self, origin: str, base_dir: Path) -> None:
        super().__init__(origin, base_dir)
        self.scopes: dict[str, _Scope] = {}  # workspace name -> its names and settings (several only)
        self.user_workspace: dict[str, str] = {}  # user and API user -> its workspace (several only)

    def several_workspaces(self, root: Table, tables: list[Table]) -> Tenancy:
        """Read every `[[workspaces]]` table; afterwards `self.refs` names everything of every workspace
        (for nodes, faults and expectations) and `self.scopes` each workspace's own names."""
        for key in MOVED_SECTIONS:
            if key in root.data:
                root.error(
                    key,
                    f"[{key}] belongs inside each [[workspaces]] table when the file declares several "
                    f"workspaces; expected [[workspaces.{key}]]"
                    if key != "workspace"
                    else "expected either one [workspace] or [[workspaces]] tables, not both",
                )
        if not tables:
            root.error("workspaces", "expected at least one [[workspaces]] table")
        merged = Refs(nodes=self.refs.nodes, callbacks=self.refs.callbacks)
        out = Tenancy(None, [], [], [], None, [], ())
        parts: list[WorkspacePart] = []
        names: dict[str, str] = {}
        for index, t in enumerate(tables):
            self.refs = Refs(nodes=merged.nodes, callbacks=merged.callbacks)
            self.eur_rate, self.eur_assets, self.amount_match = None, set(), "exceed"
            own = {k: v for k, v in t.data.items() if k not in WORKSPACE_SECTIONS}
            workspace = self.workspace(Table(self.problems, own, t.path))
            if workspace is not None:
                self.unique(t, workspace.name, names, "workspace names")
            users = self.users(t.tables("users", what="an array of tables ([[workspaces.users]])"))
            api_users = self.api_users(
                t.tables("api_users", what="an array of tables ([[workspaces.api_users]])")
            )
            earlier_groups = dict(self.group_paths)
            group_tables = t.tables("groups", what="an array of tables ([[workspaces.groups]])")
            self.unique_across(group_tables, earlier_groups, "group names")
            groups = self.groups(group_tables)
            policy = None
            if (policy_table := t.table("policy")) is not None:
                policy = self.policy_spec(policy_table, workspace=True)
                policy_table.finish(("rules", "fireblocks_json", "amount_match"))
            workload_tables = t.tables("workload", what="an array of tables ([[workspaces.workload]])")
            self.unique_across(
                workload_tables, dict.fromkeys(self.workload_names, "another workspace"), "workload names"
            )
            workloads = self.workloads(workload_tables)
            if workspace is not None:
                self.scopes[workspace.name] = _Scope(
                    self.refs, self.env, self.eur_rate, self.eur_assets, self.amount_match
                )
                for name in self.refs.people:
                    self.user_workspace[name] = workspace.name
                parts.append(
                    WorkspacePart(
                        workspace,
                        tuple(u.name for u in users),
                        tuple(u.name for u in api_users),
                        tuple(g.name for g in groups),
                        tuple(w.name for w in workloads),
                        policy,
                    )
                )
                if index == 0:
                    out.workspace, out.policy = workspace, policy
            out.users += users
            out.api_users += api_users
            out.groups += groups
            out.workloads += workloads
            self._merge(merged, self.refs)
        self.refs = merged
        self.env = None  # the node checks below are per API user, by the API user's workspace
        out.parts = tuple(parts)
        return out

    def unique_across(self, tables: list[Table], earlier: dict[str, str], what: str) -> None:
        """A group or workload name an earlier workspace used already (within one workspace the section
        reader reports repeats itself)."""
        for t in tables:
            name = t.data.get("name")
            if isinstance(name, str) and name in earlier:
                t.error("name", f"{name!r} is already the name of {earlier[name]}; expected unique {what}")

    @staticmethod
    def _merge(into: Refs, refs: Refs) -> None:
        into.users += refs.users
        into.api_users += refs.api_users
        into.groups += refs.groups
        into.assets += [a for a in refs.assets if a not in into.assets]
        into.ids.update(refs.ids)
        into.group_ids.update(refs.group_ids)
        for field, ids in refs.accounts.items():
            into.accounts[field] += [i for i in ids if i not in into.accounts[field]]

    def check_workspace_topology(self, node_tables: list[Table], nodes: list[Node]) -> list[Node]:
        """The product's rules between co-signers and workspaces, per API user's workspace; then each
        sandbox workspace's signing API users no node lists go to the first communal co-signer."""
        # a name that is not a string is the node table's own error; it names no node here
        by_name = {name: t for t in node_tables if isinstance(name := t.data.get("name"), str)}
        for node in nodes:
            t = by_name.get(node.name)
            if t is None:
                continue
            served: dict[str, str] = {}
            for i, user in enumerate(node.api_users):
                workspace = self.user_workspace.get(user)
                if workspace is None:
                    continue
                env = self.scopes[workspace].env
                if node.enclave is Enclave.COMMUNAL and env is WorkspaceEnv.MAINNET:
                    t.error(
                        f"api_users[{i}]",
                        f"API user {user!r} belongs to workspace {workspace!r}, which is mainnet; a communal "
                        "(sandbox) co-signer serves testnet and sandbox workspaces only",
                    )
                if node.enclave is not Enclave.COMMUNAL and env is WorkspaceEnv.SANDBOX:
                    t.error(
                        f"api_users[{i}]",
                        f"API user {user!r} belongs to sandbox workspace {workspace!r}, which signs with the "
                        'communal co-signer only; expected it on an enclave = "communal" node',
                    )
                if node.enclave is Enclave.GCP and served and workspace not in served:
                    first = next(iter(served))
                    t.error(
                        f"api_users[{i}]",
                        f"API user {user!r} belongs to workspace {workspace!r}, but node {node.name} already "
                        f"serves workspace {first!r} (API user {served[first]!r}); {GCP_ONE_WORKSPACE}. "
                        "Expected API users of one workspace, or an sgx or nitro co-signer, which may "
                        "serve several",
                    )
                served.setdefault(workspace, user)
        return self._auto_pair_sandboxes(nodes)

    def _auto_pair_sandboxes(self, nodes: list[Node]) -> list[Node]:
        communal = next((i for i, n in enumerate(nodes) if n.enclave is Enclave.COMMUNAL), None)
        if communal is None:
            return nodes
        unpaired = [
            user
            for name, scope in self.scopes.items()
            if scope.env is WorkspaceEnv.SANDBOX
            for user in scope.refs.api_users
            if self.roles.get(user) in SIGNING_ROLES and user not in self.served_by
        ]
        if unpaired:
            node = nodes[communal]
            for user in unpaired:
                self.served_by[user] = node.name
            nodes[communal] = dataclasses.replace(node, api_users=(*node.api_users, *unpaired))
        return nodes

    def policy_fault_scope(self, t: Table) -> tuple[str | None, _Scope]:
        """A `policy` fault of a several-workspaces file names its `workspace`, and its rules are read
        with that workspace's names (until `leave_scope` with what this returns). In a one-workspace file
        the key is refused: there is only one."""
        saved = _Scope(self.refs, self.env, self.eur_rate, self.eur_assets, self.amount_match)
        if not self.scopes:
            if "workspace" in t.data:
                t.has("workspace")
                t.error(
                    "workspace",
                    "a policy fault names its workspace only in a file with [[workspaces]]; this file has "
                    "one [workspace]",
                )
            return None, saved
        names = list(self.scopes)
        workspace = t.require("workspace", strings_in(names, one_of("workspace names", names)))
        if workspace is not None:
            self.leave_scope(self.scopes[workspace])
        return workspace, saved

    def leave_scope(self, scope: _Scope) -> None:
        self.refs, self.env = scope.refs, scope.env
        self.eur_rate, self.eur_assets, self.amount_match = (
            scope.eur_rate,
            scope.eur_assets,
            scope.amount_match,
        )
