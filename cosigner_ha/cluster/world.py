"""Build the simulated world a scenario describes: network, infrastructure, SaaS, callback handlers, nodes.

`World` is what the fault injector acts on and what the runner drives. The SaaS and the nodes meet only
through wire messages over the simulated network; this module is the only place that knows both.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from typing import Any

import anyio.abc

from cosigner_ha.cluster.scenario import (
    AsgiCallback,
    Enclave,
    FireblocksPolicy,
    InlinePolicy,
    PythonCallback,
    Scenario,
    ScriptedCallback,
    UrlCallback,
)
from cosigner_ha.cluster.scenario import (
    Node as NodeSpec,
)
from cosigner_ha.env import Environment
from cosigner_ha.net import LinkSpec, SimNetwork
from cosigner_ha.node.callback import CallbackPolicy, HandlerDirectory, InProcessHandler
from cosigner_ha.node.callback_handler import HandlerRules, ReferenceHandler
from cosigner_ha.node.enclave import CommunalEnclave, EnclaveBackend, GcpEnclave, NitroEnclave, SgxEnclave
from cosigner_ha.node.infra import Infrastructure, KeyPolicy
from cosigner_ha.node.node import Node, NodeConfig
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import generate_rsa_key
from cosigner_ha.saas_sim import ApproverBehaviour, Saas, SaasConfig

SAAS_HOST = "saas"
SAAS_ADDRESS = "saas:443"
#: One-way latency between a node's site and the SaaS, before latency faults; jitter drawn from the seed.
DEFAULT_LINK = LinkSpec(latency=0.025, jitter=0.010)


class WorldError(ValueError):
    """The scenario cannot be built (an import target that does not exist, say): exit 2, nothing ran."""


@dataclasses.dataclass
class CallbackRuntime:
    """A callback handler as the world runs it: where nodes reach it, and the knobs faults turn."""

    name: str
    url: str
    settings: CallbackSettings
    reference: ReferenceHandler | None = None  # the scripted handler, whose rules faults change


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
    workspace: str
    admin: str  # the console user who requests unpairings and approves
    make_backend: Callable[[NodeSpec, str], EnclaveBackend]

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
        # a handler answering RETRY keeps an attempt alive for the whole schedule
        attempt_timeout=max(75.0, s.callback_deadline * 2 + s.long_poll_interval / 2),
        listed_order=tuple(standby_last),
    )


def workspace_spec(scenario: Scenario) -> dict[str, Any]:
    w = scenario.workspace
    return {
        "name": w.name,
        "env": str(w.env),
        "prices_usd": dict(w.prices_usd),
        "vaults": list(w.vaults),
        "exchanges": list(w.exchanges),
        "fiat_accounts": list(w.fiat_accounts),
        "wallets": list(w.wallets),
        "users": [{"name": u.name, "role": str(u.role)} for u in scenario.users],
        "api_users": [{"name": u.name, "role": str(u.role)} for u in scenario.api_users],
        "groups": [{"name": g.name, "members": list(g.members)} for g in scenario.groups],
    }


def policy_source(
    scenario: Scenario, policy: InlinePolicy | FireblocksPolicy | None
) -> tuple[dict[str, Any], str]:
    """The policy document the SaaS publishes, and where it came from (for error messages)."""
    if policy is None:
        signers = [u.name for u in scenario.api_users if any(u.name in n.api_users for n in scenario.nodes)]
        rule: dict[str, Any] = {"action": "ALLOW"}
        if signers:
            rule["designated_signers"] = {"users": signers}
        return {"rules": [rule]}, f"{scenario.origin} (default policy)"
    if isinstance(policy, InlinePolicy):
        return {"rules": policy.rule_dicts()}, f"{scenario.origin} [policy]"
    try:
        return json.loads(policy.path.read_text()), str(policy.path)
    except (OSError, ValueError) as exc:
        raise WorldError(f"{policy.path}: cannot read the Fireblocks policy: {exc}") from None


def _import(target: str, what: str) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise WorldError(f"callback {what}: cannot import {target!r}: {exc}") from None


def _callbacks(
    scenario: Scenario, env: Environment, directory: HandlerDirectory
) -> dict[str, CallbackRuntime]:
    built: dict[str, CallbackRuntime] = {}
    for spec in scenario.callbacks:
        url = f"https://callback-{spec.name}.sim"
        key = generate_rsa_key(env.child(f"callback/{spec.name}").randbytes)
        if isinstance(spec, ScriptedCallback):
            jitter_rng = env.rng(f"callback/{spec.name}/latency")

            async def sleep(seconds: float, _spec: ScriptedCallback = spec, _rng: Any = jitter_rng) -> None:
                await env.clock.sleep(seconds + (_rng.uniform(0, _spec.jitter) if _spec.jitter else 0.0))

            rules = HandlerRules(
                action=str(spec.action),
                latency=spec.latency,
                reject_above_usd=spec.reject_above_usd,
                retry_first=spec.retry_first_n,
            )
            handler = ReferenceHandler(rules, key=key, sleep=sleep)
            directory.register(url, InProcessHandler(app=handler.app))
            settings = CallbackSettings(url=url, public_key=handler.public_key)
            built[spec.name] = CallbackRuntime(spec.name, url, settings, handler)
        elif isinstance(spec, PythonCallback):
            function = _import(spec.target, spec.name)
            directory.register(url, InProcessHandler(function=function))
            settings = CallbackSettings(url=url, public_key=ReferenceHandler(key=key).public_key)
            built[spec.name] = CallbackRuntime(spec.name, url, settings)
        elif isinstance(spec, AsgiCallback):
            app = _import(spec.target, spec.name)
            directory.register(url, InProcessHandler(app=app))
            settings = CallbackSettings(url=url, public_key=ReferenceHandler(key=key).public_key)
            built[spec.name] = CallbackRuntime(spec.name, url, settings)
        else:
            assert isinstance(spec, UrlCallback)
            raise WorldError(
                f"callback {spec.name}: a url handler ({spec.url}) needs the runtime, not the simulator"
            )
    return built


def _backend_factory(env: Environment, infra: Infrastructure) -> Callable[[NodeSpec, str], EnclaveBackend]:
    """Each node gets its own host, and for Nitro and GCP its own KMS key, role and bucket."""

    def make(spec: NodeSpec, host_name: str) -> EnclaveBackend:
        rand = env.child(f"enclave/{host_name}").randbytes
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
    workspace = scenario.workspace.name
    saas.create_workspace(workspace_spec(scenario))
    admin = "owner"
    for user in scenario.users:
        saas.set_approver(
            workspace, user.name, ApproverBehaviour(latency=scenario.saas.owner_approval_latency)
        )
        if str(user.role) in ("OWNER", "ADMIN") and admin == "owner":
            admin = user.name
    source, origin = policy_source(scenario, scenario.policy)
    saas.publish_policy(workspace, source, origin=origin)
    handlers = HandlerDirectory()
    callbacks = _callbacks(scenario, env, handlers)
    make_backend = _backend_factory(env, infra)
    nodes: dict[str, NodeRuntime] = {}
    for spec in scenario.nodes:
        node_env = env.child(spec.name)
        backend = make_backend(spec, spec.name)
        first: dict[str, Any] = {}
        if not backend.local_admin and spec.api_users:  # GCP: paired at boot, managed through the SaaS
            api_user = spec.api_users[0]
            first["initial_pairing_token"] = saas.issue_pairing_token(workspace, api_user)
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
        scenario, env, network, infra, saas, handlers, callbacks, nodes, workspace, admin, make_backend
    )
    return world


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
        token = world.saas.issue_pairing_token(world.workspace, api_user) if node.backend.local_admin else ""
        if not node.backend.local_admin:
            if i == 0:  # paired at boot with the token given to the constructor
                while not node.list_users():
                    await world.env.clock.sleep(1.0)
                continue
            request = world.saas.pair_api_key(
                world.workspace,
                spec.name,
                api_user,
                callback=_handler_dict(callback),
                requested_by=world.admin,
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
    while world.saas.request_status(request_id)["status"] not in ("COMPLETED", "REJECTED", "CANCELLED"):
        await world.env.clock.sleep(1.0)
