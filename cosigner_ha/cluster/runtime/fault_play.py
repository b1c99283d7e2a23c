"""A scenario's faults played on real processes: what each `[[faults]]` action does in the runtime.

    crash, site-outage   SIGKILL to the node's process group; `for`: a new `node start` on the same home
                         (a site outage also cuts the link of every handler `callback serve` runs at the site)
    restart              SIGTERM (the node drains and stops), then a new `node start` on the same home
    pause                SIGSTOP to the node's process group; `for`: SIGCONT
    partition            the node's link proxy cuts every connection and refuses new ones; `for`: healed
    latency, loss        the node's link proxy delays each chunk (plus a `jitter` draw, in order) / resets a
                         connection with that probability
                         (a `link` between a node and the SaaS is that node's link proxy; a `link` between two
                         nodes carries nothing, here as in simulation: the fault is recorded, nothing changes)
    policy, unpair       through the SaaS's control API (an unpairing followed until the admin decides it)
    pair                 as the operator does it (`FaultInjector._pair`): a pairing token from the console at
                         `at` (issued for what is left of a token `token_age` old when it is used), then at
                         `at + token_age` `setup` or `add-user` on the running node (its admin socket), waiting
                         for it to run; a GCP node through the console (`pair_api_key`), as in simulation
    callback             the scripted handler's `callback serve` told to time out, reject, retry or be down
    disk-loss            SIGKILL, the node's host disk (HOME/disk) wiped, copied first with `backup`; after
                         `for` (or at once): restored or empty, a new CPU secret with `new_host`, started
    attestation          the node's hardware profile names a tampered image and the node is SIGKILLed and
                         started on it (its attestation fails, its secrets stay shut); `for`: the signed one,
                         once the node has tried to boot on the tampered one (a slow start delays the end)
    clock-skew           the node's wall view shifted through its admin socket (and `node start
                         --clock-skew` when it starts again while the skew holds); `for`: shifted back

Faults nest as in simulation (`cluster/faults.py`): a node held down by a crash and a site outage comes
back when both are over, two latency faults on a link add up. A fault the runtime cannot play yet is
refused before anything starts (`refusals`), never skipped: the run would not be the scenario.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from cosigner_ha.cluster import admin_socket
from cosigner_ha.cluster.runtime.cluster import RuntimeCluster
from cosigner_ha.cluster.runtime.processes import POLL, READY_LIMIT, ProcessFailed
from cosigner_ha.cluster.scenario import Enclave, Fault, FaultAction, Scenario
from cosigner_ha.cluster.scenario.model import (
    SAAS_ENDPOINT,
    AsgiCallback,
    ScriptedCallback,
    UrlCallback,
    site_is_under,
)
from cosigner_ha.cluster.world import console_admin, policy_source

Undo = Callable[[], None]
#: A node's states once a boot attempt is over (the loader refused its image, or it booted).
BOOTED = frozenset({"failed", "running", "crashed"})
Record = Callable[..., None]

#: The actions the runtime plays; every other one is refused up front (`refusals`).
PLAYABLE = frozenset(
    {
        FaultAction.CRASH,
        FaultAction.SITE_OUTAGE,
        FaultAction.RESTART,
        FaultAction.PAUSE,
        FaultAction.PARTITION,
        FaultAction.LATENCY,
        FaultAction.LOSS,
        FaultAction.POLICY,
        FaultAction.PAIR,
        FaultAction.UNPAIR,
        FaultAction.CALLBACK,
        FaultAction.CLOCK_SKEW,
        FaultAction.DISK_LOSS,
        FaultAction.ATTESTATION,
    }
)


def refusals(scenario: Scenario) -> list[str]:
    """Why the runtime cannot play this scenario as written, one line per reason naming its key path;
    empty when it can."""
    out = []
    for i, fault in enumerate(scenario.faults):
        where = f"faults[{i}]"
        if fault.action not in PLAYABLE:
            out.append(
                f"{where}.action = {str(fault.action)!r}: the runtime cannot play this fault yet "
                f"(it plays {', '.join(sorted(str(a) for a in PLAYABLE))})"
            )
    named = {u.callback for u in scenario.api_users if u.callback is not None}
    for callback in scenario.callbacks:
        if callback.name not in named:
            continue
        if isinstance(callback, AsgiCallback) and callback.public_key is None:
            out.append(
                f"callbacks.{callback.name}.public_key: missing; an asgi handler in the runtime needs the "
                "key the nodes verify its answers with"
            )
    for i, fault in enumerate(scenario.faults):
        if fault.action == FaultAction.CALLBACK and fault.callback is not None:
            spec = next((c for c in scenario.callbacks if c.name == fault.callback), None)
            if not isinstance(spec, ScriptedCallback):
                out.append(f"faults[{i}].callback: only a scripted handler takes injected faults")
    return out


#: Real seconds below which a scaled probe window is likely shorter than a probe's real round trip (TLS,
#: Python, a loaded machine): the SaaS would find nobody available and probe again and again.
SHORTEST_PROBE_WINDOW = 0.03


def approximations(scenario: Scenario, time_scale: float = 1.0) -> list[str]:
    """What the runtime plays differently from the simulation, for the run's notes (shown before it)."""
    out = []
    window = scenario.saas.probe_window / time_scale
    if window < SHORTEST_PROBE_WINDOW:
        out.append(
            f"the probe window ({scenario.saas.probe_window:g} s) at time scale {time_scale:g} is "
            f"{window * 1000:.1f} ms of real time, shorter than a probe's round trip may take: nodes may "
            f"miss it and transactions wait; a time scale up to "
            f"{scenario.saas.probe_window / SHORTEST_PROBE_WINDOW:g} keeps it above "
            f"{SHORTEST_PROBE_WINDOW * 1000:g} ms"
        )
    kinds = sorted({str(n.enclave) for n in scenario.nodes} - {"sgx", "nitro", "gcp"})
    if kinds:
        out.append(f"{', '.join(kinds)} nodes run as SGX on their own directory (not emulated yet)")
    if scenario.callbacks:
        names = ", ".join(c.name for c in scenario.callbacks)
        out.append(
            f"callback handlers ({names}) run as `callback serve` processes in public-key mode (scripted "
            "handlers; asgi apps under hypercorn with their lifespan; python functions behind an HTTP "
            "front, where an exception is an HTTP 500); callback faults through the scripted handler's "
            "control API"
        )
    return out


@dataclasses.dataclass
class _Pairing:
    """An operator's pairing under way: the token, when it is used, and the request once it is sent."""

    index: int
    fault: Fault
    node: str
    token: str
    due: float  # time.monotonic() at which the operator runs setup or add-user
    posted: admin_socket.Posted | None = None


class FaultPlayer:
    """Applies faults to a started `RuntimeCluster`; `record(kind, **fields)` writes the launcher's events."""

    def __init__(self, cluster: RuntimeCluster, record: Record) -> None:
        self.cluster = cluster
        self.scenario = cluster.scenario
        self.record = record
        #: Each workspace's console admin, who requests unpairings and console pairings there.
        self.admins = {t.workspace.name: console_admin(self.scenario, t) for t in self.scenario.tenants()}
        #: Nodes a fault keeps down (SIGKILLed, not restarted yet): not an unexpected death.
        self.holds: Counter[str] = Counter()
        self._paused: Counter[str] = Counter()
        self._partitions: Counter[str] = Counter()
        self._latency: dict[int, tuple[tuple[str, ...], float, float]] = {}  # nodes, delay, jitter
        self._loss: dict[int, tuple[tuple[str, ...], float]] = {}
        self._callbacks: dict[str, list[tuple[int, str]]] = {}  # handler -> active (fault, mode), in order
        self._skews: dict[int, tuple[tuple[str, ...], float]] = {}
        self._tampered: Counter[str] = Counter()
        self._pairings: list[_Pairing] = []
        #: Unpairing requests not decided yet -> their fault (`FaultInjector._follow_unpairing`).
        self._unpairings: dict[str, tuple[int, Fault, tuple[str, ...]]] = {}

    @property
    def down(self) -> set[str]:
        return {name for name, n in self.holds.items() if n > 0}

    def targets(self, fault: Fault) -> tuple[str, tuple[str, ...]]:
        """A readable target and the nodes it touches (as `FaultInjector.targets`)."""
        if fault.node is not None:
            return fault.node, (fault.node,)
        if fault.site is not None:
            return fault.site, tuple(n.name for n in self.scenario.nodes_under(fault.site))
        if fault.link is not None:
            a, b = fault.link
            return f"{a}<->{b}", tuple(x for x in (a, b) if x != SAAS_ENDPOINT)
        if fault.callback is not None:
            users = {u.name for u in self.scenario.api_users if u.callback == fault.callback}
            nodes = tuple(n.name for n in self.scenario.nodes if users & set(n.api_users))
            return f"callback {fault.callback}", nodes
        return "", ()

    @staticmethod
    def linked(fault: Fault, nodes: tuple[str, ...]) -> tuple[str, ...]:
        """The nodes whose link proxy (to the SaaS) a network fault acts on: its nodes, or the node end of a
        `link` with the SaaS; none for a `link` between two nodes, which never talk to each other (in
        simulation no frame crosses such a link either, so the fault changes nothing there too)."""
        if fault.link is None:
            return nodes
        return tuple(end for end in fault.link if end != SAAS_ENDPOINT) if SAAS_ENDPOINT in fault.link else ()

    def apply(self, index: int, fault: Fault) -> Undo | None:
        _, nodes = self.targets(fault)
        action = fault.action
        if action in (FaultAction.PARTITION, FaultAction.LATENCY, FaultAction.LOSS):
            nodes = self.linked(fault, nodes)
        if action in (FaultAction.CRASH, FaultAction.SITE_OUTAGE):
            for name in nodes:
                self._hold_down(name)
            handlers = self._handlers_at(fault.site) if action == FaultAction.SITE_OUTAGE else []
            self._partitions.update(f"callback-{h}" for h in handlers)  # a handler at the site goes dark
            self._relink(tuple(f"callback-{h}" for h in handlers))

            def power_back() -> None:
                for name in nodes:
                    self._release(name)
                self._partitions.subtract(f"callback-{h}" for h in handlers)
                self._relink(tuple(f"callback-{h}" for h in handlers))

            return power_back
        if action == FaultAction.CALLBACK:
            return self._callback(index, fault)
        if action == FaultAction.RESTART:
            for name in nodes:
                if self.holds[name]:  # a restart after a crash brings the machine back
                    self.holds[name] = 0
                else:
                    self.cluster.processes.kill(name, signum=signal.SIGTERM)
                self.cluster.start_node(name)
            return None
        if action == FaultAction.PAUSE:
            for name in nodes:
                self._paused[name] += 1
                self.cluster.processes.send(name, signal.SIGSTOP)

            def resume() -> None:
                for name in nodes:
                    self._paused[name] -= 1
                    if not self._paused[name]:
                        self.cluster.processes.send(name, signal.SIGCONT)
                        if self.cluster.clock_skews.get(name):  # a skew set while it was stopped
                            self._reskew((name,))

            return resume
        if action == FaultAction.PARTITION or (action == FaultAction.LOSS and (fault.ratio or 0.0) >= 1.0):
            self._partitions.update(nodes)
            self._relink(nodes)

            def heal() -> None:
                self._partitions.subtract(nodes)
                self._relink(nodes)

            return heal
        if action == FaultAction.LATENCY:
            scale = self.cluster.time_scale
            self._latency[index] = (nodes, (fault.amount or 0.0) / scale, (fault.jitter or 0.0) / scale)
            self._relink(nodes)

            def unlatency() -> None:
                del self._latency[index]
                self._relink(nodes)

            return unlatency
        if action == FaultAction.LOSS:
            self._loss[index] = (nodes, fault.ratio or 0.0)
            self._relink(nodes)

            def unloss() -> None:
                del self._loss[index]
                self._relink(nodes)

            return unloss
        if action == FaultAction.POLICY:
            workspace = self._workspace(fault)
            tenant = next(t for t in self.scenario.tenants() if t.workspace.name == workspace)
            where = f"faults[{index}]"
            source, _ = policy_source(self.scenario, fault.policy, where=where, tenant=tenant)
            self._control(index, fault, nodes, "put", "policy", source)
            return None
        if action == FaultAction.PAIR:
            if self.scenario.node(nodes[0]).enclave != Enclave.GCP:
                self._pair(index, fault, nodes[0])
                return None
            admin = self.admins[self._workspace(fault)]
            body = {"cosigner": nodes[0], "api_user": fault.api_user, "requested_by": admin}
            self._control(index, fault, nodes, "post", "pair", body)
            return None
        if action == FaultAction.UNPAIR:
            body = {"api_user": fault.api_user, "requested_by": self.admins[self._workspace(fault)]}
            answer = self._control(index, fault, nodes, "post", "unpair", body)
            if answer is not None:  # decided later (the admin's approval): followed by `poll`
                self._unpairings[str(answer["request"])] = (index, fault, nodes)
            return None
        if action == FaultAction.ATTESTATION:
            return self._attestation(index, nodes[0])
        if action == FaultAction.DISK_LOSS:
            return self._disk_loss(index, fault, nodes[0])
        if action == FaultAction.CLOCK_SKEW:
            self._skews[index] = (nodes, fault.skew or 0.0)
            self._reskew(nodes)

            def unskew() -> None:
                del self._skews[index]
                self._reskew(nodes)

            return unskew
        raise AssertionError(f"{action}: refused before the run (fault_play.refusals)")

    # -- disks ---------------------------------------------------------------------------------------------

    def _disk_loss(self, index: int, fault: Fault, name: str) -> Undo | None:
        """SIGKILL, the host disk wiped (copied first with `backup`); after `for`, or at once without it,
        restored (or left empty), on a new host with `new_host`, and started (as `FaultInjector._disk_loss`)."""
        self._hold_down(name)  # SIGKILLed (and waited for), or held down already: the disk can go
        backup = self.cluster.lose_disk(name, backup=bool(fault.backup))
        self.record("disk_lost", index=index, node=name, backup=backup is not None)

        def recover() -> None:
            self.cluster.replace_disk(name, backup, new_host=bool(fault.new_host))
            self.record("disk_replaced", index=index, node=name, restored=backup is not None)
            self._release(name)

        if fault.for_ is None:
            recover()
            return None
        return recover

    # -- images ------------------------------------------------------------------------------------------

    def _attestation(self, index: int, name: str) -> Undo:
        """The node restarted on a tampered image until the last overlapping attestation fault on it ends,
        then on the signed one (as `FaultInjector._attestation`); a node held down boots on whichever image
        its machine has when it comes back."""
        if self._tampered[name] == 0:
            self._swap(index, name, tampered=True)
        self._tampered[name] += 1

        def restore() -> None:
            self._tampered[name] -= 1
            if not self._tampered[name]:
                self.until_booted([name])  # the tampered image refused before the signed one is back
                self._swap(index, name, tampered=False)

        return restore

    def _swap(self, index: int, name: str, *, tampered: bool) -> None:
        self.cluster.swap_image(name, tampered=tampered)
        self.record("image_swapped", index=index, node=name, image="tampered" if tampered else "signed")
        if not self.holds[name]:
            self.cluster.processes.kill(name)
            self.cluster.start_node(name)

    def until_booted(self, names: Iterable[str]) -> None:
        """Until each node a fault does not hold down (nor stop) has tried to boot in its current process (booted, or
        refused by its loader): the agenda runs in scenario time divided by the time scale, a process starts
        in real time (seconds on a loaded machine), so a fault's end, or the run's, waits for a restart to
        be played rather than cutting it short."""
        deadline = time.monotonic() + READY_LIMIT
        for name in names:
            while not (self.holds[name] or self._paused[name]) and not BOOTED.intersection(
                self.cluster.node_states(name)
            ):
                self.cluster.processes.check(expected_down=self.down)
                if time.monotonic() > deadline:
                    log = self.cluster.processes.children[name].tail()
                    raise ProcessFailed(f"{name}: no boot within {READY_LIMIT:g} s of its start; log:\n{log}")
                time.sleep(POLL)

    # -- clocks --------------------------------------------------------------------------------------------

    def _reskew(self, nodes: tuple[str, ...]) -> None:
        """Each node's wall view shifted by the sum of the skews in force on it (as `FaultInjector._reskew`);
        a node a fault holds down or stops gets it when it runs again."""
        for name in nodes:
            total = sum(skew for covered, skew in self._skews.values() if name in covered)
            running = self.holds[name] == 0 and self._paused[name] == 0  # a stopped node cannot answer
            self.cluster.clock_skew(name, total, running=running)

    # -- callback handlers ---------------------------------------------------------------------------------

    def _handlers_at(self, site: str | None) -> list[str]:
        """The handlers the runtime runs (`callback serve`: scripted, asgi, python) whose site is under
        `site`."""
        if site is None:
            return []
        return [
            c.name
            for c in self.scenario.callbacks
            if not isinstance(c, UrlCallback)
            and c.site is not None
            and site_is_under(c.site, site)
            and c.name in self.cluster.callback_ready
        ]

    def _callback(self, index: int, fault: Fault) -> Undo:
        """The latest callback fault on a handler decides its answers until it ends, then the one before it
        (as in simulation)."""
        name, mode = str(fault.callback), str(fault.mode)
        active = self._callbacks.setdefault(name, [])
        active.append((index, mode))
        self.cluster.callback_fault(name, mode)

        def clear() -> None:
            active[:] = [(i, m) for i, m in active if i != index]
            self.cluster.callback_fault(name, active[-1][1] if active else None)

        return clear

    # -- processes -----------------------------------------------------------------------------------------

    def _hold_down(self, name: str) -> None:
        self.holds[name] += 1
        if self.holds[name] == 1:
            self.cluster.processes.kill(name)

    def _release(self, name: str) -> None:
        if self.holds[name] == 0:  # a restart brought it back meanwhile
            return
        self.holds[name] -= 1
        if self.holds[name] == 0:
            self.cluster.start_node(name)

    # -- links ---------------------------------------------------------------------------------------------

    def _relink(self, nodes: tuple[str, ...]) -> None:
        """Set each node's link proxy to every link fault in force on it: cut while a partition holds,
        else healed, with the sum of the latencies, the largest jitter and the combined loss (as
        `FaultInjector._relink`; the real loopback's own jitter stands for the simulated link's default)."""
        for name in nodes:
            if self._partitions[name] > 0:
                self.cluster.link_fault(name, "partition")
                continue
            self.cluster.link_fault(name, "heal")
            latencies = [(s, j) for covered, s, j in self._latency.values() if name in covered]
            delay = sum(seconds for seconds, _ in latencies)
            jitter = max((j for _, j in latencies), default=0.0)
            kept = 1.0
            for covered, ratio in self._loss.values():
                if name in covered:
                    kept *= 1.0 - ratio
            if delay or jitter:
                extra = {"jitter": jitter} if jitter else {}
                self.cluster.link_fault(name, "latency", seconds=delay, **extra)
            if kept < 1.0:
                self.cluster.link_fault(name, "loss", probability=1.0 - kept)

    # -- pairings -------------------------------------------------------------------------------------------

    def _pair(self, index: int, fault: Fault, name: str) -> None:
        """A token from the console now, used `token_age` later (scenario time) by the operator on the node.

        Token lifetimes are wall seconds, not divided by the time scale, so the token is issued with what a
        token `token_age` old has left when it is used: it has aged `token_age / N` real seconds by then, and
        the SaaS issues it `token_age - token_age / N` older. It expires (TOKEN_EXPIRED) exactly when the
        simulation's does: at or beyond `pairing_token_validity`."""
        assert fault.api_user is not None
        age = fault.token_age or 0.0
        wait = age / self.cluster.time_scale
        workspace = self.scenario.workspace_of(fault.api_user)
        body = {"api_user": fault.api_user, **({"age": age - wait} if age else {})}
        answer = self._ask(index, fault, (name,), "POST", f"/workspaces/{workspace}/pairing-tokens", body)
        if answer is not None:
            self._pairings.append(_Pairing(index, fault, name, str(answer["token"]), time.monotonic() + wait))
            self.poll()

    def poll(self) -> None:
        """Carry the pairings under way one step on, without waiting (the launcher calls this between the
        steps of its agenda): a token due is sent to its node once the node runs (not held down, serving its
        admin socket), and an answer that arrived is taken; a refusal is a `fault_error`, as in simulation.
        An unpairing the admin's approval has decided is looked up: one refused or cancelled (an overlapping
        unpairing of the same API user approved first) is its fault's `fault_error` then."""
        for request_id, (index, fault, nodes) in list(self._unpairings.items()):
            status = self._ask(index, fault, nodes, "GET", f"/requests/{request_id}", None)
            decided = None if status is None else status.get("status")
            if status is None or decided == "COMPLETED":
                del self._unpairings[request_id]
            elif decided in ("REJECTED", "CANCELLED"):
                del self._unpairings[request_id]
                reason = str(status.get("detail") or str(decided).lower())
                self._error(index, fault, nodes, str(decided), reason)
        now = time.monotonic()
        for pairing in list(self._pairings):
            if pairing.posted is None:
                if now < pairing.due or self.holds[pairing.node]:
                    continue
                request = {
                    "command": "pair",
                    "token": pairing.token,
                    "callback": self.cluster.callback_settings(str(pairing.fault.api_user)),
                }
                try:
                    pairing.posted = admin_socket.Posted(self.cluster.home(pairing.node), request)
                except OSError:  # just started, not serving its admin socket yet: next time
                    continue
            try:
                answer = pairing.posted.poll()
            except ConnectionError:  # the node was killed meanwhile: its own pending pairing carries on
                self._pairings.remove(pairing)
                continue
            if answer is None:
                continue
            self._pairings.remove(pairing)
            self._paired(pairing, answer)

    def _paired(self, pairing: _Pairing, answer: dict[str, Any]) -> None:
        fault = pairing.fault
        if answer.get("exit") != 0:
            self._error(pairing.index, fault, (pairing.node,), answer.get("code"), answer.get("error"))
            return
        user = next(u for u in self.scenario.api_users if u.name == fault.api_user)
        if user.callback is not None:  # its handler accepts the node's requests (`trust_nodes`)
            self.cluster.trust(pairing.node, user.callback)

    # -- the control API -----------------------------------------------------------------------------------

    def _control(
        self, index: int, fault: Fault, nodes: tuple[str, ...], method: str, path: str, body: Any
    ) -> Any:
        """A console action through the SaaS's control API, in the fault's workspace."""
        url = f"/workspaces/{self._workspace(fault)}/{path}"
        return self._ask(index, fault, nodes, method.upper(), url, body)

    def _workspace(self, fault: Fault) -> str:
        """Where a console action happens: the fault's `workspace` (a policy), its API user's, or the first."""
        if fault.workspace is not None:
            return fault.workspace
        return self.scenario.workspace_of(fault.api_user) if fault.api_user else self.scenario.workspace.name

    def _ask(self, index: int, fault: Fault, nodes: tuple[str, ...], method: str, url: str, body: Any) -> Any:
        """The control API's answer; a refusal is a `fault_error` event (None), as in simulation, and the
        run goes on."""
        response = self.cluster.control.request(method, url, json=body)
        if response.status_code >= 500:
            raise ProcessFailed(f"SaaS control API {url}: {response.status_code} {response.text}")
        if response.is_error:
            answer = response.json()
            self._error(index, fault, nodes, answer.get("error"), answer.get("message"))
            return None
        return response.json()

    def _error(self, index: int, fault: Fault, nodes: tuple[str, ...], code: Any, reason: Any) -> None:
        """The fault's action was refused (what an operator would see on the console or the CLI)."""
        self.record(
            "fault_error",
            index=index,
            action=str(fault.action),
            nodes=list(nodes),
            api_user=fault.api_user,
            code=code,
            reason=reason,
        )
