"""Topologies: where co-signer nodes run, which enclave, who they serve; the workspace around them.

Everything shrinks toward the plainest cluster: fewer nodes (one), the first enclave kind (Nitro), the
first site, no standby, one API user per node, no callback handler.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Sequence

from hypothesis import strategies as st

from cosigner_ha.cluster.scenario import (
    ApiUser,
    ApiUserRole,
    Callback,
    CallbackAction,
    Enclave,
    FrozenDict,
    Group,
    Node,
    Scenario,
    ScriptedCallback,
    User,
    UserRole,
    Workspace,
    WorkspaceEnv,
)

#: Sites by enclave kind: a node's site follows where that enclave exists (Nitro on AWS, Confidential
#: Space on GCP, SGX on premises or on Azure). Shared zones and regions give site faults several targets.
SITES: dict[Enclave, tuple[str, ...]] = {
    Enclave.NITRO: ("aws/us-east-1/a", "aws/us-east-1/b", "aws/eu-west-1/a"),
    Enclave.GCP: ("gcp/europe-west4/a", "gcp/europe-west4/b", "gcp/us-central1/a"),
    Enclave.SGX: ("onprem/dc1", "onprem/dc2", "azure/westeurope/1"),
    Enclave.COMMUNAL: ("fireblocks/sandbox",),
}
#: Enclave kinds in shrinking order; communal co-signers only exist outside mainnet.
ENCLAVES: tuple[Enclave, ...] = (Enclave.NITRO, Enclave.SGX)

#: The console user who owns the workspace and approves 2-TIER rules and pairings.
OWNER = "owner"
#: The API user every generated workload initiates from (an EDITOR: initiates, cannot sign).
INITIATOR = "ops"
#: The group of every signing API user, the designated signers of generated catch-all rules.
COSIGNERS = "cosigners"
#: The scripted callback handler generated topologies may attach to their signers.
CALLBACK = "risk"

#: Assets and their USD prices in generated workspaces, in shrinking order.
PRICES_USD: dict[str, float] = {"ETH": 3000.0, "BTC": 60000.0, "USDC": 1.0}
VAULTS: tuple[str, ...] = ("hot", "treasury")
WALLETS: tuple[str, ...] = ("partner-a", "cold")


@dataclasses.dataclass(frozen=True, slots=True)
class Identities:
    """Console users, API users and groups: who initiates, who signs, who approves."""

    users: tuple[User, ...]
    api_users: tuple[ApiUser, ...]
    groups: tuple[Group, ...]

    @property
    def signers(self) -> tuple[str, ...]:
        """The API users that hold key shares (SIGNER or ADMIN), in order."""
        return tuple(u.name for u in self.api_users if u.can_sign)


@dataclasses.dataclass(frozen=True, slots=True)
class Topology:
    """Everything of a scenario but its timeline: workspace, identities, nodes and callback handlers.

    `policies`, `workloads` and `fault_schedules` draw against a topology, so that every name they use
    exists; `scenarios` puts the pieces together.
    """

    workspace: Workspace
    identities: Identities
    nodes: tuple[Node, ...]
    callbacks: tuple[Callback, ...] = ()

    @property
    def users(self) -> tuple[User, ...]:
        return self.identities.users

    @property
    def api_users(self) -> tuple[ApiUser, ...]:
        return self.identities.api_users

    @property
    def groups(self) -> tuple[Group, ...]:
        return self.identities.groups

    @property
    def signers(self) -> tuple[str, ...]:
        """API users some node serves at the start, in node order."""
        return tuple(name for node in self.nodes for name in node.api_users)

    @property
    def initiators(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.api_users if u.role == ApiUserRole.EDITOR)

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.users)


def _letters(n: int) -> str:
    """a, b, ..., z, ba, bb, ...: short readable suffixes for generated names."""
    digits = string.ascii_lowercase
    out = digits[n % 26]
    n //= 26
    while n:
        out = digits[n % 26] + out
        n //= 26
    return out


def sites(enclave: Enclave | None = None) -> st.SearchStrategy[str]:
    """A site (`provider/region/zone`) where a node of `enclave` can run; any enclave's site if None."""
    if enclave is not None:
        return st.sampled_from(SITES[enclave])
    return st.sampled_from([site for kind in ENCLAVES for site in SITES[kind]])


def workspaces(
    *, env: WorkspaceEnv = WorkspaceEnv.MAINNET, max_assets: int = 2
) -> st.SearchStrategy[Workspace]:
    """A workspace with a few priced assets, vaults and whitelisted wallets (shrinks to ETH, one of each)."""
    if not 1 <= max_assets <= len(PRICES_USD):
        raise ValueError(f"max_assets must be between 1 and {len(PRICES_USD)}, got {max_assets}")
    assets = list(PRICES_USD)

    @st.composite
    def draw_workspace(draw: st.DrawFn) -> Workspace:
        n_assets = draw(st.integers(1, max_assets))
        n_vaults = draw(st.integers(1, len(VAULTS)))
        n_wallets = draw(st.integers(1, len(WALLETS)))
        return Workspace(
            name="acme",
            env=env,
            prices_usd=FrozenDict({a: PRICES_USD[a] for a in assets[:n_assets]}),
            vaults=VAULTS[:n_vaults],
            wallets=WALLETS[:n_wallets],
        )

    return draw_workspace()


def api_users_and_groups(
    signers: int | st.SearchStrategy[int] = 1, *, callbacks: Sequence[str] = ()
) -> st.SearchStrategy[Identities]:
    """An OWNER console user, an EDITOR API user (`ops`) that initiates, `signers` SIGNER API users
    (`signer-a`, ...; a number or a strategy for one), some attached to one of `callbacks`, and the group `cosigners` of all signers."""

    @st.composite
    def draw_identities(draw: st.DrawFn) -> Identities:
        count = signers if isinstance(signers, int) else draw(signers)
        if count < 1:
            raise ValueError(f"a topology needs at least one signer, got {count}")
        api_users = [ApiUser(INITIATOR, ApiUserRole.EDITOR)]
        for i in range(count):
            callback = draw(st.sampled_from([None, *callbacks])) if callbacks else None
            role = draw(st.sampled_from([ApiUserRole.SIGNER, ApiUserRole.ADMIN]))
            api_users.append(ApiUser(f"signer-{_letters(i)}", role, callback=callback))
        names = tuple(u.name for u in api_users if u.can_sign)
        return Identities(
            users=(User(OWNER, UserRole.OWNER),),
            api_users=tuple(api_users),
            groups=(Group(COSIGNERS, names),),
        )

    return draw_identities()


def scripted_callbacks(*, name: str = CALLBACK) -> st.SearchStrategy[ScriptedCallback]:
    """A scripted callback handler that approves after a short latency, sometimes with a REJECT limit."""
    return st.builds(
        ScriptedCallback,
        name=st.just(name),
        latency=st.integers(10, 2000).map(lambda ms: ms / 1000),
        jitter=st.sampled_from([0.0, 0.05]),
        action=st.just(CallbackAction.APPROVE),
        reject_above_usd=st.one_of(st.none(), st.integers(1000, 10**7).map(float)),
    )


def topologies(
    *,
    min_nodes: int = 1,
    max_nodes: int = 3,
    enclaves: Sequence[Enclave] = ENCLAVES,
    standby: bool = True,
    api_users_per_node: int = 1,
    callbacks: bool = True,
    workspace: st.SearchStrategy[Workspace] | None = None,
) -> st.SearchStrategy[Topology]:
    """A cluster: `min_nodes`..`max_nodes` co-signer nodes, each serving its own API users.

    Nodes are named after their enclave (`nitro-a`, `sgx-b`); sites follow the enclave (see `SITES`).
    `standby=False` keeps every node active; `callbacks=False` never attaches a callback handler.
    """
    if not 1 <= min_nodes <= max_nodes:
        raise ValueError(f"need 1 <= min_nodes <= max_nodes, got {min_nodes} and {max_nodes}")
    if not enclaves:
        raise ValueError("enclaves must name at least one enclave kind")
    if api_users_per_node < 1:
        raise ValueError(f"api_users_per_node must be at least 1, got {api_users_per_node}")
    workspace_strategy = workspace if workspace is not None else workspaces()

    @st.composite
    def draw_topology(draw: st.DrawFn) -> Topology:
        ws = draw(workspace_strategy)
        n_nodes = draw(st.integers(min_nodes, max_nodes))
        per_node = [draw(st.integers(1, api_users_per_node)) for _ in range(n_nodes)]
        handler = draw(st.one_of(st.none(), scripted_callbacks())) if callbacks else None
        handlers = () if handler is None else (handler,)
        identities = draw(
            api_users_and_groups(sum(per_node), callbacks=[c.name for c in handlers]),
        )
        signers = list(identities.signers)
        nodes = []
        for i, count in enumerate(per_node):
            kind = draw(st.sampled_from(list(enclaves)))
            if kind == Enclave.COMMUNAL and ws.env == WorkspaceEnv.MAINNET:
                kind = Enclave.NITRO if Enclave.NITRO in enclaves else Enclave.SGX
            served, signers = tuple(signers[:count]), signers[count:]
            nodes.append(
                Node(
                    name=f"{kind.value}-{_letters(i)}",
                    enclave=kind,
                    site=draw(sites(kind)),
                    api_users=served,
                    standby=draw(st.booleans()) if standby else False,
                )
            )
        used = {u.callback for u in identities.api_users}
        return Topology(ws, identities, tuple(nodes), tuple(h for h in handlers if h.name in used))

    return draw_topology()


def topology_of(scenario: Scenario) -> Topology:
    """A scenario's topology, to draw policies, workloads or faults against it."""
    identities = Identities(scenario.users, scenario.api_users, scenario.groups)
    return Topology(scenario.workspace, identities, scenario.nodes, scenario.callbacks)
