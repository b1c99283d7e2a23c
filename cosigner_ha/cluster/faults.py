"""The fault injector: each `[[faults]]` entry applied at its time on the world, and undone after `for`.

Every application and undo is a trace event (`fault`, `fault_end`) naming the action, the target and the
nodes it touched, so the report draws fault spans and computes failovers from the trace alone; an action
the cluster refuses (a pairing with an expired token, an unpairing of an API user that is not paired) is a
`fault_error` event with the refusal's code and reason, and the run goes on.

Faults take effect in time order, and faults at the same time in file order. Faults nest: while two
faults hold the same thing, the end of one leaves the other in force (a node crashed by a crash and a
site outage boots when both are over; two latency faults on a link add up; two clock skews add up; the
latest callback fault on a handler decides its answers until it ends, then the one before it).

What each action does to the simulation (docs/scenarios.md has the long form):

- crash: the node process dies (in-memory state gone) and its host drops off the network: connections
  break, the SaaS sees it disconnect; `for`: it boots again (attestation, database, polling).
- restart: a graceful stop (open signing sessions may finish, up to a minute), then a boot; on a node
  that a crash holds down, the boot alone (the operator brought the machine back).
- pause: the host is frozen on the network (frames to and from it wait; nothing breaks); `for`: they
  flow again. The process keeps its state; timers it set fire late.
- partition: the node or every node under a site is cut from the SaaS (or the two ends of a `link`):
  frames wait, connections held a minute break; `for`: healed.
- latency / loss: the link between the target and the SaaS gets `amount` more one-way delay (plus a
  uniform draw in [0, `jitter`]) or loses `ratio` of its transmissions, each resent 200 ms later (loss
  shows as delay: a connection is a reliable stream); a ratio of 1 cuts the link like a partition.
- site-outage: every node under the site is crashed with its host; `for`: power comes back, all boot.
- callback: the scripted handler stops answering until the node's deadline (timeout), answers REJECT,
  answers RETRY, or answers HTTP 503 (down), for every request.
- disk-loss: the node crashes and its host disk is wiped; with `backup = true` the disk is restored from
  the backup image taken at that instant; with `new_host = true` the node comes back on a fresh host with
  the same role (Nitro and GCP reopen the bucket with the KMS key; SGX cannot unseal its key there). The
  node boots after `for`, or at once without it.
- attestation: the node's image is replaced by a tampered one and the node restarts on it: the enclave
  loader (SGX), nitro-cli (Nitro) or the KMS (GCP) refuses it, so the node cannot open its secrets and
  retries its boot; `for`: the signed image is put back and the node restarts on it.
- clock-skew: the node's wall clock (tokens, JWTs, certificates, log lines) is shifted by `skew`.
- policy: a new policy is published (through the configuration-change approval when one applies).
- unpair / pair: an API user is unpaired from (admin approval) or paired with the node (owner approval);
  `token_age`: the pairing token is issued at `at` and used that much later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc

from cosigner_ha.cluster.infra import EnclaveImage, SimDisk
from cosigner_ha.cluster.scenario import Fault, FaultAction
from cosigner_ha.cluster.scenario.model import site_is_under
from cosigner_ha.cluster.world import DEFAULT_LINK, SAAS_HOST, World, boot_times, policy_source, trust_nodes
from cosigner_ha.env import Event
from cosigner_ha.net import LinkSpec
from cosigner_ha.node import NodeError, PairingError
from cosigner_ha.node import SaasError as NodeSaasError
from cosigner_ha.saas_sim import SaasError as SaasRefusal
from cosigner_ha.saas_sim.management import RequestState

Undo = Callable[[], None]
Pair = tuple[str, str]  # two host names, sorted: a link both ways


def fault_error(index: int, fault: Fault, nodes: tuple[str, ...], code: Any, reason: Any) -> dict[str, Any]:
    """The fields of a `fault_error` event, in simulation and in the runtime: the fault (its index and
    action), the nodes and API user it concerned, and the refusal's code and reason."""
    return {
        "index": index,
        "action": str(fault.action),
        "nodes": list(nodes),
        "api_user": fault.api_user,
        "code": code,
        "reason": reason,
    }


class FaultInjector:
    def __init__(self, world: World, start: float) -> None:
        self.world = world
        self.start = start
        self._holds: Counter[str] = Counter()  # node -> faults keeping its process down
        self._tampered: Counter[str] = Counter()  # node -> attestation faults in force on it
        self._signed_images: dict[str, EnclaveImage] = {}  # node -> the image to give back
        self._cut_hosts: set[str] = set()  # nodes whose host is off the network
        self._hosts: dict[str, int] = {}  # node -> how many hosts it has run on (disk-loss, new_host)
        self._generations: dict[str, int] = {}  # node -> enclave backends built after disk faults
        self._links: dict[int, tuple[list[Pair], FaultAction, Fault]] = {}  # active latency/loss faults
        self._skews: dict[int, tuple[tuple[str, ...], float]] = {}  # active clock skews
        self._callbacks: dict[str, list[tuple[int, str]]] = {}  # handler -> active (fault, mode), in order
        self._tasks: anyio.abc.TaskGroup | None = None  # while `run` lasts: where restores wait
        self._unpairings: dict[str, tuple[int, Fault, tuple[str, ...]]] = {}  # request id -> its unpair fault

    # -- targets -------------------------------------------------------------------------------------------

    def targets(self, fault: Fault) -> tuple[str, tuple[str, ...]]:
        """A readable target and the nodes it touches."""
        scenario = self.world.scenario
        if fault.node is not None:
            return fault.node, (fault.node,)
        if fault.site is not None:
            return fault.site, tuple(n.name for n in scenario.nodes_under(fault.site))
        if fault.link is not None:
            a, b = fault.link
            return f"{a}<->{b}", tuple(x for x in (a, b) if x in self.world.nodes)
        if fault.callback is not None:
            users = [u.name for u in scenario.api_users if u.callback == fault.callback]
            nodes = tuple(n.name for n in scenario.nodes if set(users) & set(n.api_users))
            return f"callback {fault.callback}", nodes
        return "", ()

    def _ends(self, fault: Fault, nodes: tuple[str, ...]) -> tuple[list[str], str]:
        """The two sides of the link a network fault acts on: the nodes and the SaaS, or its `link`."""
        if fault.link is not None:
            return [fault.link[0]], fault.link[1]
        return list(nodes), SAAS_HOST

    # -- the timeline --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Apply every fault at its time, same-time faults in file order; each undoes itself after `for`."""
        faults = self.world.scenario.faults
        clock = self.world.env.clock
        try:
            async with anyio.create_task_group() as tg:
                self._tasks = tg
                for index in sorted(range(len(faults)), key=lambda i: (faults[i].at, i)):
                    await clock.sleep_until(self.start + faults[index].at)
                    # `start` returns once the fault has taken effect, so that the next fault, even at the
                    # same instant, acts on what this one did
                    await tg.start(self._one, index, faults[index])
        finally:
            self._tasks = None

    async def _one(self, index: int, fault: Fault, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        target, nodes = self.targets(fault)
        trace = self.world.env.trace
        trace.record(
            "fault",
            index=index,
            action=str(fault.action),
            target=target,
            nodes=list(nodes),
            duration=fault.for_,
        )
        done = False

        def took_effect() -> None:  # what follows (a drain, a pairing) runs while later faults apply
            nonlocal done
            if not done:
                done = True
                task_status.started()

        undo = await self._apply(index, fault, nodes, took_effect)
        took_effect()
        if fault.for_ is None or undo is None:
            return
        await self.world.env.clock.sleep(fault.for_)
        undo()
        trace.record("fault_end", index=index, action=str(fault.action), target=target, nodes=list(nodes))

    # -- processes -----------------------------------------------------------------------------------------

    def _hold_down(self, name: str, reason: str) -> None:
        """One more fault keeps the node's process down (and its host off the network)."""
        self._holds[name] += 1
        self.world.nodes[name].node.crash(reason)
        if name not in self._cut_hosts:
            self._cut_hosts.add(name)
            self.world.network.crash(name)

    def _release(self, name: str) -> None:
        """One fault less holds the node down; the last one to end boots it."""
        if self._holds[name] == 0:  # a restart booted it meanwhile
            return
        self._holds[name] -= 1
        if self._holds[name] == 0:
            self._boot(name)

    def _boot(self, name: str) -> None:
        self._holds[name] = 0
        if name in self._cut_hosts:
            self._cut_hosts.discard(name)
            self.world.network.restart(name)
        self.world.nodes[name].node.start()

    async def _restore_then_release(self, name: str, seconds: float) -> None:
        """Writing a backup back onto the disk takes the node's `restore_time`; it boots after that."""
        trace = self.world.env.trace
        trace.record("restore_started", node=name, seconds=seconds)
        await self.world.env.clock.sleep(seconds)
        trace.record("restore_finished", node=name)
        self._release(name)

    def _held(self, name: str) -> bool:
        return self._holds[name] > 0

    # -- links ---------------------------------------------------------------------------------------------

    def _pairs(self, fault: Fault, nodes: tuple[str, ...]) -> list[Pair]:
        left, right = self._ends(fault, nodes)
        pairs = [(min(x, right), max(x, right)) for x in left]
        return list(dict.fromkeys(pairs))

    def _relink(self, pairs: list[Pair]) -> None:
        """Set each link to the default plus every latency and loss fault active on it."""
        for pair in pairs:
            latency, jitter, kept = DEFAULT_LINK.latency, DEFAULT_LINK.jitter, 1.0
            for covered, action, fault in self._links.values():
                if pair not in covered:
                    continue
                if action == FaultAction.LATENCY:
                    latency += fault.amount or 0.0
                    if fault.jitter is not None:
                        jitter = max(jitter, fault.jitter)
                else:
                    kept *= 1.0 - (fault.ratio or 0.0)
            self.world.network.set_link(*pair, LinkSpec(latency=latency, jitter=jitter, loss=1.0 - kept))

    # -- the actions ---------------------------------------------------------------------------------------

    async def apply(self, index: int, fault: Fault) -> Undo | None:
        """Apply one fault now, outside the timeline (the live cluster's steps); its undo, if it has one.

        `index` names the fault in the trace events the action itself records (`fault_error`)."""
        return await self._apply(index, fault, self.targets(fault)[1], lambda: None)

    async def _apply(
        self, index: int, fault: Fault, nodes: tuple[str, ...], took_effect: Callable[[], None]
    ) -> Undo | None:
        w = self.world
        net = w.network
        action = fault.action
        if action in (FaultAction.CRASH, FaultAction.SITE_OUTAGE):
            for name in nodes:
                self._hold_down(name, f"{action} fault")
            handlers = [
                c
                for c in w.callbacks.values()
                if action == FaultAction.SITE_OUTAGE
                and fault.site is not None
                and c.site is not None
                and site_is_under(c.site, fault.site)
            ]
            for handler in handlers:  # a handler at the site is down with it
                handler.outages += 1

            def power_back() -> None:
                for name in nodes:
                    self._release(name)
                for handler in handlers:
                    handler.outages -= 1

            return power_back
        if action == FaultAction.RESTART:
            async with anyio.create_task_group() as tg:
                for name in nodes:
                    node = w.nodes[name].node
                    if self._held(name):  # a restart after a crash boots the machine too
                        self._boot(name)
                    elif node.state in ("crashed", "stopped"):
                        node.start()
                    else:
                        await tg.start(self._restart, name)
                took_effect()
            return None
        if action == FaultAction.PAUSE:
            for name in nodes:
                net.pause(name)

            def resume() -> None:
                for name in nodes:
                    net.resume(name)

            return resume
        if action == FaultAction.PARTITION or (action == FaultAction.LOSS and (fault.ratio or 0.0) >= 1.0):
            # a loss of every transmission is a cut: a reliable stream cannot resend forever, and the
            # network breaks a connection held that long
            a, b = self._ends(fault, nodes)
            net.partition(a, b)
            return lambda: net.heal(a, b)
        if action in (FaultAction.LATENCY, FaultAction.LOSS):
            pairs = self._pairs(fault, nodes)
            self._links[index] = (pairs, action, fault)
            self._relink(pairs)

            def unlink() -> None:
                del self._links[index]
                self._relink(pairs)

            return unlink
        if action == FaultAction.CALLBACK:
            return self._callback(index, fault)
        if action == FaultAction.DISK_LOSS:
            return self._disk_loss(fault, nodes[0])
        if action == FaultAction.ATTESTATION:
            return self._attestation(nodes[0])
        if action == FaultAction.CLOCK_SKEW:
            self._skews[index] = (nodes, fault.skew or 0.0)
            self._reskew(nodes)

            def unskew() -> None:
                del self._skews[index]
                self._reskew(nodes)

            return unskew
        if action == FaultAction.POLICY:
            workspace = fault.workspace or w.workspace
            tenant = next(t for t in w.scenario.tenants() if t.workspace.name == workspace)
            source, origin = policy_source(w.scenario, fault.policy, where=f"faults[{index}]", tenant=tenant)
            w.saas.publish_policy(workspace, source, origin=origin)
            return None
        if action == FaultAction.UNPAIR:
            assert fault.api_user is not None
            try:
                workspace = w.workspace_of(fault.api_user)
                request = w.saas.unpair(workspace, fault.api_user, requested_by=w.admin_of(workspace))
            except SaasRefusal as exc:  # e.g. an earlier pair of this API user failed
                self._error(index, fault, nodes, exc.code, exc.message)
                return None
            self._follow_unpairing(request.id, index, fault, nodes)
            return None
        if action == FaultAction.PAIR:
            await self._pair(index, fault, nodes[0], took_effect)
            return None
        raise AssertionError(f"unhandled fault action {action}")

    async def _restart(self, name: str, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """A graceful stop, then a boot unless a fault took the node down meanwhile."""
        task_status.started()  # the caller resumes at this task's first checkpoint: the stop has begun
        node = self.world.nodes[name].node
        await node.stop()
        if not self._held(name):
            node.start()

    def _reskew(self, nodes: tuple[str, ...]) -> None:
        for name in nodes:
            total = sum(skew for covered, skew in self._skews.values() if name in covered)
            self.world.nodes[name].env.clock.skew = total

    def _callback(self, index: int, fault: Fault) -> Undo:
        assert fault.callback is not None and fault.mode is not None
        handler = self.world.callbacks[fault.callback].reference
        if handler is None:
            raise ValueError(f"callback {fault.callback}: only scripted handlers take injected faults")
        active = self._callbacks.setdefault(fault.callback, [])
        active.append((index, str(fault.mode)))
        handler.rules.fault = active[-1][1]

        def clear() -> None:
            active[:] = [(i, mode) for i, mode in active if i != index]
            handler.rules.fault = active[-1][1] if active else None

        return clear

    def _attestation(self, name: str) -> Undo:
        """The node's image is swapped for a tampered one until the last overlapping attestation fault on it
        ends: overlapping faults nest (the first keeps the signed image, the last gives it back)."""
        runtime = self.world.nodes[name]
        if self._tampered[name] == 0:
            good = runtime.backend.image
            assert isinstance(good, EnclaveImage)  # the simulated world's image, which an attacker can modify
            self._signed_images[name] = good
            runtime.backend.image = good.tampered()
            if not self._held(name):  # a node held down boots on the tampered image when it comes back
                runtime.node.crash("restarted on a tampered image")
                runtime.node.start()
        self._tampered[name] += 1

        def restore() -> None:
            self._tampered[name] -= 1
            if self._tampered[name]:
                return  # another attestation fault still holds the tampered image
            runtime.backend.image = self._signed_images.pop(name)
            if not self._held(name):
                runtime.node.crash("restarted on the signed image")
                runtime.node.start()

        return restore

    def _error(self, index: int, fault: Fault, nodes: tuple[str, ...], code: str, reason: str) -> None:
        """The fault's action was refused (what an operator would see on the console or the CLI)."""
        self.world.env.trace.record("fault_error", **fault_error(index, fault, nodes, code, reason))

    def _follow_unpairing(self, request: str, index: int, fault: Fault, nodes: tuple[str, ...]) -> None:
        """An unpairing is decided later (the admin's approval): one that ends refused or cancelled (an
        overlapping unpairing of the same API user was approved first) is the fault's `fault_error` then.

        A trace listener, not a task waiting on the request, so that following it changes nothing in the
        run's scheduling: a run whose unpairings all complete keeps its trace, byte for byte."""
        if not self._unpairings:
            self.world.env.trace.subscribe(self._unpairing_decided)
        self._unpairings[request] = (index, fault, nodes)

    def _unpairing_decided(self, event: Event) -> None:
        if event.kind != "request_status" or event.fields.get("request") not in self._unpairings:
            return
        status = str(event.fields.get("status"))
        if status == RequestState.COMPLETED.value:
            del self._unpairings[str(event.fields["request"])]
        elif status in (RequestState.REJECTED.value, RequestState.CANCELLED.value):
            index, fault, nodes = self._unpairings.pop(str(event.fields["request"]))
            self._error(index, fault, nodes, status, str(event.fields.get("detail") or status.lower()))

    async def _pair(self, index: int, fault: Fault, name: str, took_effect: Callable[[], None]) -> None:
        """What the operator does: a token from the console, then `setup` (first API user) or `add-user`
        on the running node; a GCP node is paired from the console and commanded through the SaaS."""
        w = self.world
        assert fault.api_user is not None
        node = w.nodes[name].node
        workspace = w.workspace_of(fault.api_user)
        try:
            if node.backend.local_admin:
                token = w.saas.issue_pairing_token(workspace, fault.api_user)
                took_effect()
                if fault.token_age:  # the token sat in a ticket, an email, a password manager
                    await w.env.clock.sleep(fault.token_age)
                await node.ready()
                callback = w.callback_for(fault.api_user)
                if node.list_users():
                    await node.add_user(token, callback)
                else:
                    await node.setup(token, callback)
            else:
                w.saas.pair_api_key(
                    workspace, name, fault.api_user, callback=None, requested_by=w.admin_of(workspace)
                )
        except (PairingError, NodeSaasError) as exc:
            self._error(index, fault, (name,), exc.code, str(exc))
            return
        except NodeError as exc:
            self._error(index, fault, (name,), type(exc).__name__, str(exc))
            return
        except SaasRefusal as exc:
            self._error(index, fault, (name,), exc.code, exc.message)
            return
        trust_nodes(w)

    def _disk_loss(self, fault: Fault, name: str) -> Undo | None:
        w = self.world
        runtime = w.nodes[name]
        host = w.infra.hosts[runtime.backend.host.name]  # the simulated machine, not the node's view of it
        assert isinstance(host.disk, SimDisk)
        backup = host.disk.clone() if fault.backup else None
        self._hold_down(name, "disk lost")
        host.disk.lose()

        def recover() -> None:
            if fault.new_host:
                self._hosts[name] = self._hosts.get(name, 1) + 1
                host_name = f"{name}-{self._hosts[name]}"
                target = w.infra.hosts[w.make_backend(runtime.spec, host_name).host.name]
            else:
                target = host
            if backup is not None:
                target.disk = backup.clone()
            self._generations[name] = self._generations.get(name, 0) + 1
            backend = w.make_backend(runtime.spec, target.name, self._generations[name])
            backend.image = runtime.backend.image  # the image it ran (an attestation fault may hold)
            runtime.backend = runtime.node.backend = backend
            runtime.node.log.disk = target.disk
            restore = boot_times(runtime.spec).restore if backup is not None else 0.0
            if restore > 0 and self._tasks is not None:  # the backup is written back before the boot
                self._tasks.start_soon(self._restore_then_release, name, restore)
            else:
                self._release(name)

        if fault.for_ is None:  # come back at once (restored, or empty)
            recover()
            return None
        return recover
