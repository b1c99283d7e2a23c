"""A live simulated cluster driven step by step from ordinary (synchronous) code.

`run_scenario` is one blocking `trio.run`. A Hypothesis state machine needs the opposite: one simulation
that stays alive across rule calls, with virtual time standing still between them. `LiveCluster` runs
the simulation inside a greenlet. A driver task inside trio waits for commands; to hand control back it
switches to the caller's greenlet from inside the task, which freezes the whole event loop (and so the
virtual clock) mid-step until the next command switches back in. No OS thread is involved: greenlets
are cooperative stacks in one thread, so determinism is untouched.

    cluster = LiveCluster(scenario)          # builds the world, pairs every node (setup)
    tx = cluster.submit(initiator="ops", asset="ETH", amount=1, source="vault:hot",
                        destination="wallet:partner-a")
    crash = cluster.inject(Fault(at=0, action=FaultAction.CRASH, node="nitro-a"))
    cluster.advance(90)                      # 90 simulated seconds pass
    cluster.end_fault(crash)                 # the node boots again
    result = cluster.finish()                # drain, then the same RunResult as run_scenario

The scenario's own workloads and `[[faults]]` run in the background exactly as `run_scenario` runs
them; a cluster that only advances through the scenario's duration and finishes replays `run_scenario`'s
trace byte for byte. Steps add to that: injected faults are recorded as `fault` / `fault_end` events
with indices after the scenario's own, so the report draws them and measures failovers from them.

One live cluster at a time per thread: trio keeps its run state per thread, and while a cluster is
paused that state belongs to it (starting another simulation then fails with trio's own error).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import greenlet

from cosigner_ha.cluster.analysis import analyse
from cosigner_ha.cluster.faults import FaultInjector, Undo
from cosigner_ha.cluster.runner import SETUP_LIMIT, RunResult, SetupError, _drain, submit
from cosigner_ha.cluster.scenario import Fault, Scenario, content_hash
from cosigner_ha.cluster.workloads import run_workload
from cosigner_ha.cluster.world import World, build_world, pair_all
from cosigner_ha.env import Environment, Event, run_simulated
from cosigner_ha.saas_sim import SaasError


class LiveClusterError(RuntimeError):
    """A step that cannot be taken: the cluster is finished, closed, or the step's input is wrong."""


@dataclasses.dataclass
class _ActiveFault:
    index: int
    fault: Fault
    target: str
    nodes: tuple[str, ...]
    undo: Undo | None


Command = Callable[["_Driver"], Awaitable[Any]]


class _Driver:
    """The task inside trio that executes the caller's commands between switches."""

    def __init__(self, env: Environment, scenario: Scenario, caller: greenlet.greenlet) -> None:
        self.env = env
        self.scenario = scenario
        self.caller = caller
        self.world: World | None = None
        self.start = 0.0
        self.injector: FaultInjector | None = None
        self.background: anyio.abc.TaskGroup | None = None
        self.active: dict[int, _ActiveFault] = {}
        self.next_index = len(scenario.faults)

    async def main(self, env: Environment) -> None:
        scenario = self.scenario
        async with anyio.create_task_group() as tg:
            world = self.world = await build_world(scenario, env, tg)
            with anyio.move_on_after(SETUP_LIMIT) as setup:
                await pair_all(world)
            if setup.cancelled_caught:
                raise SetupError(f"pairing did not finish within {SETUP_LIMIT / 3600:g} simulated hours")
            self.start = start = env.clock.now()
            env.trace.set_origin(start)  # as a run's trace: `t` from the scenario's start
            env.trace.record("scenario_start", setup_seconds=round(start, 6))
            end = start + scenario.scenario.duration
            self.injector = FaultInjector(world, start)
            async with anyio.create_task_group() as run:
                self.background = run
                for workload in scenario.workloads:
                    run.start_soon(run_workload, env, workload, start, end, self._submit_workload)
                run.start_soon(self.injector.run)
                await self._serve()
                run.cancel_scope.cancel()
            env.trace.record("duration_reached")
            await _drain(world, max(end, env.clock.now()))
            env.trace.record("end", transactions=len(world.saas.transactions))
            tg.cancel_scope.cancel()

    def _submit_workload(self, submission: Any) -> None:
        assert self.world is not None
        submit(self.world, submission)

    async def _serve(self) -> None:
        """Hand control to the caller; run each command it sends until it says finish (or abort)."""
        reply: tuple[str, Any] = ("ok", None)
        while True:
            command = self.caller.switch(reply)
            if command is None:  # finish: leave the loop, drain
                return
            try:
                reply = ("ok", await command(self))
            except Exception as exc:  # handed to the caller, raised there
                reply = ("error", exc)

    # -- the steps --------------------------------------------------------------------------------------

    async def inject(self, fault: Fault) -> int:
        assert self.injector is not None and self.world is not None and self.background is not None
        index = self.next_index
        self.next_index += 1
        target, nodes = self.injector.targets(fault)
        self.env.trace.record(
            "fault",
            index=index,
            action=str(fault.action),
            target=target,
            nodes=list(nodes),
            duration=fault.for_,
        )
        undo = await self.injector.apply(index, fault)  # the injector's own action code, applied now
        if undo is not None:
            active = _ActiveFault(index, fault, target, nodes, undo)
            self.active[index] = active
            if fault.for_ is not None:
                self.background.start_soon(self._end_after, active, fault.for_)
        return index

    async def _end_after(self, active: _ActiveFault, seconds: float) -> None:
        await self.env.clock.sleep(seconds)
        if self.active.get(active.index) is active:
            await self.end(active.index)

    async def end(self, index: int) -> None:
        active = self.active.pop(index, None)
        if active is None:
            raise LiveClusterError(f"fault {index} is not active (never injected, instant, or already ended)")
        assert active.undo is not None
        result = active.undo()
        if result is not None:
            await result
        self.env.trace.record(
            "fault_end",
            index=index,
            action=str(active.fault.action),
            target=active.target,
            nodes=list(active.nodes),
        )


def _leaf(exc: BaseException) -> BaseException:
    """The one error inside nested single-member exception groups (how task groups wrap a body's error)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class LiveCluster:
    """One simulated cluster, alive across calls; every call runs the simulation for one step."""

    def __init__(self, scenario: Scenario, *, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.scenario.seed if seed is None else seed
        header = {"scenario": scenario.scenario.name, "scenario_hash": content_hash(scenario)}
        self.env = Environment.simulated(self.seed, header=header)
        self.env.trace.hold()
        self._caller = greenlet.getcurrent()
        self._driver = _Driver(self.env, scenario, self._caller)
        self._sim = greenlet.greenlet(self._run)
        self._wall = 0.0
        self._outcome: tuple[str, Any] | None = None
        self._result: RunResult | None = None
        self._closed = False
        self._switch(None)  # setup: build the world, pair, stop at the scenario's start

    def _run(self, _: None) -> tuple[str, Any]:
        try:
            run_simulated(self._driver.main, self.env)
        except BaseException as exc:  # the simulation ended in an error: hand it over, do not unwind twice
            return ("error", exc)
        return ("done", None)

    def _switch(self, command: Command | None) -> Any:
        if self._closed or self._sim.dead:
            raise LiveClusterError("the live cluster is finished or closed; start a new one")
        started = time.perf_counter()
        try:
            outcome = self._sim.switch(command)
        finally:
            self._wall += time.perf_counter() - started
        if self._sim.dead:
            self._outcome = outcome
            if outcome[0] == "error":
                self._closed = True
                raise _leaf(outcome[1])
            return None
        kind, value = outcome
        if kind == "error":
            raise _leaf(value)
        return value

    def _step(self, command: Command) -> Any:
        return self._switch(command)

    # -- what a step can see ----------------------------------------------------------------------------

    @property
    def events(self) -> Sequence[Event]:
        """Every event so far, in order (the trace as `--trace` would write it, without the header)."""
        return self.env.trace.events

    @property
    def world(self) -> World:
        """The simulated world, to look at between steps (nodes, SaaS, network). Change it only by steps."""
        if self._driver.world is None:  # pragma: no cover - __init__ completes setup or raises
            raise LiveClusterError("the world is not built yet")
        return self._driver.world

    @property
    def now(self) -> float:
        """Simulated seconds since the scenario started (the end of setup)."""
        return self.env.clock.now() - self._driver.start

    @property
    def active_faults(self) -> dict[int, Fault]:
        """Injected faults not yet undone, by index."""
        return {i: a.fault for i, a in self._driver.active.items()}

    def node_state(self, node: str) -> str:
        return str(self.world.nodes[node].node.state)

    # -- the steps -----------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass (everything scheduled in between happens)."""
        if seconds < 0:
            raise LiveClusterError(f"cannot advance by a negative time ({seconds} s)")

        async def step(d: _Driver) -> None:
            await d.env.clock.sleep(seconds)

        self._step(step)

    def submit(
        self,
        *,
        initiator: str,
        asset: str,
        amount: float,
        source: str,
        destination: str,
        operation: str = "TRANSFER",
        destination_address: str | None = None,
        external_id: str | None = None,
    ) -> str | None:
        """Submit a transaction now; its id, or None when the SaaS refused it (recorded in the trace)."""

        async def step(d: _Driver) -> str | None:
            assert d.world is not None
            fields: dict[str, Any] = {
                "initiator": initiator,
                "operation": operation,
                "asset": asset,
                "amount": amount,
                "source": source,
                "destination": destination,
            }
            if destination_address is not None:
                fields["destination_address"] = destination_address
            if external_id is not None:
                fields["external_id"] = external_id
            try:
                workspace = d.world.workspace_of(initiator)
                return str(d.world.saas.submit(workspace, **fields).id)
            except SaasError:
                return None

        result: str | None = self._step(step)
        return result

    def inject(self, fault: Fault) -> int:
        """Apply a fault now (its `at` is ignored); returns its index for `end_fault`.

        With `for_` it is undone after that long, as in a scenario file; without, it lasts until
        `end_fault` (or the end). Instant actions (restart, policy, pair, unpair) have nothing to end.
        """

        async def step(d: _Driver) -> int:
            return await d.inject(fault)

        index: int = self._step(step)
        return index

    def end_fault(self, index: int) -> None:
        """Undo an injected fault now: boot a crashed node, heal a partition, restore a callback..."""

        async def step(d: _Driver) -> None:
            await d.end(index)

        self._step(step)

    def finish(self) -> RunResult:
        """Stop the scenario's workloads and faults, drain as `run_scenario` does, and report."""
        if self._result is not None:
            return self._result
        self._switch(None)
        assert self._outcome is not None and self._sim.dead
        self._closed = True
        events = self.env.trace.events
        report = analyse(
            self.scenario, events, seed=self.seed, trace_hash=self.env.trace.hash, wall_seconds=self._wall
        )
        self._result = RunResult(report, events)
        return self._result

    def close(self) -> None:
        """Abandon the simulation without draining (after a failed step, say). Safe to call twice."""
        if self._closed or self._sim.dead:
            self._closed = True
            return
        self._closed = True
        # GreenletExit unwinds the paused trio task like any exception; trio then cancels the rest.
        with contextlib.suppress(greenlet.GreenletExit):
            self._sim.throw(greenlet.GreenletExit)

    def __enter__(self) -> LiveCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
