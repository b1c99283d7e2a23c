"""A local Fireblocks: a scenario's cluster running in this process on the real clock, behind the REST
API (`cosigner_ha.saas_sim.rest`) served by hypercorn on loopback.

The SaaS, the nodes and the callback handlers are the simulator's, built by `world.build_world` and paired
by `pair_all` as in a simulated run, but on trio's real clock with the OS CSPRNG (`Environment.runtime`):
what the API shows is signed for real and happens in real time. The runtime's separate processes (`saas
serve`, the launcher) will take the place of the in-process world; the REST layer stays the same.

    async with trio.open_nursery() as nursery:
        ready = await nursery.start(LocalFireblocks(scenario).serve)
        print(ready.base_url, ready.users)
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import anyio
import anyio.abc
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.cluster.faults import FaultInjector
from cosigner_ha.cluster.runner import SetupError, submit
from cosigner_ha.cluster.scenario import Scenario
from cosigner_ha.cluster.workloads import run_workload
from cosigner_ha.cluster.world import World, build_world, pair_all
from cosigner_ha.env import Environment
from cosigner_ha.saas_sim.rest import PREFIX, ApiCredential, Balances, RestApi, load_public_key
from cosigner_ha.saas_sim.rest.server import build_app
from cosigner_ha.saas_sim.rest.webhooks import WebhookNotifier

#: Pairing every node must finish within this many real seconds.
SETUP_LIMIT = 120.0
#: The file `up` writes the webhook verification key to.
WEBHOOK_KEY_FILE = "webhook_public_key.pem"


@dataclasses.dataclass(frozen=True)
class UserKeys:
    """An API user's REST credentials. `secret_key` is the PEM private key when it was generated here (the
    scenario gave none); with the scenario's own `public_key`, the secret stays with its owner (None)."""

    name: str
    role: str
    api_key: str
    public_key: str
    secret_key: str | None = None


def _pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_public(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def user_keys(scenario: Scenario, *, generate: bool = True) -> list[UserKeys]:
    """Every API user's credentials: the scenario's `api_key`/`public_key`, or (with `generate`) a fresh
    RSA key and a UUID API key, as the Fireblocks console issues them."""
    out = []
    for user in scenario.api_users:
        if user.api_key is not None and user.public_key is not None:
            out.append(UserKeys(user.name, str(user.role), user.api_key, user.public_key.pem))
        elif generate:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            out.append(
                UserKeys(
                    user.name,
                    str(user.role),
                    str(uuid.uuid4()),
                    _pem_public(key.public_key()),
                    _pem_private(key),
                )
            )
    return out


@dataclasses.dataclass(frozen=True)
class Ready:
    """What `serve` reports once the API answers: where, for whom, and the objects behind it."""

    base_url: str
    users: tuple[UserKeys, ...]
    world: World
    api: RestApi
    webhook_public_key: str | None

    def ready_line(self) -> str:
        return ready_line(self.base_url, self.users)


def ready_line(base_url: str, users: Sequence[UserKeys]) -> str:
    """The one line `up` prints once the API answers: where, and for which API users."""
    who = ", ".join(f"{u.name} ({u.role}, api key {u.api_key})" for u in users) or "none"
    return f"local Fireblocks API ready at {base_url} for API users: {who}"


async def send_http(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> None:
    response = await client.post(url, content=body, headers=headers)
    response.raise_for_status()


def instant_boots(scenario: Scenario) -> Scenario:
    """On the real clock a node's modelled enclave start (30 s for Nitro by default) would only be waited
    out before the API answers: nodes boot at once here unless the scenario sets a boot key itself."""

    def instant(value: float | None) -> float:
        return 0.0 if value is None else value

    nodes = tuple(
        dataclasses.replace(
            n,
            boot_time=instant(n.boot_time),
            attest_time=instant(n.attest_time),
            restore_time=instant(n.restore_time),
        )
        for n in scenario.nodes
    )
    return dataclasses.replace(scenario, nodes=nodes)


class LocalFireblocks:
    def __init__(
        self,
        scenario: Scenario,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        users: Sequence[UserKeys] | None = None,
        webhooks: Sequence[str] = (),
        timeline: bool = False,
        workdir: Path | None = None,
    ) -> None:
        self.scenario = instant_boots(scenario)
        self.host = host
        self.port = port
        self.users = list(user_keys(scenario) if users is None else users)
        self.webhooks = list(webhooks)
        self.timeline = timeline
        self.workdir = workdir

    async def serve(self, *, task_status: anyio.abc.TaskStatus[Ready] = anyio.TASK_STATUS_IGNORED) -> None:
        """Build and pair the cluster, serve the API, report `Ready`, and run until cancelled."""
        from cosigner_ha.handler.reference import serve as serve_app

        scenario = self.scenario
        env = Environment.runtime(header={"scenario": scenario.scenario.name, "mode": "local-api"})
        async with anyio.create_task_group() as tasks:
            world = await build_world(scenario, env, tasks)
            with anyio.move_on_after(SETUP_LIMIT) as setup:
                await pair_all(world)
                await _all_online(world)
            if setup.cancelled_caught:
                raise SetupError(f"pairing did not finish within {SETUP_LIMIT:g} s")
            balances = None
            if scenario.workspace.balances:
                balances = Balances(
                    {
                        v: {a: Decimal(str(x)) for a, x in assets.items()}
                        for v, assets in scenario.workspace.balances.items()
                    }
                )
                balances.attach(world.saas)
            credentials = [
                ApiCredential(u.api_key, u.name, load_public_key(u.public_key.encode(), f"API user {u.name}"))
                for u in self.users
            ]
            api = RestApi(world.saas, world.workspace, credentials, balances=balances)
            webhook_public = None
            if self.webhooks:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                webhook_public = _pem_public(key.public_key())
                if self.workdir is not None:
                    (self.workdir / WEBHOOK_KEY_FILE).write_text(webhook_public)
                client = httpx.AsyncClient(timeout=10.0)
                tasks.start_soon(_close_on_cancel, client)

                async def send(url: str, body: bytes, headers: dict[str, str]) -> None:
                    await send_http(client, url, body, headers)

                await tasks.start(WebhookNotifier(api, self.webhooks, key, send).run)
            urls = await tasks.start(serve_app, build_app(api), f"{self.host}:{self.port}")
            if self.timeline:
                start = env.clock.now()
                end = start + scenario.scenario.duration
                for workload in scenario.workloads:
                    tasks.start_soon(run_workload, env, workload, start, end, lambda s: submit(world, s))
                tasks.start_soon(FaultInjector(world, start).run)
            base = urls[0].rstrip("/") + PREFIX
            task_status.started(Ready(base, tuple(self.users), world, api, webhook_public))


async def _all_online(world: World) -> None:
    """Until every paired co-signer has polled: before that the SaaS would find nobody to probe and wait
    its reprobe interval (5 s) before the first transaction could be signed."""
    while not all(c["online"] for c in world.saas.cosigners() if c["api_users"]):
        await anyio.sleep(0.02)


async def _close_on_cancel(client: httpx.AsyncClient) -> None:
    try:
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await client.aclose()
