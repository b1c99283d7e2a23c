"""The fault injector: each `[[faults]]` entry applied at its time on the world, and undone after `for`.

Every application and undo is a trace event (`fault`, `fault_end`) naming the action, the target and the
nodes it touched, so the report draws fault spans and computes failovers from the trace alone.

What each action does to the simulation:

- crash: the node process dies (in-memory state gone) and its host drops off the network; `for`: it boots
  again. restart: a graceful stop, then start.
- pause: the host is frozen on the network (frames to and from it wait); `for`: they flow again.
- partition: the node or every node under a site is cut from the SaaS (or the two ends of a `link`).
- latency / loss: the link between the target and the SaaS gets `amount` more one-way delay (plus `jitter`)
  or loses `ratio` of its frames (seen as retransmission delay); a ratio of 1 loses everything, which is
  a partition.
- site-outage: every node under the site is crashed with its host; `for`: all boot again.
- callback: a scripted handler times out, rejects, asks to retry, or is down (connection refused).
- disk-loss: the node crashes and its host disk is wiped; with `backup = true` the operator restores the
  disk from the backup image taken at that instant; with `new_host = true` the node comes back on a fresh
  host with the same role (Nitro and GCP restore from the bucket; SGX cannot open its sealed key there).
- attestation: the node restarts on a tampered image, which the KMS or the attestation service refuses;
  `for`: the signed image is put back and the node boots again.
- clock-skew: the node's wall clock (tokens, JWTs, certificates, log lines) is shifted by `skew`.
- policy: a new policy is published (through the configuration-change approval when one applies).
- unpair / pair: an API user is unpaired from (admin approval) or paired with the node.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from cosigner_ha.cluster.scenario import Fault, FaultAction
from cosigner_ha.cluster.world import DEFAULT_LINK, SAAS_HOST, World, policy_source, trust_nodes
from cosigner_ha.net import LinkSpec

Undo = Callable[[], Awaitable[None] | None]

CALLBACK_FAULTS = {"timeout": "timeout", "reject": "reject", "retry": "retry", "down": "down"}


class FaultInjector:
    def __init__(self, world: World, start: float) -> None:
        self.world = world
        self.start = start
        self._crashed_hosts: set[str] = set()

    def _crash(self, name: str, reason: str) -> None:
        self.world.nodes[name].node.crash(reason)
        if name not in self._crashed_hosts:
            self._crashed_hosts.add(name)
            self.world.network.crash(name)

    def _boot(self, name: str) -> None:
        if name in self._crashed_hosts:
            self._crashed_hosts.discard(name)
            self.world.network.restart(name)
        self.world.nodes[name].node.start()

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

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            for index, fault in enumerate(self.world.scenario.faults):
                tg.start_soon(self._one, index, fault)

    async def _one(self, index: int, fault: Fault) -> None:
        clock = self.world.env.clock
        await clock.sleep_until(self.start + fault.at)
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
        undo = await self._apply(fault, nodes)
        if fault.for_ is None or undo is None:
            return
        await clock.sleep(fault.for_)
        result = undo()
        if result is not None:
            await result
        trace.record("fault_end", index=index, action=str(fault.action), target=target, nodes=list(nodes))

    # -- the actions ---------------------------------------------------------------------------------------

    async def _apply(self, fault: Fault, nodes: tuple[str, ...]) -> Undo | None:
        w = self.world
        net = w.network
        action = fault.action
        if action in (FaultAction.CRASH, FaultAction.SITE_OUTAGE):
            for name in nodes:
                self._crash(name, f"{action} fault")

            def boot() -> None:
                for name in nodes:
                    self._boot(name)

            return boot
        if action == FaultAction.RESTART:
            async with anyio.create_task_group() as tg:
                for name in nodes:
                    if name in self._crashed_hosts:  # a restart after a crash boots the machine too
                        self._boot(name)
                    else:
                        tg.start_soon(w.nodes[name].node.restart)
            return None
        if action == FaultAction.PAUSE:
            for name in nodes:
                net.pause(name)

            def resume() -> None:
                for name in nodes:
                    net.resume(name)

            return resume
        if action == FaultAction.PARTITION:
            a, b = fault.link if fault.link is not None else (list(nodes), SAAS_HOST)
            net.partition(a, b)
            return lambda: net.heal(a, b)
        if action == FaultAction.LOSS and (fault.ratio or 0.0) >= 1.0:
            # every frame lost: nothing gets through, which is a partition (and retransmission never ends)
            a, b = fault.link if fault.link is not None else (list(nodes), SAAS_HOST)
            net.partition(a, b)
            return lambda: net.heal(a, b)
        if action in (FaultAction.LATENCY, FaultAction.LOSS):
            a, b = fault.link if fault.link is not None else (list(nodes), SAAS_HOST)
            if action == FaultAction.LATENCY:
                spec = LinkSpec(
                    latency=DEFAULT_LINK.latency + (fault.amount or 0.0),
                    jitter=DEFAULT_LINK.jitter if fault.jitter is None else fault.jitter,
                )
            else:
                spec = LinkSpec(
                    latency=DEFAULT_LINK.latency, jitter=DEFAULT_LINK.jitter, loss=fault.ratio or 0.0
                )
            net.set_link(a, b, spec)
            return lambda: net.set_link(a, b, DEFAULT_LINK)
        if action == FaultAction.CALLBACK:
            assert fault.callback is not None and fault.mode is not None
            handler = w.callbacks[fault.callback].reference
            if handler is None:
                raise ValueError(f"callback {fault.callback}: only scripted handlers take injected faults")
            handler.rules.fault = CALLBACK_FAULTS[str(fault.mode)]

            def clear() -> None:
                handler.rules.fault = None

            return clear
        if action == FaultAction.DISK_LOSS:
            return await self._disk_loss(fault, nodes[0])
        if action == FaultAction.ATTESTATION:
            runtime = w.nodes[nodes[0]]
            good = runtime.backend.image
            runtime.backend.image = good.tampered()
            runtime.node.crash("restarted on a tampered image")
            runtime.node.start()

            def restore() -> None:
                runtime.backend.image = good
                runtime.node.crash("restarted on the signed image")
                runtime.node.start()

            return restore
        if action == FaultAction.CLOCK_SKEW:
            clocks = [w.nodes[name].env.clock for name in nodes]
            for clock in clocks:
                clock.skew = fault.skew or 0.0

            def unskew() -> None:
                for clock in clocks:
                    clock.skew = 0.0

            return unskew
        if action == FaultAction.POLICY:
            source, origin = policy_source(w.scenario, fault.policy)
            w.saas.publish_policy(w.workspace, source, origin=origin)
            return None
        if action == FaultAction.UNPAIR:
            assert fault.api_user is not None
            w.saas.unpair(w.workspace, fault.api_user, requested_by=w.admin)
            return None
        if action == FaultAction.PAIR:
            assert fault.api_user is not None
            runtime = w.nodes[nodes[0]]
            callback = w.callback_for(fault.api_user)
            if runtime.node.backend.local_admin:
                token = w.saas.issue_pairing_token(w.workspace, fault.api_user)
                await runtime.node.add_user(token, callback)
            else:
                w.saas.pair_api_key(
                    w.workspace, runtime.spec.name, fault.api_user, callback=None, requested_by=w.admin
                )
            trust_nodes(w)
            return None
        raise AssertionError(f"unhandled fault action {action}")

    async def _disk_loss(self, fault: Fault, name: str) -> Undo | None:
        w = self.world
        runtime = w.nodes[name]
        host = runtime.backend.host
        backup = host.disk.clone() if fault.backup else None  # type: ignore[attr-defined]
        self._crash(name, "disk lost")
        host.disk.lose()  # type: ignore[attr-defined]

        def recover() -> None:
            if backup is not None:
                host.disk = backup
            self._boot(name)

        if fault.for_ is None:  # come back at once (restored, or empty)
            recover()
            return None
        return recover
