"""A simulated estate for node tests: network, infrastructure, the SaaS double, and nodes of each kind."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc

from cosigner_ha.cluster.infra import EnclaveImage, Infrastructure, KeyPolicy
from cosigner_ha.env import Environment, run_simulated
from cosigner_ha.net import LinkSpec, SimNetwork
from cosigner_ha.node.callback import HandlerDirectory
from cosigner_ha.node.enclave import EnclaveBackend, GcpEnclave, NitroEnclave, SgxEnclave
from cosigner_ha.node.node import Node, NodeConfig
from tests.node.saas_double import SaasDouble

SAAS = "saas:443"


@dataclasses.dataclass
class Estate:
    env: Environment
    net: SimNetwork
    infra: Infrastructure
    saas: SaasDouble
    tasks: anyio.abc.TaskGroup
    handlers: HandlerDirectory
    nodes: dict[str, Node] = dataclasses.field(default_factory=dict)

    def backend(
        self, kind: str, host: str, *, image: EnclaveImage | None = None, bucket: str = "bucket"
    ) -> EnclaveBackend:
        infra = self.infra
        rand = self.env.child(f"enclave/{host}").randbytes
        if kind == "sgx":
            h = infra.hosts.get(host) or infra.host(host, sgx=True)
            return SgxEnclave(
                h, image or infra.images.image("sgx"), trusted_signer=infra.images.public_key, randbytes=rand
            )
        if kind == "nitro":
            if "cmk" not in infra.aws_kms.policies:
                infra.aws_kms.create_key(
                    "cmk", KeyPolicy(roles=("node-role",), pcr8=infra.images.image("nitro").pcr8)
                )
            b = infra.buckets.get(bucket) or infra.bucket(bucket, roles=("node-role",))
            h = infra.hosts.get(host) or infra.host(host, nitro=True, role="node-role")
            return NitroEnclave(
                h,
                image or infra.images.image("nitro"),
                kms=infra.aws_kms,
                key_id="cmk",
                bucket=b,
                randbytes=rand,
            )
        if kind == "gcp":
            if "cmk" not in infra.gcp_kms.policies:
                infra.gcp_kms.create_key(
                    "cmk", KeyPolicy(roles=("node-sa",), image_digest=infra.images.image("gcp").digest)
                )
            b = infra.buckets.get(bucket) or infra.bucket(bucket, roles=("node-sa",))
            h = infra.hosts.get(host) or infra.host(host, confidential_space=True, role="node-sa")
            return GcpEnclave(
                h,
                image or infra.images.image("gcp"),
                kms=infra.gcp_kms,
                key_id="cmk",
                bucket=b,
                randbytes=rand,
            )
        raise ValueError(kind)

    async def node(
        self,
        name: str,
        kind: str = "sgx",
        *,
        host: str | None = None,
        config: NodeConfig | None = None,
        backend: EnclaveBackend | None = None,
        wait: bool = True,
        env: Environment | None = None,
        **kw: Any,
    ) -> Node:
        host = host or name
        node = Node(
            env or self.env.child(name),
            name=name,
            backend=backend or self.backend(kind, host),
            network=self.net.host(host),
            saas=SAAS,
            handlers=self.handlers,
            config=config or NodeConfig(cosigner_id=name),
            **kw,
        )
        self.nodes[name] = node
        self.tasks.start_soon(node.run)
        if wait:
            await node.ready()
        return node


def simulate_estate(
    scenario: Callable[[Estate], Awaitable[Any]], *, seed: int = 11
) -> tuple[Any, Environment]:
    env = Environment.simulated(seed)

    async def main(env: Environment) -> Any:
        net = SimNetwork(env.rng("net"), default_link=LinkSpec(latency=0.005))
        infra = Infrastructure(env.child("infra").randbytes, env.clock.wall)
        measurements = tuple(infra.images.image("sgx", v).measurement for v in ("1.0.0", "2.0.0"))
        saas = SaasDouble(
            env.child("saas"),
            net.host("saas"),
            address=SAAS,
            vendor_key=infra.intel.public_key,
            measurements=measurements,
        )
        async with anyio.create_task_group() as tasks:
            await tasks.start(saas.run)
            estate = Estate(env, net, infra, saas, tasks, HandlerDirectory())
            try:
                return await scenario(estate)
            finally:
                for node in estate.nodes.values():
                    node.shutdown()
                tasks.cancel_scope.cancel()

    return run_simulated(main, env), env
