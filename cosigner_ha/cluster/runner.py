"""Run a scenario in simulation: build the world, pair the nodes, run workloads and faults, drain, report.

The timeline of a run:

1. setup (before `scenario_start`): the SaaS creates the workspace and its key, every node boots (attests,
   opens its sealed database) and is paired with its API users through the owner's approval;
2. the scenario's `duration`: workloads submit transactions, the injector applies faults at their times;
3. the drain: no new transactions; the run goes on until every transaction is terminal or the SaaS's
   timeouts (authorization plus signing) have certainly passed, whichever comes first.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio
import anyio.abc
from rich.console import Console

from cosigner_ha.cluster.analysis import RunFold
from cosigner_ha.cluster.faults import FaultInjector
from cosigner_ha.cluster.invariants import TERMINAL_KINDS
from cosigner_ha.cluster.progress import simulated_time_progress
from cosigner_ha.cluster.report import RunReport
from cosigner_ha.cluster.scenario import Scenario, content_hash
from cosigner_ha.cluster.workloads import Submission, run_workload
from cosigner_ha.cluster.world import World, WorldError, build_world, pair_all
from cosigner_ha.env import Environment, Event, run_simulated
from cosigner_ha.env.files import atomic_writer
from cosigner_ha.policy import PolicyError
from cosigner_ha.saas_sim import SaasError

#: Pairing every node must finish within this much simulated time, or the scenario cannot be set up.
SETUP_LIMIT = 6 * 3600.0
#: The drain lasts at most the SaaS's authorization and signing timeouts plus this margin.
DRAIN_MARGIN = 10 * 60.0


class SetupError(RuntimeError):
    """The world could not be set up (a node never paired): the scenario cannot run as written."""


class EventsNotKept(RuntimeError):
    """A run made without `keep_events` has no events to give: its report was folded as it went."""


@dataclass
class RunResult:
    report: RunReport
    kept: Sequence[Event] | None = None  # an EventLog (compact once a run is long) when asked for

    @property
    def events(self) -> Sequence[Event]:
        """Every event of the run, in trace order; only for a run made with `keep_events=True` (what
        the testing toolkit's `simulate` does): a long run keeps none, its `--trace` file has them all."""
        if self.kept is None:
            raise EventsNotKept(
                "this run kept no events (run_scenario(..., keep_events=True) keeps them; "
                "a --trace file holds them all, cosigner_ha.testing.read_trace reads it)"
            )
        return self.kept


@contextlib.contextmanager
def _atomic_sink(path: Path | None) -> Iterator[IO[str] | None]:
    """A trace file that appears whole or not at all."""
    if path is None:
        yield None
        return
    with atomic_writer(path, encoding="ascii") as sink:
        yield sink


async def _set_up(env: Environment, scenario: Scenario, tg: anyio.abc.TaskGroup) -> World:
    """Build the world and pair every node: the part of a run before `scenario_start`, shared with
    `node_callback_keys` so that the keys it reports are the ones a run makes."""
    world = await build_world(scenario, env, tg)
    with anyio.move_on_after(SETUP_LIMIT) as setup:
        await pair_all(world)
    if setup.cancelled_caught:
        raise SetupError(f"pairing did not finish within {SETUP_LIMIT / 3600:g} simulated hours")
    return world


def node_callback_keys(scenario: Scenario, *, seed: int | None = None) -> dict[str, str]:
    """Each node's callback public key (PEM), as `print-public-key` shows it and as a run with this seed
    makes it: the set-up of the run, without its workloads or faults."""
    seed = scenario.scenario.seed if seed is None else seed
    env = Environment.simulated(seed, header={"scenario": scenario.scenario.name})

    async def main(e: Environment) -> dict[str, str]:
        async with anyio.create_task_group() as tg:
            world = await _set_up(e, scenario, tg)
            keys = {name: runtime.node.callback_public_key for name, runtime in world.nodes.items()}
            tg.cancel_scope.cancel()
        return keys

    with _input_errors_unwrapped():
        return run_simulated(main, env)


async def _drive(env: Environment, scenario: Scenario) -> None:
    async with anyio.create_task_group() as tg:
        world = await _set_up(env, scenario, tg)
        start = env.clock.now()
        env.trace.set_origin(start)  # `t` counts from here, as `at` in the file; set-up is negative
        env.trace.record("scenario_start", setup_seconds=round(start, 6))
        end = start + scenario.scenario.duration
        async with anyio.create_task_group() as run:
            for workload in scenario.workloads:
                run.start_soon(run_workload, env, workload, start, end, lambda s: submit(world, s))
            run.start_soon(FaultInjector(world, start).run)
            await env.clock.sleep_until(end)
            run.cancel_scope.cancel()
        env.trace.record("duration_reached")
        await _drain(world, end)
        env.trace.record("end", transactions=len(world.saas.transactions))
        tg.cancel_scope.cancel()


def submit(world: World, sub: Submission) -> None:
    """Submit a workload's transaction; a refusal is the SaaS's `submission_refused` event, not an error."""
    # a refusal is recorded by the SaaS as `submission_refused`, with the field and the reason
    with contextlib.suppress(SaasError):
        world.saas.submit(
            world.workspace_of(sub.initiator),
            initiator=sub.initiator,
            operation=sub.operation,
            asset=sub.asset,
            amount=sub.amount,
            source=sub.source,
            destination=sub.destination,
            destination_address=sub.destination_address,
            external_id=sub.external_id,
            extra_parameters=sub.extra_parameters,
        )


async def _drain(world: World, end: float) -> None:
    """After the workloads end, until every transaction is terminal (or the SaaS's own timeouts have long
    passed): woken by each transaction's terminal event, never by polling."""
    config = world.saas.config
    limit = end + config.authorization_timeout + config.signing_timeout + DRAIN_MARGIN
    clock = world.env.clock
    open_ = {tx.id for tx in world.saas.transactions if tx.status.value not in _TERMINAL_STATUSES}
    if not open_:
        return
    done = anyio.Event()

    def watch(event: Event) -> None:
        if event.kind in TERMINAL_KINDS and open_:
            open_.discard(event.fields.get("tx"))
            if not open_:
                done.set()

    world.env.trace.subscribe(watch)
    with anyio.move_on_after(max(0.0, limit - clock.now())):
        await done.wait()


_TERMINAL_STATUSES = frozenset(kind.upper() for kind in TERMINAL_KINDS)


#: Errors that mean the scenario cannot run as written: the command's exit 2, not a crash.
INPUT_ERRORS: tuple[type[Exception], ...] = (PolicyError, WorldError, SetupError)


@contextlib.contextmanager
def _input_errors_unwrapped() -> Iterator[None]:
    """Task groups wrap what their tasks raise; a scenario the world refuses comes out as itself."""
    try:
        yield
    except BaseExceptionGroup as group:
        found = _first(group)
        if found is None:
            raise
        raise found from None


def _first(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    for inner in group.exceptions:
        if isinstance(inner, INPUT_ERRORS):
            return inner
        if isinstance(inner, BaseExceptionGroup) and (found := _first(inner)) is not None:
            return found
    return None


def run_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    trace_path: Path | None = None,
    console: Console | None = None,
    keep_events: bool = False,
) -> RunResult:
    """Run `scenario` in virtual time; the same seed gives the same trace, byte for byte.

    The report is folded from the events as they are written (`RunFold`), so a run's memory does not grow
    with its events; `keep_events` also keeps them in memory, for `RunResult.events`."""
    seed = scenario.scenario.seed if seed is None else seed
    header = {"scenario": scenario.scenario.name, "scenario_hash": content_hash(scenario)}
    console = console or Console(quiet=True)
    fold = RunFold()
    with _atomic_sink(trace_path) as sink:
        env = Environment.simulated(seed, header=header, sink=sink, keep_events=keep_events)
        env.trace.consume(fold.feed)
        env.trace.hold()
        started = time.perf_counter()
        label = scenario.scenario.name
        with (
            simulated_time_progress(
                env.trace, scenario.scenario.duration, console, label, offset_kind="scenario_start"
            ),
            _input_errors_unwrapped(),
        ):
            run_simulated(lambda e: _drive(e, scenario), env)
        wall = time.perf_counter() - started
    # The world is garbage now but held in reference cycles (tasks, scopes) that only a full collection
    # frees: free it before the report's own objects are built, so a long run's peak is its end, not both.
    gc.collect()
    trace_hash = env.trace.hash
    report = fold.report(scenario, seed=seed, trace_hash=trace_hash, wall_seconds=wall)
    return RunResult(report, env.trace.events if keep_events else None)
