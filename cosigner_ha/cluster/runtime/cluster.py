"""A scenario's cluster as processes: `saas serve`, then each node set up, paired and started.

    with RuntimeCluster(scenario_path, workdir, time_scale=60) as cluster:
        cluster.start()          # SaaS up, every node paired and online
        cluster.control.post(...)

Every node runs as SGX on its own home (`workdir/nodes/NAME`), whatever enclave the scenario names; the
nodes share one simulated attestation vendor and image-signing key, so the SaaS trusts one measurement.
Each node reaches the SaaS through its own `proxy serve` process (`link_fault` partitions, delays, loses,
clogs or heals it). Callbacks are not wired yet: every node approves what it is asked to sign. Leaving the
block stops every process (`ProcessGroup.close`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from cosigner_ha.cluster.commands_node import Hardware
from cosigner_ha.cluster.runtime.certs import self_signed
from cosigner_ha.cluster.runtime.kinds import KINDS
from cosigner_ha.cluster.runtime.processes import Child, ProcessFailed, ProcessGroup
from cosigner_ha.cluster.runtime.trace_merge import merge
from cosigner_ha.cluster.scenario import Scenario, load_scenario
from cosigner_ha.env import OsCrypto

#: Real seconds the SaaS gets to answer on its control API after it starts, and nodes to come online.
READY_LIMIT = 60.0


@dataclasses.dataclass
class StartTimes:
    """Seconds since `start` was called at which each stage finished (benchmarks read these)."""

    saas_ready: float = 0.0
    paired: float = 0.0
    online: float = 0.0


class RuntimeCluster:
    def __init__(self, scenario: Path, workdir: Path, *, time_scale: float = 1.0, loop: str = "trio") -> None:
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
        #: Every process started, by name: its kind (`kinds.KINDS`), for its trace and its restarts.
        self.launched: dict[str, str] = {}
        #: More `saas serve` options (`up` adds the REST API's).
        self.saas_options: list[str] = []
        self.cert = self.cert_key = Path()
        self.vendor_key = self.measurement = ""
        self._control: httpx.Client | None = None

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
        self.vendor_key = hardware[0].vendor.public_key.hex()
        self.measurement = hardware[0].image.measurement.hex()
        self.cert, self.cert_key = self_signed(self.workdir / "tls")
        self.ready = self.launch("saas", "saas")
        for spec in self.scenario.nodes:
            self.links[spec.name] = self.launch("proxy", f"link-{spec.name}")
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
        self.times.online = time.monotonic() - began

    def launch(self, kind: str, name: str) -> dict[str, Any]:
        """Start (or restart) process `name` of `kind` (`kinds.KINDS`); what its ready file says, once
        it is written (`{}` for a kind without one)."""
        spec = KINDS[kind]
        ready = None if spec.ready is None else spec.ready(self.workdir, name)
        if ready is not None:
            ready.parent.mkdir(parents=True, exist_ok=True)
            ready.unlink(missing_ok=True)
        if spec.trace is not None:
            spec.trace(self.workdir, name).parent.mkdir(parents=True, exist_ok=True)
        child = self.processes.start(name, spec.role, *spec.argv(self, name))
        self.launched[name] = kind
        return {} if ready is None else _wait_ready(ready, child)

    def node_args(self, name: str) -> list[str]:
        return [
            *("--home", str(self.home(name)), "--saas", self.links[name]["listen"]),
            *("--saas-cert", str(self.cert), "--loop", self.loop, "--time-scale", repr(self.time_scale)),
        ]

    def start_node(self, name: str) -> Child:
        """`node start` on the node's home: a first start or a restart after a crash."""
        self.launch("node", name)
        return self.processes.children[name]

    def merged_trace(self) -> list[dict[str, Any]]:
        """Every process's events on one clock (seconds since `start`), with `process_exited` events."""
        files = {}
        for name, kind in self.launched.items():
            trace = KINDS[kind].trace
            if trace is not None:
                files[name] = trace(self.workdir, name)
        return merge(files, self.start_wall, self.processes.exits)

    def token(self, api_user: str) -> str:
        answer = self._ok(
            self.control.post(f"/workspaces/{self.workspace}/pairing-tokens", json={"api_user": api_user})
        )
        return str(answer["token"])

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
        response = httpx.post(f"{self.links[node]['control']}/{fault}", json=values, timeout=10)
        self._ok(response)

    def restart_node(self, name: str) -> Child:
        """A new `node start` on the crashed node's home, once it has polled the SaaS again."""
        since = time.time()
        child = self.start_node(name)
        self.wait_online(since, {name})
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
            if spec.api_users:
                token = self.token(spec.api_users[0])
                argv = ("node", "setup", *self.node_args(spec.name), "--token", token)
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
            for api_user in spec.api_users[1:]:
                argv = ("node", "add-user", *self.node_args(spec.name), "--token", self.token(api_user))
                self.processes.run(f"{spec.name}-add-{api_user}", *argv)

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
    raise ProcessFailed(
        f"{child.role} {child.name} did not become ready within {READY_LIMIT:g} s; log:\n{child.tail()}"
    )
