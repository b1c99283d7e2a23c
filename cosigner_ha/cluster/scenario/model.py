"""The scenario model: what a version-1 scenario file says, typed and immutable.

Durations and times are float seconds from the start of the run. Everything is a frozen dataclass of
tuples, enums and `FrozenDict`s, so a scenario can be hashed, compared, shared between runs and shrunk by
the explorer without anyone changing it underneath. Defaults are those of DESIGN.md section 2.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cosigner_ha.cluster.scenario.credentials import ApiPublicKey, HandlerPrivateKey
from cosigner_ha.cluster.scenario.durations import Rate
from cosigner_ha.cluster.scenario.frozen import FrozenDict, thaw
from cosigner_ha.policy.vocabulary import INITIATING_ROLES as INITIATING_ROLES
from cosigner_ha.policy.vocabulary import SIGNING_ROLES as SIGNING_ROLES
from cosigner_ha.policy.vocabulary import ApiUserRole as ApiUserRole
from cosigner_ha.policy.vocabulary import Role
from cosigner_ha.policy.vocabulary import WorkspaceEnv as WorkspaceEnv
from cosigner_ha.saas_sim.transactions import SubStatus

VERSION = 1


class Enclave(enum.StrEnum):
    SGX = "sgx"
    NITRO = "nitro"
    GCP = "gcp"
    COMMUNAL = "communal"


class Selection(enum.StrEnum):
    FIRST_RESPONDER = "first-responder"
    LISTED_ORDER = "listed-order"


class CallbackFailurePolicy(enum.StrEnum):
    """What the SaaS does when the chosen node's callback handler fails (no answer, an HTTP error)."""

    FAIL = "fail"  # the transaction FAILED (sub-status TIMEOUT)
    NEXT_NODE = "next-node"  # another co-signer is tried


#: Console user roles (the scenario file's `users[].role`).
UserRole = Role


class Operation(enum.StrEnum):
    TRANSFER = "TRANSFER"
    CONTRACT_CALL = "CONTRACT_CALL"
    APPROVE = "APPROVE"
    MINT = "MINT"
    BURN = "BURN"
    SUPPLY = "SUPPLY"
    REDEEM = "REDEEM"
    STAKE = "STAKE"
    RAW = "RAW"
    TYPED_MESSAGE = "TYPED_MESSAGE"
    PROGRAM_CALL = "PROGRAM_CALL"


class AddressType(enum.StrEnum):
    WHITELISTED = "whitelisted"
    ONE_TIME = "one-time"


class CallbackAction(enum.StrEnum):
    """What a scripted handler answers to a signing request (IGNORE is for approvals only)."""

    APPROVE = "APPROVE"
    REJECT = "REJECT"
    RETRY = "RETRY"


class FaultAction(enum.StrEnum):
    CRASH = "crash"
    RESTART = "restart"
    PAUSE = "pause"
    PARTITION = "partition"
    LATENCY = "latency"
    LOSS = "loss"
    SITE_OUTAGE = "site-outage"
    CALLBACK = "callback"
    DISK_LOSS = "disk-loss"
    ATTESTATION = "attestation"
    CLOCK_SKEW = "clock-skew"
    POLICY = "policy"
    UNPAIR = "unpair"
    PAIR = "pair"


class CallbackFaultMode(enum.StrEnum):
    TIMEOUT = "timeout"  # answers after the deadline (the node gives up at callback_deadline)
    REJECT = "reject"  # answers REJECT to everything
    RETRY = "retry"  # answers RETRY to everything
    DOWN = "down"  # refuses connections


#: The endpoint a `link` partition, latency or loss may name besides a node: the SaaS gateway.
SAAS_ENDPOINT = "saas"


def site_is_under(site: str, prefix: str) -> bool:
    """ "aws/us-east-1/a" is under "aws" and "aws/us-east-1", not under "aws/us-east-10"."""
    wanted = prefix.split("/")
    return site.split("/")[: len(wanted)] == wanted


@dataclasses.dataclass(frozen=True, slots=True)
class ScenarioInfo:
    name: str
    seed: int
    duration: float
    description: str = ""
    version: int = VERSION


@dataclasses.dataclass(frozen=True, slots=True)
class SaasSettings:
    """The SaaS's and the co-signers' domain settings (DESIGN.md section 2's table)."""

    probe_window: float = 3.0
    selection: Selection = Selection.FIRST_RESPONDER
    long_poll_interval: float = 30.0
    offline_after: float = 15 * 60.0
    callback_deadline: float = 30.0
    callback_failure: CallbackFailurePolicy = CallbackFailurePolicy.FAIL
    callback_retry_attempts: int = 20
    callback_retry_interval: float = 3 * 60.0
    pairing_token_validity: float = 3600.0
    authorization_timeout: float = 2 * 3600.0
    signing_timeout: float = 2 * 3600.0
    owner_approval_latency: float = 60.0
    admin_approval_latency: float = 60.0
    #: The SaaS's cloud co-signers' signing capacity; None: `saas_sim.config.CLOUD_SIGNING` (documented
    #: assumptions, docs/performance.md "Signing capacity").
    cloud_signing_sessions: int | None = None
    cloud_signing_round_time: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Workspace:
    name: str
    env: WorkspaceEnv = WorkspaceEnv.MAINNET
    prices_usd: FrozenDict[str, float] = dataclasses.field(default_factory=FrozenDict)
    vaults: tuple[str, ...] = ()
    exchanges: tuple[str, ...] = ()
    fiat_accounts: tuple[str, ...] = ()
    wallets: tuple[str, ...] = ()
    internal_wallets: tuple[str, ...] = ()
    network_connections: tuple[str, ...] = ()
    contract_wallets: tuple[str, ...] = ()
    eur_usd: float | None = None  # US dollars per euro, for rules with EUR amounts
    prices_eur: FrozenDict[str, float] = dataclasses.field(default_factory=FrozenDict)
    #: Opening balances per vault and asset (`[workspace] balances`); the REST API moves them.
    balances: FrozenDict[str, FrozenDict[str, float]] = dataclasses.field(default_factory=FrozenDict)


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    """A console user: approves 2-TIER rules, may initiate."""

    name: str
    role: UserRole
    id: str | None = None  # the Fireblocks user id a policy export names it by; None: the SaaS derives one


@dataclasses.dataclass(frozen=True, slots=True)
class ApiUser:
    name: str
    role: ApiUserRole
    callback: str | None = None  # a key of Scenario.callbacks; None auto-approves
    id: str | None = None  # the API key id; None lets the SaaS derive one from the seed
    api_key: str | None = None  # the REST API key (`X-API-Key`), with `public_key` (docs/rest-api.md)
    public_key: ApiPublicKey | None = None

    @property
    def can_sign(self) -> bool:
        return self.role in SIGNING_ROLES


@dataclasses.dataclass(frozen=True, slots=True)
class Group:
    name: str
    members: tuple[str, ...]
    id: str | None = None  # the Fireblocks group id a policy export names it by


@dataclasses.dataclass(frozen=True, slots=True)
class Node:
    name: str
    enclave: Enclave
    site: str
    api_users: tuple[str, ...] = ()
    standby: bool = False
    log_max_bytes: int = 4_100_000
    log_files: int = 10
    #: MPC rounds the enclave computes at once, and one round's compute time; None: the enclave kind's
    #: default (`node.capacity.DEFAULTS`, assumptions documented in docs/performance.md).
    signing_sessions: int | None = None
    signing_round_time: float | None = None
    #: Seconds to start the enclave/workload, to attest and unlock, to restore a backup; None: the
    #: enclave kind's default (`node.boot_timing.DEFAULTS`, assumptions documented in docs/node.md).
    boot_time: float | None = None
    attest_time: float | None = None
    restore_time: float | None = None

    @property
    def site_parts(self) -> tuple[str, ...]:
        """The site path's components: (provider, region, zone), as many as the file gave."""
        return tuple(self.site.split("/"))

    @property
    def provider(self) -> str:
        return self.site_parts[0]

    @property
    def region(self) -> str | None:
        parts = self.site_parts
        return parts[1] if len(parts) > 1 else None

    @property
    def zone(self) -> str | None:
        parts = self.site_parts
        return parts[2] if len(parts) > 2 else None

    def under(self, prefix: str) -> bool:
        """True when the node sits at or below the site prefix, component by component."""
        return site_is_under(self.site, prefix)


@dataclasses.dataclass(frozen=True, slots=True)
class ScriptedCallback:
    """A built-in handler whose answers the file describes."""

    name: str
    latency: float = 0.05
    jitter: float = 0.0  # extra latency drawn uniformly in [0, jitter] from the seed
    action: CallbackAction = CallbackAction.APPROVE
    reject_above_usd: float | None = None
    retry_first_n: int = 0  # answer RETRY to the first n attempts of each request
    timeout_first_n: int = 0  # never answer the first n attempts of each request
    site: str | None = None  # where it runs: an outage of a site above it takes it down
    #: the handler's own key (`private_key`, a PEM file); None: one drawn from the seed
    private_key: HandlerPrivateKey | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PythonCallback:
    """A callable `request dict -> response dict`, given as "module:function", imported from `path` (a
    folder, resolved against the scenario file's) when given; `public_key` is not used (no JWT)."""

    name: str
    target: str
    latency: float = 0.0
    jitter: float = 0.0  # extra latency drawn uniformly in [0, jitter] from the seed
    path: Path | None = None
    site: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class AsgiCallback:
    """An ASGI app served in-process, given as "module:app"; JWT authentication as in production.

    `public_key`: the handler's RSA public key the nodes verify its answers with (the handler signs with
    its own private key). `loop`: "asyncio" (its own event loop for the whole run, lifespan included) or
    "trio" (served on the simulation's loop, for trio-native apps)."""

    name: str
    target: str
    latency: float = 0.0
    jitter: float = 0.0
    path: Path | None = None
    public_key: ApiPublicKey | None = None
    loop: str = "asyncio"
    site: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class UrlCallback:
    """A real handler at an HTTPS URL (runtime mode only)."""

    name: str
    url: str


Callback = ScriptedCallback | PythonCallback | AsgiCallback | UrlCallback


@dataclasses.dataclass(frozen=True, slots=True)
class InlinePolicy:
    """TAP rules written in the file, in order; each kept as plain data for `cosigner_ha.policy`."""

    rules: tuple[FrozenDict[str, Any], ...]
    amount_match: str = "exceed"  # cosigner_ha.policy AMOUNT_MATCHES; per workspace

    def rule_dicts(self) -> list[dict[str, Any]]:
        """Fresh, mutable copies of the rules, as the policy loader takes them."""
        return [thaw(rule) for rule in self.rules]


@dataclasses.dataclass(frozen=True, slots=True)
class FireblocksPolicy:
    """An exported Fireblocks policy file, resolved against the scenario file's folder.

    `sha256` is the file's digest when loaded: the scenario hash covers the policy's content, not where
    the file happens to sit.
    """

    path: Path
    sha256: str
    amount_match: str = "exceed"


PolicySpec = InlinePolicy | FireblocksPolicy


@dataclasses.dataclass(frozen=True, slots=True)
class Workload:
    """A stream of transactions: Poisson arrivals at `rate` between `start` and `stop`, or `count` at `at`."""

    name: str
    initiator: str
    asset: str
    amount_min: float
    amount_max: float
    source: str
    destination: str
    destination_address: AddressType = AddressType.WHITELISTED
    operation: Operation = Operation.TRANSFER
    rate: Rate | None = None
    start: float = 0.0
    stop: float | None = None  # None: until the end of the run
    at: float | None = None
    count: int = 1
    #: Fireblocks' `extraParameters`, passed through to the handler's `tx_sign_request` as given
    extra_parameters: FrozenDict[str, Any] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """One entry of the fault timeline. Which fields are set depends on `action` (see docs/scenarios.md)."""

    at: float
    action: FaultAction
    node: str | None = None
    site: str | None = None
    link: tuple[str, str] | None = None
    callback: str | None = None
    api_user: str | None = None
    for_: float | None = None  # undone after this long; None: lasts until the end (or a later fault)
    amount: float | None = None  # latency: added one-way delay
    jitter: float | None = None  # latency: extra delay drawn uniformly in [0, jitter]
    ratio: float | None = None  # loss: probability a message is dropped
    mode: CallbackFaultMode | None = None  # callback
    skew: float | None = None  # clock-skew: signed seconds added to the node's wall clock
    backup: bool | None = None  # disk-loss: whether a backup exists to restore from
    new_host: bool | None = None  # disk-loss: the node comes back on a replacement host
    policy: PolicySpec | None = None  # policy: the policy published at `at`
    workspace: str | None = None  # policy, with [[workspaces]]: the workspace it is published in
    token_age: float | None = None  # pair: the token is issued at `at` and used this much later

    @property
    def effective_at(self) -> float:
        """When the fault acts on the cluster: `at`, or for a pair with `token_age`, when the token is used."""
        return self.at + (self.token_age or 0.0)

    @property
    def until(self) -> float | None:
        return None if self.for_ is None else self.at + self.for_


@dataclasses.dataclass(frozen=True, slots=True)
class ExpectWindow:
    """Every signature released between `from_` and `to` comes from one of `signed_by`."""

    from_: float
    to: float
    signed_by: tuple[str, ...]


class TxStatus(enum.StrEnum):
    """The terminal statuses a transaction ends in."""

    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    BLOCKED = "BLOCKED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


#: The sub-statuses the simulated SaaS gives terminal transactions (the Fireblocks names).
SUB_STATUSES: tuple[str, ...] = tuple(s.value for s in SubStatus)


@dataclasses.dataclass(frozen=True, slots=True)
class ExpectOutcome:
    """Transactions (of one workload, or of the whole run) that end in `status` (and `sub_status`).

    Without `count`: every one of them does, and there is at least one. With `count`: exactly that many do.
    """

    status: TxStatus
    workload: str | None = None
    sub_status: str | None = None
    count: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Expect:
    all_terminal: bool = True
    no_double_sign: bool = True
    no_nonce_reuse: bool = True
    min_completed_ratio: float | None = None
    max_signing_latency_p99: float | None = None
    max_failover: float | None = None
    windows: tuple[ExpectWindow, ...] = ()
    outcomes: tuple[ExpectOutcome, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class WorkspacePart:
    """One workspace of a multi-workspace scenario (`[[workspaces]]`): its accounts and policy, and the
    names of the users, API users, groups and workloads it holds (the objects are the scenario's own)."""

    workspace: Workspace
    users: tuple[str, ...] = ()
    api_users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    workloads: tuple[str, ...] = ()
    policy: PolicySpec | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Tenant:
    """One workspace with everything in it, as the world builds it: the one view single- and
    multi-workspace scenarios share (`Scenario.tenants()`)."""

    workspace: Workspace
    users: tuple[User, ...]
    api_users: tuple[ApiUser, ...]
    groups: tuple[Group, ...]
    workloads: tuple[Workload, ...]
    policy: PolicySpec | None


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario:
    """A scenario. Users, API users, groups and workloads are those of every workspace (their names are
    unique across the file); `workspace` and `policy` are the first workspace's. `workspaces` is empty for
    the single-`[workspace]` form and lists every workspace of the `[[workspaces]]` form."""

    scenario: ScenarioInfo
    workspace: Workspace
    nodes: tuple[Node, ...]
    saas: SaasSettings = SaasSettings()
    users: tuple[User, ...] = ()
    api_users: tuple[ApiUser, ...] = ()
    groups: tuple[Group, ...] = ()
    callbacks: tuple[Callback, ...] = ()
    policy: PolicySpec | None = None  # None: one ALLOW rule signed by every paired API user
    workloads: tuple[Workload, ...] = ()
    faults: tuple[Fault, ...] = ()
    expect: Expect = Expect()
    workspaces: tuple[WorkspacePart, ...] = ()
    #: Where the scenario came from, for messages; not part of its identity.
    origin: str = dataclasses.field(default="<scenario>", compare=False)

    # -- lookups ---------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def seed(self) -> int:
        return self.scenario.seed

    @property
    def duration(self) -> float:
        return self.scenario.duration

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node named {name!r} in {self.origin}")

    def api_user(self, name: str) -> ApiUser:
        for api_user in self.api_users:
            if api_user.name == name:
                return api_user
        raise KeyError(f"no API user named {name!r} in {self.origin}")

    def callback(self, name: str) -> Callback:
        for callback in self.callbacks:
            if callback.name == name:
                return callback
        raise KeyError(f"no callback named {name!r} in {self.origin}")

    # -- workspaces ------------------------------------------------------------------------------------

    @property
    def multi_workspace(self) -> bool:
        return len(self.workspaces) > 1

    def tenants(self) -> tuple[Tenant, ...]:
        """Every workspace with its users, API users, groups, workloads and policy, in file order."""
        if not self.workspaces:
            return (
                Tenant(self.workspace, self.users, self.api_users, self.groups, self.workloads, self.policy),
            )
        return tuple(
            Tenant(
                part.workspace,
                tuple(u for u in self.users if u.name in part.users),
                tuple(u for u in self.api_users if u.name in part.api_users),
                tuple(g for g in self.groups if g.name in part.groups),
                tuple(w for w in self.workloads if w.name in part.workloads),
                part.policy,
            )
            for part in self.workspaces
        )

    def workspace_of(self, name: str) -> str:
        """The workspace holding a user, API user, group or workload (the first workspace when none
        lists it: the single-workspace form, or a name the file does not declare)."""
        for part in self.workspaces:
            if name in part.api_users or name in part.users or name in part.workloads or name in part.groups:
                return part.workspace.name
        return self.workspace.name

    def workspace_names(self) -> tuple[str, ...]:
        return tuple(part.workspace.name for part in self.workspaces) or (self.workspace.name,)

    # -- topology --------------------------------------------------------------------------------------

    def nodes_under(self, prefix: str) -> tuple[Node, ...]:
        """The nodes at or below a site prefix ("aws", "aws/us-east-1", "aws/us-east-1/a"), in file order."""
        return tuple(node for node in self.nodes if node.under(prefix))

    def api_users_by_node(self) -> Mapping[str, tuple[str, ...]]:
        """Node name -> the API users it serves at the start of the run (before pair/unpair faults)."""
        return FrozenDict({node.name: node.api_users for node in self.nodes})

    def nodes_by_api_user(self) -> Mapping[str, tuple[str, ...]]:
        """API user name -> the nodes serving it at the start, in file order (empty for non-signers)."""
        return FrozenDict(
            {u.name: tuple(n.name for n in self.nodes if u.name in n.api_users) for u in self.api_users}
        )

    def standby_nodes(self) -> tuple[str, ...]:
        """The passive nodes, in file order: used only when no active node answers a probe."""
        return tuple(node.name for node in self.nodes if node.standby)

    def active_nodes(self) -> tuple[str, ...]:
        return tuple(node.name for node in self.nodes if not node.standby)

    def site_prefixes(self, depth: int) -> tuple[str, ...]:
        """The distinct site prefixes `depth` components long (1 providers, 2 regions, 3 zones).

        Nodes whose site is shorter than `depth` contribute their whole site. File order, no repeats: the
        failure domains `cosigner-ha analyze` takes away one at a time.
        """
        if depth < 1:
            raise ValueError(f"depth counts site components from 1, got {depth}")
        seen: dict[str, None] = {}
        for node in self.nodes:
            seen.setdefault("/".join(node.site_parts[:depth]), None)
        return tuple(seen)
