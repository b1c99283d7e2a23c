"""Build the simulated world a scenario describes: network, infrastructure, SaaS, callback handlers, nodes.

`World` is what the fault injector acts on and what the runner drives. The SaaS and the nodes meet only
through wire messages over the simulated network; this module is the only place that knows both.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol

import anyio.abc

from cosigner_ha.cluster.infra import Infrastructure, KeyPolicy
from cosigner_ha.cluster.scenario import (
    AsgiCallback,
    CallbackAction,
    CallbackFaultMode,
    Enclave,
    FaultAction,
    FireblocksPolicy,
    InlinePolicy,
    PythonCallback,
    Scenario,
    ScriptedCallback,
    Tenant,
)
from cosigner_ha.cluster.scenario import (
    Node as NodeSpec,
)
from cosigner_ha.cluster.world_handlers import (
    CallbackRuntime as CallbackRuntime,  # re-exported: faults and tests name them from here
)
from cosigner_ha.cluster.world_handlers import (
    WorldError as WorldError,
)
from cosigner_ha.cluster.world_handlers import (
    build_callbacks,
    check_callback_faults,
)
from cosigner_ha.env import Environment
from cosigner_ha.inputs import InputFileError, read_bytes
from cosigner_ha.net import LinkSpec, SimNetwork
from cosigner_ha.node import boot_timing, capacity
from cosigner_ha.node.asgi_host import AsyncioAsgiHost, LifespanError
from cosigner_ha.node.boot_timing import BootTiming
from cosigner_ha.node.callback import CallbackPolicy, HandlerDirectory
from cosigner_ha.node.capacity import SigningCapacity
from cosigner_ha.node.enclave import CommunalEnclave, EnclaveBackend, GcpEnclave, NitroEnclave, SgxEnclave
from cosigner_ha.node.node import Node, NodeConfig
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.policy import PolicyEngine, load_policy, vocabulary
from cosigner_ha.policy.jsondoc import loads_strict
from cosigner_ha.policy.loading import default_policy
from cosigner_ha.saas_sim import ApproverBehaviour, Saas, SaasConfig
from cosigner_ha.saas_sim.config import CLOUD_SIGNING
from cosigner_ha.saas_sim.saas import directory_of
from cosigner_ha.saas_sim.workspace import Workspace

SAAS_HOST = "saas"
SAAS_ADDRESS = "saas:443"
#: One-way latency between a node's site and the SaaS, before latency faults; jitter drawn from the seed.
DEFAULT_LINK = LinkSpec(latency=0.025, jitter=0.010)


class MakeBackend(Protocol):
    def __call__(self, spec: NodeSpec, host_name: str, generation: int = 0) -> EnclaveBackend: ...


@dataclasses.dataclass
class NodeRuntime:
    spec: NodeSpec
    node: Node
    backend: EnclaveBackend
    env: Environment


@dataclasses.dataclass
class World:
    scenario: Scenario
    env: Environment
    network: SimNetwork
    infra: Infrastructure
    saas: Saas
    handlers: HandlerDirectory
    callbacks: dict[str, CallbackRuntime]
    nodes: dict[str, NodeRuntime]
    workspace: str  # the first (or only) workspace
    admin: str  # the console user who requests unpairings and approves (in the first workspace)
    make_backend: MakeBackend
    hosts: dict[str, AsyncioAsgiHost] = dataclasses.field(default_factory=dict)  # asyncio handlers' loops
    admins: dict[str, str] = dataclasses.field(default_factory=dict)  # each workspace's admin

    def workspace_of(self, name: str) -> str:
        """The workspace of a user, API user or workload (several-workspaces scenarios)."""
        return self.scenario.workspace_of(name)

    def admin_of(self, workspace: str) -> str:
        return self.admins.get(workspace, self.admin)

    def close_handlers(self) -> None:
        """Shut the asyncio handlers down after the last request; a failing shutdown is a trace event
        (`callback_shutdown_error`), not a failed run."""
        hosts, self.hosts = self.hosts, {}
        for name, host in hosts.items():
            problem = host.close()
            if problem is not None:
                self.env.trace.record("callback_shutdown_error", callback=name, detail=problem)

    def callback_for(self, api_user: str) -> CallbackSettings:
        return _settings_for(self.scenario, self.callbacks, api_user)


def _settings_for(
    scenario: Scenario, callbacks: dict[str, CallbackRuntime], api_user: str
) -> CallbackSettings:
    user = next(u for u in scenario.api_users if u.name == api_user)
    return CallbackSettings() if user.callback is None else callbacks[user.callback].settings


def saas_config(scenario: Scenario) -> SaasConfig:
    s = scenario.saas
    standby_last = [n.name for n in scenario.nodes if not n.standby] + [
        n.name for n in scenario.nodes if n.standby
    ]
    return SaasConfig(
        long_poll_interval=s.long_poll_interval,
        probe_window=s.probe_window,
        selection=str(s.selection),  # type: ignore[arg-type]
        offline_after=s.offline_after,
        pairing_token_ttl=s.pairing_token_validity,
        authorization_timeout=s.authorization_timeout,
        signing_timeout=s.signing_timeout,
        attempt_timeout=attempt_timeout(scenario),
        callback_failure=str(s.callback_failure),  # type: ignore[arg-type]
        listed_order=tuple(standby_last),
        cloud_signing=SigningCapacity(
            sessions=CLOUD_SIGNING.sessions if s.cloud_signing_sessions is None else s.cloud_signing_sessions,
            round_time=CLOUD_SIGNING.round_time
            if s.cloud_signing_round_time is None
            else s.cloud_signing_round_time,
        ),
    )


def handlers_may_retry(scenario: Scenario) -> bool:
    """Whether some callback handler can answer RETRY: a scripted one told to, a `retry` fault on one, or
    user code (a Python or ASGI handler), which may answer anything."""
    for spec in scenario.callbacks:
        if isinstance(spec, ScriptedCallback):
            if spec.action == CallbackAction.RETRY or spec.retry_first_n:
                return True
        elif isinstance(spec, PythonCallback | AsgiCallback):
            return True
    return any(
        f.action == FaultAction.CALLBACK and f.mode == CallbackFaultMode.RETRY for f in scenario.faults
    )


def attempt_timeout(scenario: Scenario) -> float:
    """How long the SaaS waits for a dispatched node to move a signing attempt on before trying another.

    The node says nothing while its handler deliberates: the handler's deadline (twice: the request and
    the answer's delivery) plus half a long-poll. A node whose handler answers RETRY also says nothing
    between retries, so where RETRY can happen the attempt covers the whole retry schedule, or every RETRY
    would fail the transaction at the first answer. The price: a node that freezes (a pause) while
    holding an attempt keeps it that long before another node is tried.
    """
    s = scenario.saas
    seconds = s.callback_deadline * 2 + s.long_poll_interval / 2
    if handlers_may_retry(scenario):
        seconds += s.callback_retry_attempts * (s.callback_retry_interval + s.callback_deadline)
    return max(75.0, seconds)


def workspace_spec(scenario: Scenario, tenant: Tenant | None = None) -> dict[str, Any]:
    """The SaaS's workspace, with the Fireblocks ids the scenario fixes (a policy export names by id);
    `tenant`: one workspace of several (default: the first, or only, one)."""
    tenant = tenant or scenario.tenants()[0]
    w = tenant.workspace

    def ident(value: str | None) -> dict[str, str]:
        return {} if value is None else {"id": value}

    spec: dict[str, Any] = {
        "name": w.name,
        "env": str(w.env),
        "prices_usd": dict(w.prices_usd),
        "vaults": list(w.vaults),
        "exchanges": list(w.exchanges),
        "fiat_accounts": list(w.fiat_accounts),
        "wallets": list(w.wallets),
        "internal_wallets": list(w.internal_wallets),
        "network_connections": list(w.network_connections),
        "contract_wallets": list(w.contract_wallets),
        "prices_eur": dict(w.prices_eur),
        "users": [{"name": u.name, "role": str(u.role), **ident(u.id)} for u in tenant.users],
        "api_users": [{"name": u.name, "role": str(u.role), **ident(u.id)} for u in tenant.api_users],
        "groups": [{"name": g.name, "members": list(g.members), **ident(g.id)} for g in tenant.groups],
    }
    rate = w.eur_usd if w.eur_usd is not None else w.prices_usd.get("EUR")  # prices_usd.EUR: older spelling
    if rate is not None:
        spec["eur_usd"] = rate
    return spec


def policy_source(
    scenario: Scenario,
    policy: InlinePolicy | FireblocksPolicy | None,
    *,
    where: str = "[policy]",
    tenant: Tenant | None = None,
) -> tuple[dict[str, Any], str]:
    """The policy document the SaaS publishes, and where it came from (for error messages): `where` is
    the section of the scenario that holds it (`[policy]`, `faults[3]`).

    The origin names files by their name only: it goes into the trace (`policy_published`), whose hash
    must not depend on how the scenario's path was spelled or where the file lies (`x.toml`, `./x.toml`,
    an absolute path, a copy elsewhere)."""
    name = Path(scenario.origin).name
    if policy is None:
        served = {user for node in scenario.nodes for user in node.api_users}
        api_users = (tenant or scenario.tenants()[0]).api_users
        source = default_policy([u.name for u in api_users], served)
        return source, f"{name} (default policy)"
    match = {} if policy.amount_match == "exceed" else {"amount_match": policy.amount_match}
    if isinstance(policy, InlinePolicy):
        return {"rules": policy.rule_dicts(), **match}, f"{name} {where}"
    try:
        document = loads_strict(read_bytes(policy.path, what="policy file"), str(policy.path))
    except InputFileError as exc:
        raise WorldError(f"{policy.path}: cannot read the Fireblocks policy: {exc}") from None
    if not isinstance(document, dict):
        raise WorldError(f"{policy.path}: expected a JSON object with 'rules' (a policy export)")
    return {**document, **match}, Path(policy.path).name


#: Who approves what (saas_sim): the owner first pairings, more API users and callback changes; the first
#: ADMIN (else NON_SIGNING_ADMIN, else the owner) unpairings; console users the 2-TIER rules naming them.


def approver_latencies(scenario: Scenario, tenant: Tenant | None = None) -> dict[str, float]:
    """How long each simulated console user takes to answer: admins `admin_approval_latency`, everyone
    else (the owner, 2-TIER approvers) `owner_approval_latency`. Without an OWNER in the file the SaaS adds
    one named "owner", who answers like one."""
    s = scenario.saas
    users = (tenant or scenario.tenants()[0]).users
    latencies = {
        u.name: s.admin_approval_latency
        if str(u.role) in vocabulary.DELEGATE_ADMIN_ROLES
        else s.owner_approval_latency
        for u in users
    }
    if not any(u.role == vocabulary.Role.OWNER for u in users):
        latencies["owner"] = s.owner_approval_latency
    return latencies


def console_admin(scenario: Scenario, tenant: Tenant | None = None) -> str:
    """The console user who requests unpairings and pairings from the console: the first OWNER or ADMIN
    (of `tenant`, default the first workspace), else the "owner" the SaaS adds."""
    for user in (tenant or scenario.tenants()[0]).users:
        if user.role in (vocabulary.Role.OWNER, vocabulary.Role.ADMIN):
            return user.name
    return "owner"


def check_fault_policies(scenario: Scenario, workspace: Workspace) -> None:
    """Refuse, before the run starts, a `policy` fault whose policy the SaaS would refuse when published
    (a `PolicyError` naming the fault, rule and field), rather than stop the run halfway."""
    directory = directory_of(workspace)
    tenant = next(t for t in scenario.tenants() if t.workspace.name == workspace.name)
    for index, fault in enumerate(scenario.faults):
        if (
            fault.action == FaultAction.POLICY
            and (fault.workspace or scenario.workspace.name) == workspace.name
        ):
            source, origin = policy_source(scenario, fault.policy, where=f"faults[{index}]", tenant=tenant)
            PolicyEngine(load_policy(source, directory, origin=origin), directory)


def _backend_factory(env: Environment, infra: Infrastructure) -> MakeBackend:
    """Each node gets its own host, and for Nitro and GCP its own KMS key, role and bucket.

    `make(spec, host_name, generation)`: the host is created on first use and reused afterwards (its disk
    included); `generation` > 0 is another start of an enclave on that host (after a disk was put back),
    with its own random stream.
    """

    def make(spec: NodeSpec, host_name: str, generation: int = 0) -> EnclaveBackend:
        stream = f"enclave/{host_name}" + (f"/{generation}" if generation else "")
        rand = env.child(stream).randbytes
        kind = spec.enclave
        if kind in (Enclave.SGX, Enclave.COMMUNAL):
            host = infra.hosts.get(host_name) or infra.host(host_name, site=spec.site, sgx=True)
            cls = SgxEnclave if kind == Enclave.SGX else CommunalEnclave
            image = infra.images.image("sgx")
            return cls(host, image, trusted_signer=infra.images.public_key, randbytes=rand)
        role, key_id, bucket_name = f"role-{spec.name}", f"cmk-{spec.name}", f"bucket-{spec.name}"
        bucket = infra.buckets.get(bucket_name) or infra.bucket(bucket_name, roles=(role,))
        if kind == Enclave.NITRO:
            if key_id not in infra.aws_kms.policies:
                infra.aws_kms.create_key(
                    key_id, KeyPolicy(roles=(role,), pcr8=infra.images.image("nitro").pcr8)
                )
            host = infra.hosts.get(host_name) or infra.host(host_name, site=spec.site, nitro=True, role=role)
            image = infra.images.image("nitro")
            return NitroEnclave(host, image, kms=infra.aws_kms, key_id=key_id, bucket=bucket, randbytes=rand)
        if key_id not in infra.gcp_kms.policies:
            infra.gcp_kms.create_key(
                key_id, KeyPolicy(roles=(role,), image_digest=infra.images.image("gcp").digest)
            )
        host = infra.hosts.get(host_name) or infra.host(
            host_name, site=spec.site, confidential_space=True, role=role
        )
        image = infra.images.image("gcp")
        return GcpEnclave(host, image, kms=infra.gcp_kms, key_id=key_id, bucket=bucket, randbytes=rand)

    return make


#: The SaaS registry's name for each enclave kind (what `node.capacity.DEFAULTS` is keyed by).
COSIGNER_TYPES = {
    Enclave.SGX: SgxEnclave.cosigner_type,
    Enclave.NITRO: NitroEnclave.cosigner_type,
    Enclave.GCP: GcpEnclave.cosigner_type,
    Enclave.COMMUNAL: CommunalEnclave.cosigner_type,
}


def signing_capacity(spec: NodeSpec) -> SigningCapacity:
    """The node's signing capacity: what the scenario set, else its enclave kind's default."""
    default = capacity.default_for(COSIGNER_TYPES[spec.enclave])
    return SigningCapacity(
        sessions=default.sessions if spec.signing_sessions is None else spec.signing_sessions,
        round_time=default.round_time if spec.signing_round_time is None else spec.signing_round_time,
    )


def boot_times(spec: NodeSpec) -> BootTiming:
    """The node's boot timing: each key the scenario set, else its enclave kind's documented default
    (`node.boot_timing.DEFAULTS`, docs/node.md "Boot timing")."""
    default = boot_timing.default_for(COSIGNER_TYPES[spec.enclave])
    return BootTiming(
        start=default.start if spec.boot_time is None else spec.boot_time,
        attest=default.attest if spec.attest_time is None else spec.attest_time,
        restore=default.restore if spec.restore_time is None else spec.restore_time,
    )


def node_config(scenario: Scenario, spec: NodeSpec) -> NodeConfig:
    s = scenario.saas
    return NodeConfig(
        cosigner_id=spec.name,
        poll_interval=s.long_poll_interval,
        callback=CallbackPolicy(
            deadline=s.callback_deadline,
            retry_interval=s.callback_retry_interval,
            max_retries=s.callback_retry_attempts,
        ),
        log_max_bytes=spec.log_max_bytes,
        log_files=spec.log_files,
        signing=signing_capacity(spec),
        boot=boot_times(spec),
    )


async def build_world(scenario: Scenario, env: Environment, tasks: anyio.abc.TaskGroup) -> World:
    """Create everything and start the SaaS and the nodes in `tasks`; nodes are not paired yet."""
    network = SimNetwork(env.rng("net"), default_link=DEFAULT_LINK)
    infra = Infrastructure(env.child("infra").randbytes, env.clock.wall)
    measurements = [infra.images.image("sgx").measurement]
    saas = Saas(
        env.child("saas"),
        network=network.host(SAAS_HOST),
        address=SAAS_ADDRESS,
        config=saas_config(scenario),
        vendor_key=infra.intel.public_key,
        expected_measurements=measurements,
    )
    await tasks.start(saas.run)
    admins: dict[str, str] = {}
    for tenant in scenario.tenants():
        name = tenant.workspace.name
        saas.create_workspace(workspace_spec(scenario, tenant))
        admins[name] = console_admin(scenario, tenant)
        for person, latency in approver_latencies(scenario, tenant).items():
            saas.set_approver(name, person, ApproverBehaviour(latency=latency))
        where = f"[[workspaces]] {name} [policy]" if scenario.workspaces else "[policy]"
        source, origin = policy_source(scenario, tenant.policy, where=where, tenant=tenant)
        saas.publish_policy(name, source, origin=origin)
        check_fault_policies(scenario, saas.workspace(name))
    workspace = scenario.workspace.name
    admin = admins[workspace]
    handlers = HandlerDirectory()
    hosts: dict[str, AsyncioAsgiHost] = {}
    callbacks = build_callbacks(scenario, env, handlers, hosts)
    check_callback_faults(scenario, callbacks)
    make_backend = _backend_factory(env, infra)
    nodes: dict[str, NodeRuntime] = {}
    for spec in scenario.nodes:
        node_env = env.child(spec.name)
        backend = make_backend(spec, spec.name)
        first: dict[str, Any] = {}
        if not backend.local_admin and spec.api_users:  # GCP: paired at boot, managed through the SaaS
            api_user = spec.api_users[0]
            first["initial_pairing_token"] = saas.issue_pairing_token(
                scenario.workspace_of(api_user), api_user
            )
            first["initial_callback"] = _settings_for(scenario, callbacks, api_user)
        node = Node(
            node_env,
            name=spec.name,
            backend=backend,
            network=network.host(spec.name),
            saas=SAAS_ADDRESS,
            handlers=handlers,
            config=node_config(scenario, spec),
            **first,
        )
        nodes[spec.name] = NodeRuntime(spec, node, backend, node_env)
        tasks.start_soon(node.run)
    world = World(
        scenario,
        env,
        network,
        infra,
        saas,
        handlers,
        callbacks,
        nodes,
        workspace,
        admin,
        make_backend,
        hosts,
        admins,
    )
    if hosts:  # (only then: one more task would change the seeded interleaving of every other run)
        start_handlers(hosts)  # before any node runs, so before the first request
        tasks.start_soon(_close_handlers_when_done, world)
    return world


async def _close_handlers_when_done(world: World) -> None:
    """Shut the asyncio handlers down when the run's task group ends (after the last request)."""
    try:
        await anyio.sleep_forever()
    finally:
        world.close_handlers()


def start_handlers(hosts: dict[str, AsyncioAsgiHost]) -> None:
    """Each asyncio handler's loop and lifespan startup, before any request; a failure is exit 2 naming
    the handler (and the handlers already started are shut down again)."""
    started: list[AsyncioAsgiHost] = []
    for name, host in hosts.items():
        try:
            host.start()
        except LifespanError as exc:
            for other in started:
                other.close()
            raise WorldError(f"callback {name}: {exc}") from None
        started.append(host)


async def pair_all(world: World) -> None:
    """Pair every node's API users as an operator would: setup, then add-user (GCP: through the SaaS)."""
    async with anyio.create_task_group() as tg:
        for runtime in world.nodes.values():
            tg.start_soon(_pair_node, world, runtime)
    for runtime in world.nodes.values():
        if runtime.spec.standby:
            world.saas.set_standby(runtime.spec.name, True)
    trust_nodes(world)


def trust_nodes(world: World) -> None:
    """Scripted handlers accept request JWTs from every node (each signs with its own key)."""
    for callback in world.callbacks.values():
        if callback.reference is not None:
            for runtime in world.nodes.values():
                if runtime.node.state == "running":
                    callback.reference.trust(runtime.node.callback_public_key)


async def _pair_node(world: World, runtime: NodeRuntime) -> None:
    node, spec = runtime.node, runtime.spec
    await node.ready()
    for i, api_user in enumerate(spec.api_users):
        callback = world.callback_for(api_user)
        workspace = world.workspace_of(api_user)
        token = world.saas.issue_pairing_token(workspace, api_user) if node.backend.local_admin else ""
        if not node.backend.local_admin:
            if i == 0:  # paired at boot with the token given to the constructor
                user_id = world.saas.workspace(workspace).api_user(api_user).id
                await node.wait_can_sign(user_id)
                continue
            request = world.saas.pair_api_key(
                workspace,
                spec.name,
                api_user,
                callback=_handler_dict(callback),
                requested_by=world.admin_of(workspace),
            )
            await _wait_request(world, request.id)
        elif i == 0:
            await node.setup(token, callback)
        else:
            await node.add_user(token, callback)


def _handler_dict(settings: CallbackSettings) -> dict[str, Any] | None:
    if not settings.url:
        return None
    return {"url": settings.url, "publicKey": settings.public_key, "cert": settings.certificate}


async def _wait_request(world: World, request_id: str) -> None:
    await world.saas.wait_request(request_id)
