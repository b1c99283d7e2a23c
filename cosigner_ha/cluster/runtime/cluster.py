"""A scenario's cluster as processes: `saas serve`, then each node set up, paired and started.

    with RuntimeCluster(scenario_path, workdir, time_scale=60) as cluster:
        cluster.start()          # SaaS up, every node paired and online
        cluster.control.post(...)

Each process starts as soon as the processes it needs listen, the others side by side (anyio task groups;
start-up is mostly each Python process's own start-up, so this is what makes a cluster start quickly):
the cloud services when the scenario has Nitro or GCP nodes (`cloud serve`, then each such node's KMS key
bound to its image, its role and bucket, and its own link), one `callback serve` per handler (scripted, asgi, python) the
API users name (then its link), and the owner's device (`owner serve`), its link, `saas serve --owner ...`
and then every node's link. Then each node, beside the others: pairing (`node setup`/`add-user`, with its
API users' handlers), `node start`, online, its handlers told its key. SGX and communal nodes keep their database on their home (`workdir/nodes/NAME`); the
nodes share one simulated attestation vendor and image-signing key, so the SaaS trusts one measurement
(each node's machine, its hardware profile and disk, as files: `machines`).
Faults: `link_fault` on any link (a node's name, or "owner", "cloud-NODE", "callback-NAME"),
`callback_fault`, `clock_skew`, `restart_node`, `restart_saas`, `restart_owner`. `cluster/runtime/specs.py` describes the
service processes as specs a launcher can start with `start_spec`; the `run --runtime` launcher
(`launcher.Drill`) plays a scenario's workloads and faults on the cluster. Leaving the block stops every
process (`ProcessGroup.close`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from cosigner_ha.cluster.node_hardware import IMAGE_VERSION, Hardware
from cosigner_ha.cluster.runtime import machines, node_admin
from cosigner_ha.cluster.runtime.certs import self_signed
from cosigner_ha.cluster.runtime.loop_run import run_on_loop
from cosigner_ha.cluster.runtime.processes import READY_LIMIT, Child, ProcessFailed, ProcessGroup, ready_file
from cosigner_ha.cluster.runtime.saas_serve import READY_FILE, TRACE_FILE
from cosigner_ha.cluster.runtime.specs import ProcessSpec, callback_spec, cloud_spec, owner_spec, proxy_spec
from cosigner_ha.cluster.runtime.trace_merge import merge, segment
from cosigner_ha.cluster.scenario import (
    Enclave,
    Scenario,
    Tenant,
    UrlCallback,
    load_scenario,
)
from cosigner_ha.cluster.scenario import Node as NodeSpec
from cosigner_ha.cluster.world import console_admin
from cosigner_ha.env import OsCrypto

T = TypeVar("T")

#: Enclaves that reach KMS and a bucket at `cloud serve` (the others run on the node's own directory).
CLOUD_KINDS = (Enclave.NITRO, Enclave.GCP)


@dataclasses.dataclass
class StartTimes:
    """Seconds since `start` was called at which each stage finished (benchmarks read these)."""

    saas_ready: float = 0.0
    paired: float = 0.0
    online: float = 0.0


class RuntimeCluster:
    def __init__(
        self,
        scenario: Path,
        workdir: Path,
        *,
        time_scale: float = 1.0,
        loop: str = "trio",
        owner_device: bool = True,
    ) -> None:
        self.scenario_path = scenario
        self.scenario: Scenario = load_scenario(scenario)
        self.workdir = workdir
        self.time_scale = time_scale
        self.loop = loop
        self.processes = ProcessGroup(workdir / "logs")
        self.times = StartTimes()
        self.ready: dict[str, Any] = {}
        self.start_wall = time.time()
        #: Each node's link to the SaaS gateway: a `proxy serve` process (`listen`, `control`).
        self.links: dict[str, dict[str, Any]] = {}
        self._control: httpx.Client | None = None
        self._saas_argv: list[str] = []
        #: More `saas serve` options (`up` adds the REST API's).
        self.saas_options: list[str] = []
        #: The owner's device as its own process (`owner serve`, reached through `service_links["owner"]`).
        self.owner_device = owner_device
        #: Links to service processes (the owner's device...): `proxy serve` processes, by service.
        self.service_links: dict[str, dict[str, Any]] = {}
        self.owner_ready: dict[str, Any] = {}
        self.cloud_ready: dict[str, Any] = {}
        #: Scripted callback handlers (`callback serve`) by name, and the node options each API user's
        #: pairing gives its handler (url, public key).
        self.callback_ready: dict[str, dict[str, Any]] = {}
        self._callback_args: dict[str, list[str]] = {}
        #: Each node's clock skew in force (a clock-skew fault): given to `node start` when it starts again.
        self.clock_skews: dict[str, float] = {}
        #: A GCP node's deployment metadata (`node start --token ...`): its first API user's pairing.
        self._deployment: dict[str, list[str]] = {}
        self._backups = 0

    def __enter__(self) -> RuntimeCluster:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
        self.processes.close()

    @property
    def control(self) -> httpx.Client:
        if self._control is None:
            raise RuntimeError("the cluster is not started")
        return self._control

    @property
    def workspace(self) -> str:
        return self.scenario.workspace.name

    def home(self, node: str) -> Path:
        return self.workdir / "nodes" / node

    def start(self) -> None:
        """Every process started and paired, every node online (`_start`)."""
        self.start_wall = time.time()
        self._run(self._start, time.monotonic())

    def _run(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`work(*args)` on the launcher's loop, in this thread (the main one: the children's parent-death
        signal follows the thread that started them); `loop_run` says how signals and errors come out."""
        return run_on_loop(work, *args, backend=self.loop, errors=(ProcessFailed,))

    async def _start(self, began: float) -> None:
        """Each process as soon as what it needs listens, the independent ones side by side: the cloud
        services (then each Nitro/GCP node's key, bucket and link), each scripted handler (then its link),
        and the owner's device, its link, the SaaS, then every node's link. Then each node's own chain
        (pairing, its other API users, `node start`, online, its handlers told its key) beside the others'."""
        vendor_key, image_key = OsCrypto().randbytes(32).hex(), OsCrypto().randbytes(32).hex()
        hardware = [
            machines.new_machine(self.home(n.name), n.name, vendor_key=vendor_key, image_key=image_key)
            for n in self.scenario.nodes
        ]
        self.cert, key = self_signed(self.workdir / "tls")
        async with httpx.AsyncClient(timeout=30) as http:
            async with anyio.create_task_group() as tasks:
                if any(n.enclave in CLOUD_KINDS for n in self.scenario.nodes):
                    tasks.start_soon(self._start_cloud, http, hardware[0])
                for name in sorted({u.callback for u in self.scenario.api_users if u.callback is not None}):
                    tasks.start_soon(self._start_callback, name)
                tasks.start_soon(self._start_saas, hardware[0], key)
            self.times.saas_ready = time.monotonic() - began
            async with anyio.create_task_group() as tasks:
                for spec in self.scenario.nodes:
                    tasks.start_soon(self._bring_up, http, spec, began)
        self.times.online = time.monotonic() - began

    async def _start_saas(self, hardware: Hardware, key: Path) -> None:
        """The owner's device and its link, `saas serve` told where that link listens, then every node's
        link to the SaaS gateway."""
        owner = ["--owner", await self._start_owner()] if self.owner_device else []
        self._saas_argv = [
            *("saas", "serve", "--state", str(self.workdir / "saas"), "--cert", str(self.cert)),
            *("--key", str(key), "--scenario", str(self.scenario_path)),
            *("--time-scale", repr(self.time_scale), "--loop", self.loop),
            *("--vendor-key", hardware.vendor.public_key.hex()),
            *("--measurement", hardware.image.measurement.hex()),
            *owner,
            *self.saas_options,
        ]
        saas = self.processes.start("saas", "saas", *self._saas_argv)
        self.ready = await ready_file(self.workdir / "saas" / READY_FILE, saas)
        self._control = httpx.Client(base_url=self.ready["control"], timeout=30)

        async def link(name: str) -> None:
            ready = self.workdir / "links" / f"{name}.json"
            spec = proxy_spec(f"link-{name}", self.ready["gateway"], ready, loop=self.loop)
            self.links[name] = await self._launch(spec)

        async with anyio.create_task_group() as tasks:
            for spec in self.scenario.nodes:
                tasks.start_soon(link, spec.name)

    async def _bring_up(self, http: httpx.AsyncClient, spec: NodeSpec, began: float) -> None:
        """One node: paired as an operator would (`node setup`, then `node add-user` for its other API
        users; a GCP node has no local administration: `_deploy`), started, in standby if the scenario says
        so, online, and its key given to its handlers."""
        if spec.enclave == Enclave.GCP:
            await self._deploy(http, spec)
        else:
            await self._pair_locally(http, spec)
            self.start_node(spec.name)
        self.times.paired = max(self.times.paired, time.monotonic() - began)
        if spec.standby:
            url = f"{self.ready['control']}/cosigners/{spec.name}/standby"
            self._ok(await http.post(url, json={"standby": True}))
        if spec.api_users:
            await self._online(http, None, {spec.name})
        await self._trust_node(http, spec.name)

    def _pairing_limit(self) -> float:
        """Real seconds a pairing may take: start-up, boot and the owner's (scaled) approval, twice over."""
        return 2 * (READY_LIMIT + self.scenario.saas.owner_approval_latency / self.time_scale)

    async def _deploy(self, http: httpx.AsyncClient, spec: NodeSpec) -> None:
        """A GCP node as the simulator pairs one: started with its first API user's pairing token (the
        deployment's metadata: `node start --token`), which it pairs at boot; its other API users paired
        through the SaaS (a console user's request, approved as any), one after the other."""
        if spec.api_users:
            first = spec.api_users[0]
            token = await self._token(http, first)
            self._deployment[spec.name] = ["--token", token, *self.callback_args(first)]
        self.start_node(spec.name)
        for i, api_user in enumerate(spec.api_users):
            request = None
            if i > 0:
                body = {
                    "cosigner": spec.name,
                    "api_user": api_user,
                    "requested_by": console_admin(self.scenario, self._tenant(api_user)),
                    "callback": self._callback_dict(api_user),
                }
                workspace = self.scenario.workspace_of(api_user)
                url = f"{self.ready['control']}/workspaces/{workspace}/pair"
                request = str(self._ok(await http.post(url, json=body))["request"])
            await self._until_paired(http, spec.name, api_user, request)

    async def _until_paired(
        self, http: httpx.AsyncClient, node: str, api_user: str, request: str | None
    ) -> None:
        """Until the SaaS lists `api_user` paired on `node`; `ProcessFailed` when its pairing `request` is
        refused or it takes too long."""
        control = self.ready["control"]
        with anyio.move_on_after(self._pairing_limit()):
            while True:
                self.processes.check()
                if request is not None:
                    status = self._ok(await http.get(f"{control}/requests/{request}"))
                    if status["status"] in ("REJECTED", "CANCELLED"):
                        why = status.get("detail") or "no detail"
                        raise ProcessFailed(
                            f"{node}: pairing {api_user} through the SaaS: {status['status']}, {why}"
                        )
                cosigners = self._ok(await http.get(f"{control}/cosigners"))
                if any(c["id"] == node and api_user in c["api_users"] for c in cosigners):
                    return
                await anyio.sleep(0.05)
        log = self.processes.children[node].tail()
        raise ProcessFailed(f"{node}: {api_user} not paired within {self._pairing_limit():g} s; log:\n{log}")

    def _tenant(self, api_user: str) -> Tenant:
        workspace = self.scenario.workspace_of(api_user)
        return next(t for t in self.scenario.tenants() if t.workspace.name == workspace)

    def _callback_dict(self, api_user: str) -> dict[str, str] | None:
        """The API user's handler as the SaaS's pairing request carries it (`url`, `publicKey`, `cert`)."""
        args = self.callback_args(api_user)
        options = dict(zip(args[::2], args[1::2], strict=True))
        if "--callback-url" not in options:
            return None
        pem = options.get("--callback-public-key")
        return {
            "url": options["--callback-url"],
            "publicKey": Path(pem).read_text() if pem else "",
            "cert": "",
        }

    async def _pair_locally(self, http: httpx.AsyncClient, spec: NodeSpec) -> None:
        """`node setup` for the first API user, `node add-user` for the others, each to completion."""
        for i, api_user in enumerate(spec.api_users):
            token = await self._token(http, api_user)
            command, name = (
                ("setup", f"{spec.name}-setup") if i == 0 else ("add-user", f"{spec.name}-add-{api_user}")
            )
            argv = (
                "node",
                command,
                *self.node_args(spec.name),
                "--token",
                token,
                *self.callback_args(api_user),
            )
            await self.processes.finish(name, "setup", *argv, timeout=self._pairing_limit())

    def node_args(self, name: str) -> list[str]:
        return [
            *("--home", str(self.home(name)), "--saas", self.links[name]["listen"]),
            *("--saas-cert", str(self.cert), "--loop", self.loop, "--time-scale", repr(self.time_scale)),
        ]

    def node_trace(self, name: str) -> Path:
        return self.workdir / "traces" / f"{name}.jsonl"

    def node_states(self, name: str) -> list[str]:
        """The states the node's current `node start` has recorded so far (booting, failed, running...)."""
        child = self.processes.children[name]
        return [e["state"] for e in segment(self.node_trace(name), child.pid) if e["kind"] == "node_state"]

    def start_node(self, name: str) -> Child:
        """`node start` on the node's home: a first start or a restart after a crash."""
        trace = self.node_trace(name)
        trace.parent.mkdir(parents=True, exist_ok=True)
        skew = self.clock_skews.get(name, 0.0)
        argv = (
            "node",
            "start",
            *self.node_args(name),
            "--trace",
            str(trace),
            *self._deployment.get(name, ()),
        )
        return self.processes.start(name, "node", *argv, *(("--clock-skew", repr(skew)) if skew else ()))

    # --- a node's machine (disk-loss and attestation faults: `machines`) --------------------------------

    def lose_disk(self, name: str, *, backup: bool) -> Path | None:
        """The node's host disk wiped, copied first to a new backup directory (returned) with `backup`."""
        saved = None
        if backup:
            self._backups += 1
            saved = self.workdir / "backups" / f"{name}-{self._backups}"
        machines.lose_disk(self.home(name), saved)
        return saved

    def replace_disk(self, name: str, backup: Path | None, *, new_host: bool) -> None:
        machines.replace_disk(self.home(name), backup, new_host=new_host)

    def swap_image(self, name: str, *, tampered: bool) -> None:
        machines.swap_image(self.home(name), tampered=tampered)

    def clock_skew(self, name: str, seconds: float, *, running: bool = True) -> None:
        """The node's wall clock shifted by `seconds` from now on: through its admin socket when it runs,
        and on `node start` whenever it starts again."""
        self.clock_skews[name] = seconds
        if running:
            request = {"command": "clock-skew", "seconds": seconds}
            self._run(node_admin.ask, self.home(name), name, request, "the clock skew")

    def merged_trace(self) -> list[dict[str, Any]]:
        """Every process's events on one clock (seconds since `start`), with `process_exited` events."""
        files = {"saas": self.workdir / "saas" / TRACE_FILE}
        if self.owner_device:
            files["owner"] = self.workdir / "owner" / TRACE_FILE
        if self.cloud_ready:
            files["cloud"] = self.workdir / "cloud" / TRACE_FILE
        for name in self.callback_ready:
            files[f"callback-{name}"] = self.workdir / "callbacks" / name / TRACE_FILE
        files.update({n.name: self.node_trace(n.name) for n in self.scenario.nodes})
        return merge(files, self.start_wall, self.processes.exits)

    def token(self, api_user: str, *, age: float = 0.0) -> str:
        """A pairing token from the console of the API user's workspace; with `age`, one that has what a
        token issued `age` wall seconds ago has left of its validity."""
        body = {"api_user": api_user, **({"age": age} if age else {})}
        url = f"/workspaces/{self.scenario.workspace_of(api_user)}/pairing-tokens"
        return str(self._ok(self.control.post(url, json=body))["token"])

    async def _token(self, http: httpx.AsyncClient, api_user: str) -> str:
        url = f"{self.ready['control']}/workspaces/{self.scenario.workspace_of(api_user)}/pairing-tokens"
        return str(self._ok(await http.post(url, json={"api_user": api_user}))["token"])

    def callback_settings(self, api_user: str) -> dict[str, str]:
        """The API user's handler as an admin request (`node start`'s admin socket) carries it: what
        `callback_args` gives `node setup` on its command line."""
        handler = self._callback_dict(api_user) or {}
        return {
            "url": handler.get("url", ""),
            "public_key": handler.get("publicKey", ""),
            "certificate": handler.get("cert", ""),
        }

    def trust(self, node: str, handler: str) -> None:
        """The scripted handler accepts the running node's request JWTs (after a pairing that names it)."""
        if handler not in self.callback_ready:
            return

        async def trust() -> None:
            pem = await node_admin.callback_key(self.home(node), node)
            async with httpx.AsyncClient(timeout=10) as http:
                url = f"{self.callback_ready[handler]['control']}/trust"
                self._ok(await http.post(url, json={"public_key": pem, "node": node}))

        self._run(trust)

    def wait_online(self, since: float | None = None, names: set[str] | None = None) -> None:
        """Until every node with an API user (or those `names`) is online; with `since` (wall time), until
        each has polled after it (a restarted node, which the SaaS still counts online from before)."""

        async def wait() -> None:
            async with httpx.AsyncClient(timeout=30) as http:
                await self._online(http, since, names)

        self._run(wait)

    async def _online(self, http: httpx.AsyncClient, since: float | None, names: set[str] | None) -> None:
        expected = names or {n.name for n in self.scenario.nodes if n.api_users}
        with anyio.move_on_after(READY_LIMIT):
            while True:
                self.processes.check()
                response = await http.get(f"{self.ready['control']}/cosigners")
                online = {
                    c["id"]
                    for c in self._ok(response)
                    if c["online"] and (since is None or (c["last_seen"] or 0.0) > since)
                }
                if expected <= online:
                    return
                await anyio.sleep(0.05)
        raise ProcessFailed(f"co-signers {sorted(expected)} not all online within {READY_LIMIT:g} s")

    def link_fault(self, node: str, fault: str, **values: float) -> None:
        """Apply `fault` (partition, heal, clog, unclog, latency, loss) to the node's link to the SaaS."""
        link = self.links[node] if node in self.links else self.service_links[node]
        response = httpx.post(f"{link['control']}/{fault}", json=values, timeout=10)
        self._ok(response)

    def restart_node(self, name: str) -> Child:
        """A new `node start` on the crashed node's home, once it has polled the SaaS again."""
        since = time.time()
        child = self.start_node(name)
        self.wait_online(since, {name})
        return child

    # --- service processes (specs.py) ------------------------------------------------------------------

    def start_spec(self, spec: ProcessSpec) -> dict[str, Any]:
        """Start a service process (again: on the same state) and wait for its ready file."""
        return self._run(self._launch, spec)

    async def _launch(self, spec: ProcessSpec) -> dict[str, Any]:
        spec.ready.parent.mkdir(parents=True, exist_ok=True)
        spec.ready.unlink(missing_ok=True)
        child = self.processes.start(spec.name, spec.role, *spec.argv)
        return await ready_file(spec.ready, child)

    def owner_spec(self, listen: str = "127.0.0.1:0") -> ProcessSpec:
        return owner_spec(
            self.workdir / "owner",
            scenario=self.scenario_path,
            time_scale=self.time_scale,
            loop=self.loop,
            listen=listen,
        )

    def restart_owner(self) -> dict[str, Any]:
        """A new `owner serve` on the device's state and port (its link keeps its target)."""
        self.owner_ready = self.start_spec(self.owner_spec(self.owner_ready["url"].removeprefix("http://")))
        return self.owner_ready

    def callback_args(self, api_user: str) -> list[str]:
        """`--callback-url ...` for the API user's handler in the scenario (none: no handler)."""
        user = next(u for u in self.scenario.api_users if u.name == api_user)
        return [] if user.callback is None else self._callback_args[user.callback]

    def callback_fault(self, name: str, mode: str | None) -> None:
        """A callback fault on a scripted handler (`timeout`, `reject`, `retry`, `down`, `error`...; None heals)."""
        self._ok(httpx.post(f"{self.callback_ready[name]['control']}/fault", json={"mode": mode}, timeout=10))

    async def _start_callback(self, name: str) -> None:
        """A handler an API user names: a `url` one as given; any other (scripted, asgi, python) as `callback
        serve` behind its link."""
        spec = self.scenario.callback(name)
        if isinstance(spec, UrlCallback):
            self._callback_args[name] = ["--callback-url", spec.url]
            return
        state = self.workdir / "callbacks" / name
        ready = self.callback_ready[name] = await self._launch(
            callback_spec(name, self.scenario_path, state, time_scale=self.time_scale)
        )
        target = ready["url"].removeprefix("http://")
        link_ready = self.workdir / "links" / f"callback-{name}.json"
        link = self.service_links[f"callback-{name}"] = await self._launch(
            proxy_spec(f"link-callback-{name}", target, link_ready, loop=self.loop)
        )
        pem = state / "public.pem"
        pem.write_text(ready["public_key"])
        self._callback_args[name] = [
            "--callback-url",
            f"http://{link['listen']}",
            "--callback-public-key",
            str(pem),
        ]

    async def _trust_node(self, http: httpx.AsyncClient, node: str) -> None:
        """The node's handlers (`callback serve`) check request JWTs against its key (asked of the running
        node); a user's handler finds it in its `cosigner-keys` folder."""
        spec = next(n for n in self.scenario.nodes if n.name == node)
        names = {u.callback for u in self.scenario.api_users if u.name in spec.api_users}
        handlers = sorted(name for name in self.callback_ready if name in names)
        if not handlers:
            return
        pem = await node_admin.callback_key(self.home(node), node)
        for name in handlers:
            url = f"{self.callback_ready[name]['control']}/trust"
            self._ok(await http.post(url, json={"public_key": pem, "node": node}))

    async def _start_cloud(self, http: httpx.AsyncClient, hardware: Hardware) -> None:
        """`cloud serve`, then for each Nitro / GCP node side by side its KMS key (bound to the image it
        runs), its bucket and its link (a fault proxy); its hardware profile then names them."""
        vendor = hardware.vendor.public_key.hex()  # the simulated vendor plays AWS and Google too
        spec = cloud_spec(
            self.workdir / "cloud", nitro_vendor_key=vendor, cs_vendor_key=vendor, loop=self.loop
        )
        self.cloud_ready = await self._launch(spec)
        url = self.cloud_ready["url"]

        async def provision(node: NodeSpec) -> None:
            role, key_id, bucket = f"role-{node.name}", f"cmk-{node.name}", f"bucket-{node.name}"
            image = hardware.images.image(str(node.enclave), IMAGE_VERSION)  # type: ignore[arg-type]
            if node.enclave == Enclave.NITRO:
                kms, policy = "aws", {"pcr8": image.pcr8.hex()}
            else:
                kms, policy = "gcp", {"image_digest": image.digest}
            key = {"key_id": key_id, "roles": [role], **policy}
            self._ok(await http.post(f"{url}/kms/{kms}/keys", json=key))
            self._ok(await http.post(f"{url}/buckets", json={"name": bucket, "roles": [role]}))
            ready = self.workdir / "links" / f"cloud-{node.name}.json"
            link = await self._launch(
                proxy_spec(f"link-cloud-{node.name}", url.removeprefix("http://"), ready, loop=self.loop)
            )
            self.service_links[f"cloud-{node.name}"] = link
            machines.update_profile(
                self.home(node.name),
                kind=str(node.enclave),
                cloud=f"http://{link['listen']}",
                role=role,
                key_id=key_id,
                bucket=bucket,
            )

        async with anyio.create_task_group() as tasks:
            for node in self.scenario.nodes:
                if node.enclave in CLOUD_KINDS:
                    tasks.start_soon(provision, node)

    async def _start_owner(self) -> str:
        """The owner's device, and its link to the SaaS (a fault proxy); the URL the SaaS is given."""
        ready = self.owner_ready = await self._launch(self.owner_spec())
        target = ready["url"].removeprefix("http://")
        link = proxy_spec("link-owner", target, self.workdir / "links" / "owner.json", loop=self.loop)
        self.service_links["owner"] = await self._launch(link)
        return f"http://{self.service_links['owner']['listen']}"

    # --- the SaaS restarted on its state (a `saas` crash/restart fault) ----------------------------------

    def restart_saas(self) -> Child:
        """A new `saas serve` on the same state directory and the same ports, so that the nodes' links and
        the control client reach it where they did; returns once it answers (its state restored)."""
        gateway = self.ready["gateway"]
        control = self.ready["control"].removeprefix("http://")
        argv = [*self._saas_argv, "--gateway", gateway, "--control", control]
        (self.workdir / "saas" / READY_FILE).unlink(missing_ok=True)  # the dead one's
        child = self.processes.start("saas", "saas", *argv)
        self.ready = self._run(ready_file, self.workdir / "saas" / READY_FILE, child)
        return child

    @staticmethod
    def _ok(response: httpx.Response) -> Any:
        if response.is_error:
            raise ProcessFailed(f"SaaS control API {response.request.url.path}: {response.text}")
        return response.json()
