"""A scenario's cluster as processes: `saas serve`, then each node set up, paired and started.

    with RuntimeCluster(scenario_path, workdir, time_scale=60) as cluster:
        cluster.start()          # SaaS up, every node paired and online
        cluster.control.post(...)

Started in order: the owner's device (`owner serve`, behind its link), the cloud services when the scenario
has Nitro or GCP nodes (`cloud serve`: each such node's KMS key bound to its image, its role and bucket,
its own link), `saas serve --owner ...`, one `callback serve` per scripted handler the API users name
(behind its link), then each node's link, pairing (`node setup`/`add-user`, with its API users' handlers)
and `node start`. SGX and communal nodes keep their database on their home (`workdir/nodes/NAME`); the
nodes share one simulated attestation vendor and image-signing key, so the SaaS trusts one measurement.
Faults: `link_fault` on any link (a node's name, or "owner", "cloud-NODE", "callback-NAME"),
`callback_fault`, `clock_skew`, `restart_node`, `restart_saas`, `restart_owner`. `cluster/runtime/specs.py` describes the
service processes as specs a launcher can start with `start_spec`; the `run --runtime` launcher
(`launcher.Drill`) plays a scenario's workloads and faults on the cluster. Leaving the block stops every
process (`ProcessGroup.close`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import httpx

from cosigner_ha.cluster import admin_socket
from cosigner_ha.cluster.commands_node import IMAGE_VERSION, Hardware
from cosigner_ha.cluster.runtime.certs import self_signed
from cosigner_ha.cluster.runtime.processes import Child, ProcessFailed, ProcessGroup
from cosigner_ha.cluster.runtime.saas_serve import READY_FILE, TRACE_FILE
from cosigner_ha.cluster.runtime.specs import ProcessSpec, callback_spec, cloud_spec, owner_spec, proxy_spec
from cosigner_ha.cluster.runtime.trace_merge import merge
from cosigner_ha.cluster.scenario import Enclave, Scenario, ScriptedCallback, UrlCallback, load_scenario
from cosigner_ha.cluster.world import console_admin
from cosigner_ha.env import OsCrypto

#: Enclaves that reach KMS and a bucket at `cloud serve` (the others run on the node's own directory).
CLOUD_KINDS = (Enclave.NITRO, Enclave.GCP)
#: Real seconds the SaaS gets to answer on its control API after it starts, and nodes to come online.
READY_LIMIT = 60.0
#: Real seconds a running node gets to answer on its admin socket.
ADMIN_LIMIT = 10.0


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
        #: GCP nodes' deployment-time pairing (`node start --pairing-token ...`), given at every start.
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
        began = time.monotonic()
        self.start_wall = time.time()
        vendor_key, image_key = OsCrypto().randbytes(32).hex(), OsCrypto().randbytes(32).hex()
        hardware = [self._hardware(n.name, vendor_key, image_key) for n in self.scenario.nodes]
        self.cert, key = self_signed(self.workdir / "tls")
        if any(n.enclave in CLOUD_KINDS for n in self.scenario.nodes):
            self._start_cloud(hardware[0])
        owner = ["--owner", self._start_owner()] if self.owner_device else []
        self._saas_argv = [
            *("saas", "serve", "--state", str(self.workdir / "saas"), "--cert", str(self.cert)),
            *("--key", str(key), "--scenario", str(self.scenario_path)),
            *("--time-scale", repr(self.time_scale), "--loop", self.loop),
            *("--vendor-key", hardware[0].vendor.public_key.hex()),
            *("--measurement", hardware[0].image.measurement.hex()),
            *owner,
            *self.saas_options,
        ]
        saas = self.processes.start("saas", "saas", *self._saas_argv)
        self.ready = _wait_ready(self.workdir / "saas" / READY_FILE, saas)
        self._start_callbacks()
        for spec in self.scenario.nodes:
            ready = self.workdir / "links" / f"{spec.name}.json"
            ready.parent.mkdir(parents=True, exist_ok=True)
            argv = ("proxy", "serve", "--target", self.ready["gateway"], "--ready", str(ready))
            link = self.processes.start(f"link-{spec.name}", "proxy", *argv, "--loop", self.loop)
            self.links[spec.name] = _wait_ready(ready, link)
        self._control = httpx.Client(base_url=self.ready["control"], timeout=30)
        self.times.saas_ready = time.monotonic() - began
        self._pair()
        self.times.paired = time.monotonic() - began
        for spec in self.scenario.nodes:
            self.start_node(spec.name)
        for spec in self.scenario.nodes:
            if spec.standby:
                self._ok(self.control.post(f"/cosigners/{spec.name}/standby", json={"standby": True}))
        self.wait_online()
        self._pair_through_console()
        self._trust_nodes()
        self.times.online = time.monotonic() - began

    def node_args(self, name: str) -> list[str]:
        return [
            *("--home", str(self.home(name)), "--saas", self.links[name]["listen"]),
            *("--saas-cert", str(self.cert), "--loop", self.loop, "--time-scale", repr(self.time_scale)),
        ]

    def start_node(self, name: str) -> Child:
        """`node start` on the node's home: a first start or a restart after a crash."""
        trace = self.workdir / "traces" / f"{name}.jsonl"
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

    # --- a node's disk (a disk-loss fault) ---------------------------------------------------------------

    def lose_disk(self, name: str, *, backup: bool) -> Path | None:
        """The node's host disk (`HOME/disk`: its sealed database or its Nitro/GCP host files, and its logs)
        wiped; with `backup`, copied first (the image taken at that instant). The node must be down."""
        disk = self.home(name) / "disk"
        saved = None
        if backup:
            self._backups += 1
            saved = self.workdir / "backups" / f"{name}-{self._backups}"
            saved.parent.mkdir(parents=True, exist_ok=True)
            if disk.exists():
                shutil.copytree(disk, saved)
            else:
                saved.mkdir()
        shutil.rmtree(disk, ignore_errors=True)
        disk.mkdir()
        return saved

    def replace_disk(self, name: str, backup: Path | None, *, new_host: bool) -> None:
        """The node's disk restored from `backup` (or left empty); with `new_host`, the home becomes a fresh
        machine with the same role: a new CPU secret, so an SGX node cannot unseal what its old CPU sealed,
        while a Nitro or GCP node reopens its bucket with the KMS key."""
        disk = self.home(name) / "disk"
        if backup is not None:
            shutil.rmtree(disk, ignore_errors=True)
            shutil.copytree(backup, disk)
        if new_host:
            path = self.home(name) / "hardware.json"
            profile = json.loads(path.read_text())
            profile["cpu_secret"] = OsCrypto().randbytes(32).hex()
            path.write_text(json.dumps(profile, indent=2))

    def swap_image(self, name: str, *, tampered: bool) -> None:
        """The node's machine gets a tampered image (modified code, the original signature), or the signed
        one back, from its next `node start` on."""
        path = self.home(name) / "hardware.json"
        profile = json.loads(path.read_text())
        profile.pop("image", None)
        if tampered:
            profile["image"] = "tampered"
        path.write_text(json.dumps(profile, indent=2))

    def clock_skew(self, name: str, seconds: float, *, running: bool = True) -> None:
        """The node's wall clock shifted by `seconds` from now on: through its admin socket when it runs,
        and on `node start` whenever it starts again."""
        self.clock_skews[name] = seconds
        if not running:
            return
        request = {"command": "clock-skew", "seconds": seconds}

        async def ask() -> admin_socket.Answer | None:
            with anyio.move_on_after(ADMIN_LIMIT):
                while True:  # a node just started may not serve its socket yet
                    answered = await admin_socket.ask_running(self.home(name), request)
                    if answered is not None:
                        return answered
                    await anyio.sleep(0.05)
            return None

        answered = anyio.run(ask)
        if answered is None or answered[0] != 0:
            why = "no answer" if answered is None else answered[2]
            raise ProcessFailed(f"{name}: its admin socket did not take the clock skew ({why})")

    def merged_trace(self) -> list[dict[str, Any]]:
        """Every process's events on one clock (seconds since `start`), with `process_exited` events."""
        files = {"saas": self.workdir / "saas" / TRACE_FILE}
        if self.owner_device:
            files["owner"] = self.workdir / "owner" / TRACE_FILE
        if self.cloud_ready:
            files["cloud"] = self.workdir / "cloud" / TRACE_FILE
        for name in self.callback_ready:
            files[f"callback-{name}"] = self.workdir / "callbacks" / name / TRACE_FILE
        files.update({n.name: self.workdir / "traces" / f"{n.name}.jsonl" for n in self.scenario.nodes})
        return merge(files, self.start_wall, self.processes.exits)

    def token(self, api_user: str, *, age: float = 0.0) -> str:
        """A pairing token from the console of the API user's workspace; with `age`, one that has what a
        token issued `age` wall seconds ago has left of its validity."""
        body = {"api_user": api_user, **({"age": age} if age else {})}
        url = f"/workspaces/{self.scenario.workspace_of(api_user)}/pairing-tokens"
        return str(self._ok(self.control.post(url, json=body))["token"])

    def callback_settings(self, api_user: str) -> dict[str, str]:
        """The API user's handler as an admin request (`node start`'s admin socket) carries it: what
        `callback_args` gives `node setup` on its command line."""
        args = self.callback_args(api_user)
        options = dict(zip(args[::2], args[1::2], strict=True))
        pem = options.get("--callback-public-key")
        return {
            "url": options.get("--callback-url", ""),
            "public_key": Path(pem).read_text() if pem else "",
            "certificate": "",
        }

    def trust(self, node: str, handler: str) -> None:
        """The scripted handler accepts the running node's request JWTs (after a pairing that names it)."""
        if handler not in self.callback_ready:
            return
        answered = anyio.run(admin_socket.ask_running, self.home(node), {"command": "print-public-key"})
        if answered is None or answered[0] != 0:
            why = "no answer" if answered is None else answered[2]
            raise ProcessFailed(f"{node}: its admin socket did not give its public key ({why})")
        pem = "\n".join(answered[1]).strip() + "\n"
        self._ok(
            httpx.post(
                f"{self.callback_ready[handler]['control']}/trust", json={"public_key": pem}, timeout=10
            )
        )

    def wait_online(self, since: float | None = None, names: set[str] | None = None) -> None:
        """Until every node with an API user (or those `names`) is online; with `since` (wall time), until
        each has polled after it (a restarted node, which the SaaS still counts online from before)."""
        deadline = time.monotonic() + READY_LIMIT
        expected = names or {n.name for n in self.scenario.nodes if n.api_users}
        while time.monotonic() < deadline:
            self.processes.check()
            online = {
                c["id"]
                for c in self._ok(self.control.get("/cosigners"))
                if c["online"] and (since is None or (c["last_seen"] or 0.0) > since)
            }
            if expected <= online:
                return
            time.sleep(0.05)
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
        spec.ready.parent.mkdir(parents=True, exist_ok=True)
        spec.ready.unlink(missing_ok=True)
        child = self.processes.start(spec.name, spec.role, *spec.argv)
        return _wait_ready(spec.ready, child)

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

    def _start_callbacks(self) -> None:
        """Each scripted handler an API user names, as `callback serve` behind a link; `url` handlers as given."""
        for name in sorted({u.callback for u in self.scenario.api_users if u.callback is not None}):
            spec = self.scenario.callback(name)
            if isinstance(spec, UrlCallback):
                self._callback_args[name] = ["--callback-url", spec.url]
                continue
            if not isinstance(spec, ScriptedCallback):
                kind = type(spec).__name__.removesuffix("Callback").lower()
                raise ProcessFailed(
                    f"callback {name}: a {kind} handler runs in simulation only; the runtime serves scripted "
                    "handlers (`callback serve`) and url handlers"
                )
            state = self.workdir / "callbacks" / name
            ready = self.callback_ready[name] = self.start_spec(
                callback_spec(name, self.scenario_path, state, time_scale=self.time_scale)
            )
            target = ready["url"].removeprefix("http://")
            link_ready = self.workdir / "links" / f"callback-{name}.json"
            link = self.service_links[f"callback-{name}"] = self.start_spec(
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

    def _trust_nodes(self) -> None:
        """Each scripted handler checks request JWTs against the keys of the nodes whose users name it."""
        for node in self.scenario.nodes:
            names = {u.callback for u in self.scenario.api_users if u.name in node.api_users}
            handlers = {name for name in self.callback_ready if name in names}
            if not handlers:
                continue
            text = self.processes.run(
                f"{node.name}-public-key", "node", "print-public-key", *self.node_args(node.name)
            )
            found = re.findall(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", text, re.S)
            if not found:
                raise ProcessFailed(f"{node.name}: print-public-key printed no PEM key:\n{text}")
            for name in sorted(handlers):
                url = f"{self.callback_ready[name]['control']}/trust"
                self._ok(httpx.post(url, json={"public_key": found[-1] + "\n"}, timeout=10))

    def _start_cloud(self, hardware: Hardware) -> None:
        """`cloud serve`, and for each Nitro / GCP node its KMS key (bound to the image it runs), its bucket
        and its link (a fault proxy); its hardware profile then names them."""
        vendor = hardware.vendor.public_key.hex()  # the simulated vendor plays AWS and Google too
        spec = cloud_spec(
            self.workdir / "cloud", nitro_vendor_key=vendor, cs_vendor_key=vendor, loop=self.loop
        )
        self.cloud_ready = self.start_spec(spec)
        url = self.cloud_ready["url"]
        for node in self.scenario.nodes:
            if node.enclave not in CLOUD_KINDS:
                continue
            role, key_id, bucket = f"role-{node.name}", f"cmk-{node.name}", f"bucket-{node.name}"
            image = hardware.images.image(str(node.enclave), IMAGE_VERSION)  # type: ignore[arg-type]
            if node.enclave == Enclave.NITRO:
                kms, policy = "aws", {"pcr8": image.pcr8.hex()}
            else:
                kms, policy = "gcp", {"image_digest": image.digest}
            self._ok(httpx.post(f"{url}/kms/{kms}/keys", json={"key_id": key_id, "roles": [role], **policy}))
            self._ok(httpx.post(f"{url}/buckets", json={"name": bucket, "roles": [role]}))
            ready = self.workdir / "links" / f"cloud-{node.name}.json"
            link = self.start_spec(
                proxy_spec(f"link-cloud-{node.name}", url.removeprefix("http://"), ready, loop=self.loop)
            )
            self.service_links[f"cloud-{node.name}"] = link
            path = self.home(node.name) / "hardware.json"
            profile = json.loads(path.read_text())
            profile.update(kind=str(node.enclave), cloud=f"http://{link['listen']}", role=role)
            profile.update(key_id=key_id, bucket=bucket)
            path.write_text(json.dumps(profile, indent=2))

    def _start_owner(self) -> str:
        """The owner's device, and its link to the SaaS (a fault proxy); the URL the SaaS is given."""
        ready = self.owner_ready = self.start_spec(self.owner_spec())
        target = ready["url"].removeprefix("http://")
        link = proxy_spec("link-owner", target, self.workdir / "links" / "owner.json", loop=self.loop)
        self.service_links["owner"] = self.start_spec(link)
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
        self.ready = _wait_ready(self.workdir / "saas" / READY_FILE, child)
        return child

    def _hardware(self, name: str, vendor_key: str, image_key: str) -> Hardware:
        home = self.home(name)
        home.mkdir(parents=True, exist_ok=True)
        secrets = {
            "host": name,
            "cpu_secret": OsCrypto().randbytes(32).hex(),
            "vendor_key": vendor_key,
            "image_key": image_key,
        }
        (home / "hardware.json").write_text(json.dumps(secrets, indent=2))
        return Hardware(home, secrets)

    def _pair(self) -> None:
        """Every node's first API user with `node setup`, the others with `node add-user`, as an operator
        would; the nodes' first pairings run side by side."""
        setups = []
        for spec in self.scenario.nodes:
            if spec.api_users and spec.enclave == Enclave.GCP:  # paired at its first boot
                api_user = spec.api_users[0]
                self._deployment[spec.name] = [
                    *("--pairing-token", self.token(api_user)),
                    *self.callback_args(api_user),
                ]
            elif spec.api_users:
                token = self.token(spec.api_users[0])
                callback = self.callback_args(spec.api_users[0])
                argv = ("node", "setup", *self.node_args(spec.name), "--token", token, *callback)
                setups.append(self.processes.start(f"{spec.name}-setup", "setup", *argv))
        deadline = (
            time.monotonic() + READY_LIMIT + 2 * self.scenario.saas.owner_approval_latency / self.time_scale
        )
        for child in setups:
            child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            if child.popen.returncode != 0:
                raise child.failure()
            del self.processes.children[child.name]
        for spec in self.scenario.nodes:
            for api_user in spec.api_users[1:] if spec.enclave != Enclave.GCP else ():
                token = self.token(api_user)
                argv = (
                    "node",
                    "add-user",
                    *self.node_args(spec.name),
                    "--token",
                    token,
                    *self.callback_args(api_user),
                )
                self.processes.run(f"{spec.name}-add-{api_user}", *argv)

    def _pair_through_console(self) -> None:
        """A GCP node's other API users: paired from the console (the SaaS commands the running node), each
        request waited for, as the simulator does (`world._pair_node`)."""
        for spec in self.scenario.nodes:
            if spec.enclave != Enclave.GCP:
                continue
            for api_user in spec.api_users[1:]:
                workspace = self.scenario.workspace_of(api_user)
                tenant = next(t for t in self.scenario.tenants() if t.workspace.name == workspace)
                settings = self.callback_settings(api_user)
                callback = {"url": settings["url"], "publicKey": settings["public_key"], "cert": ""}
                body = {
                    "cosigner": spec.name,
                    "api_user": api_user,
                    "requested_by": console_admin(self.scenario, tenant),
                    "callback": callback if settings["url"] else None,
                }
                request = self._ok(self.control.post(f"/workspaces/{workspace}/pair", json=body))["request"]
                self._wait_request(str(request))

    def _wait_request(self, request: str) -> None:
        deadline = time.monotonic() + READY_LIMIT
        while time.monotonic() < deadline:
            self.processes.check()
            status = self._ok(self.control.get(f"/requests/{request}"))
            if status["status"] == "COMPLETED":
                return
            if status["status"] in ("REJECTED", "CANCELLED", "FAILED"):
                raise ProcessFailed(f"pairing request {request}: {status}")
            time.sleep(0.05)
        raise ProcessFailed(f"pairing request {request} not completed within {READY_LIMIT:g} s")

    @staticmethod
    def _ok(response: httpx.Response) -> Any:
        if response.is_error:
            raise ProcessFailed(f"SaaS control API {response.request.url.path}: {response.text}")
        return response.json()


def _wait_ready(path: Path, child: Child) -> dict[str, Any]:
    deadline = time.monotonic() + READY_LIMIT
    while time.monotonic() < deadline:
        if path.exists():
            ready: dict[str, Any] = json.loads(path.read_text())
            return ready
        if child.popen.poll() is not None:
            raise child.failure()
        time.sleep(0.05)
    raise ProcessFailed(f"saas serve did not become ready within {READY_LIMIT:g} s; log:\n{child.tail()}")
