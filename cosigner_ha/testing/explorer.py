"""Search fault schedules for one that breaks a scenario, and shrink it to something a person can read.

The scenario's topology, policy, workloads, expectations, seed and its own `[[faults]]` stay as written;
the explorer adds a drawn schedule of failures (`strategies.fault_schedules`) and runs the result in
simulation. The first schedule under which an invariant or expectation fails is shrunk by Hypothesis
toward fewer faults, plainer actions, smaller targets, later times and shorter outages.

The search is Hypothesis's `find` with the search seed as its random source, no example database, no
constants harvested from the modules imported and no wall-clock limit on shrinking (`hypothesis_internals`):
the same scenario, budget and seed find the same counterexample, whatever else the process imported and
however fast the machine. The counterexample is the scenario with the found faults merged in, written with
`write_scenario`; `cosigner-ha run` on that file replays the failure, which the explorer checks before it
reports success.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis.errors import NoSuchExample

from cosigner_ha.cluster.invariants import SAFETY
from cosigner_ha.cluster.report import RunReport
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import (
    Fault,
    FaultAction,
    Scenario,
    format_duration,
    load_scenario,
    write_scenario,
)
from cosigner_ha.testing.engine import Engine
from cosigner_ha.testing.hypothesis_internals import isolated_search
from cosigner_ha.testing.strategies import FAILURE_ACTIONS, add_faults, fault_schedules

#: Simulations the shrinker may spend after the first counterexample, unless told otherwise.
DEFAULT_SHRINK_BUDGET = 100
#: What a search looks for: "all" (every invariant and the scenario's expectations) or "safety" (only the
#: safety invariants, so that a liveness expectation the faults break anyway does not hide a safety breach).
CHECKS = ("all", "safety")
#: Schedules simulated per wave on an engine. A constant, not a multiple of the workers: which schedules a
#: search simulates (and so what the shrinker may reuse) must not depend on the engine or its size.
WAVE = 32


class ExploreError(RuntimeError):
    """The explorer could not do what it promised (a written counterexample that does not replay)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Progress:
    """Where a search stands, for a progress display."""

    phase: str  # "search", "shrink" or "prune" (the last pass dropping faults the failure does not need)
    examples: int  # distinct schedules simulated while searching
    budget: int
    shrink_runs: int
    shrink_budget: int
    best: tuple[Fault, ...] | None  # the simplest failing schedule so far
    broken: tuple[str, ...]  # what the best one breaks
    candidate: tuple[Fault, ...] = ()  # the schedule just simulated
    candidate_broken: tuple[str, ...] = ()  # what it broke (empty: it held)


@dataclasses.dataclass(frozen=True, slots=True)
class Exploration:
    """The outcome of `explore`: a counterexample, or the statement that none was found."""

    base: Scenario
    search_seed: int
    budget: int
    examples: int
    shrink_runs: int
    wall_seconds: float
    #: Runs of the last pass that drops faults the failure does not need (beyond the shrink budget).
    prune_runs: int = 0
    counterexample: Scenario | None = None
    added: tuple[Fault, ...] = ()
    report: RunReport | None = None
    check: str = "all"
    #: With `collect`: each distinct set of broken checks, with the first schedule (in search order) that broke it.
    distinct: tuple[tuple[tuple[str, ...], tuple[Fault, ...]], ...] = ()

    @property
    def found(self) -> bool:
        return self.counterexample is not None

    @property
    def broken(self) -> dict[str, str]:
        """The failed checks of the counterexample's run: name -> detail."""
        if self.report is None:
            return {}
        checks = {**self.report.invariants, **self.report.expectations}
        return {name: checks[name].detail for name in _broken(self.report, self.check)}


def describe_fault(fault: Fault) -> str:
    """One line a person reads: `crash nitro-a at 29m59s for 1s`."""
    if fault.link is not None:
        target = f"link {fault.link[0]}<->{fault.link[1]}"
    else:
        target = fault.node or fault.site or fault.callback or ""
    parts = [str(fault.action), target]
    if fault.mode is not None:
        parts.append(f"mode {fault.mode}")
    if fault.amount is not None:
        parts.append(f"+{format_duration(fault.amount)}")
    if fault.ratio is not None:
        parts.append(f"ratio {fault.ratio:g}")
    if fault.skew is not None:
        parts.append(f"skew {format_duration(fault.skew, signed=True)}")
    if fault.backup:
        parts.append("restored from backup")
    if fault.new_host:
        parts.append("on a new host")
    if fault.api_user is not None:
        parts.append(f"api_user {fault.api_user}")
    parts.append(f"at {format_duration(fault.at)}")
    if fault.for_ is not None:
        parts.append(f"for {format_duration(fault.for_)}")
    elif fault.action not in (FaultAction.RESTART, FaultAction.POLICY, FaultAction.PAIR, FaultAction.UNPAIR):
        parts.append("to the end")
    return " ".join(p for p in parts if p)


def simplicity(faults: Sequence[Fault]) -> tuple[object, ...]:
    """An order close to the shrinker's, for showing the best counterexample so far: fewer faults, plainer
    actions, later times, shorter outages."""
    rank = {action: i for i, action in enumerate(FAILURE_ACTIONS)}
    return (
        len(faults),
        [rank.get(f.action, len(rank)) for f in faults],
        [-f.at for f in faults],
        [float("inf") if f.for_ is None else f.for_ for f in faults],
    )


def _broken(report: RunReport, check: str = "all") -> tuple[str, ...]:
    """The failed checks that count for `check` ("all" or "safety")."""
    checks = {**report.invariants, **report.expectations}
    return tuple(name for name, c in checks.items() if not c.ok and (check == "all" or name in SAFETY))


def explore(
    scenario: Scenario,
    *,
    budget: int,
    seed: int | None = None,
    max_faults: int = 3,
    actions: Sequence[FaultAction] = FAILURE_ACTIONS,
    grain: float = 1.0,
    shrink_budget: int = DEFAULT_SHRINK_BUDGET,
    on_progress: Callable[[Progress], None] | None = None,
    check: str = "all",
    engine: Engine | None = None,
    collect: bool = False,
) -> Exploration:
    """Search up to `budget` fault schedules (at most `max_faults` faults each) for a failing run.

    `seed` seeds the search (default: the scenario's seed); the simulations always use the scenario's
    own seed, so the counterexample file replays as it was found. Shrinking spends at most
    `shrink_budget` further simulations; the counterexample is the simplest failing schedule seen.
    `check="safety"` counts only a broken safety invariant as a failure (see `CHECKS`).

    With an `engine`, the search's schedules are simulated on it in parallel (the same counterexample as
    without one, for the same seed and budget). `collect` goes on after the first failure through the whole
    budget and lists each distinct set of broken checks with the first schedule that broke it.
    """
    if check not in CHECKS:
        raise ValueError(f"check must be one of {', '.join(CHECKS)}, got {check!r}")
    if budget < 1:
        raise ValueError(f"the budget must be at least one example, got {budget}")
    if shrink_budget < 0:
        raise ValueError(f"the shrink budget cannot be negative, got {shrink_budget}")
    search_seed = scenario.scenario.seed if seed is None else seed
    strategy = fault_schedules(scenario, max_faults=max_faults, actions=actions, grain=grain)
    started = time.perf_counter()
    broken_by: dict[tuple[Fault, ...], tuple[str, ...]] = {}
    reports: dict[tuple[Fault, ...], RunReport] = {}
    state = {"examples": 0, "shrink_runs": 0, "prune_runs": 0}
    best: list[tuple[Fault, ...]] = []
    search_settings = settings(
        max_examples=budget,  # its first example is the empty schedule again, answered from the cache
        database=None,
        deadline=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        backend="hypothesis",  # the default, stated: a settings profile choosing another would change the search
    )

    def report_progress(phase: str, extra: tuple[Fault, ...]) -> None:
        if on_progress is not None:
            last = best[-1] if best else None
            on_progress(
                Progress(
                    phase,
                    state["examples"],
                    budget,
                    state["shrink_runs"],
                    shrink_budget,
                    last,
                    () if last is None else broken_by[last],
                    extra,
                    broken_by[extra],
                )
            )

    def seen(extra: tuple[Fault, ...], broken: tuple[str, ...], phase: str) -> None:
        broken_by[extra] = broken
        if broken and (not best or simplicity(extra) < simplicity(best[-1])):
            best.append(extra)
        report_progress(phase, extra)

    # Searching does not depend on the answers until the first failure (every answer before it is "no"),
    # so the schedules Hypothesis will try are known in advance from the search seed alone: an engine
    # evaluates them in parallel, in waves in search order, and the first failure in that order is the one
    # a one-by-one search would find. Shrinking then runs here, from the same seed, with those answers.
    if engine is not None:
        for extra, broken in _evaluate_in_waves(
            engine, scenario, _planned(strategy, search_settings, search_seed, budget), check, collect
        ):
            state["examples"] += 1
            seen(extra, broken, "search")

    crashed: dict[tuple[Fault, ...], ExploreError] = {}

    def simulate(extra: tuple[Fault, ...]) -> RunReport:
        """The run of the scenario with `extra` added. A simulation that crashes is a bug in the simulator,
        not a counterexample: it stops the search, naming the schedule, and the same schedule asked again
        (Hypothesis replays its failures) crashes the same way without counting against the budget."""
        if extra in crashed:
            raise crashed[extra]
        try:
            return run_scenario(add_faults(scenario, extra)).report
        except Exception as exc:
            faults = "; ".join(map(describe_fault, extra)) or "none"
            crashed[extra] = ExploreError(
                f"{scenario.origin}: the simulation crashed with the added faults {faults}: "
                f"{type(exc).__name__}: {exc} (a bug in the simulator, not a counterexample: the scenario "
                "with these faults added reproduces it under cosigner-ha run)"
            )
            raise crashed[extra] from exc

    def run_one(extra: tuple[Fault, ...]) -> tuple[str, ...]:
        """What `extra` breaks, simulated once (a shrink run; cached like the rest)."""
        if extra not in broken_by:
            state["prune_runs"] += 1
            report = reports[extra] = simulate(extra)
            seen(extra, _broken(report, check), "prune")
        return broken_by[extra]

    def fails(extra: tuple[Fault, ...]) -> bool:
        known = broken_by.get(extra)
        if known is None and extra in crashed:
            raise crashed[extra]
        if known is None:
            phase = "shrink" if best else "search"
            if phase == "shrink":
                if state["shrink_runs"] >= shrink_budget:
                    return False  # out of budget: keep the simplest counterexample found so far
                state["shrink_runs"] += 1
            else:
                if state["examples"] >= budget:
                    return False  # the budget is spent (Hypothesis counts repeats the cache absorbed)
                state["examples"] += 1
            report = reports[extra] = simulate(extra)
            seen(extra, _broken(report, check), phase)
            known = broken_by[extra]
        return bool(known)

    # The empty schedule first: a scenario that already fails needs no fault to break it.
    empty: tuple[Fault, ...] = ()
    found: tuple[Fault, ...] | None = empty if fails(empty) else None
    if found is None and budget > 1:
        try:
            with isolated_search():
                found = find(strategy, fails, settings=search_settings, random=random.Random(search_seed))
        except NoSuchExample:
            found = None
    if found:
        found = _without_irrelevant(found, broken_by[found], run_one)
    distinct: dict[tuple[str, ...], tuple[Fault, ...]] = {}
    for extra, broken in broken_by.items():
        if broken and broken not in distinct:
            distinct[broken] = extra
    outcome = Exploration(
        base=scenario,
        search_seed=search_seed,
        budget=budget,
        examples=state["examples"],
        shrink_runs=state["shrink_runs"],
        prune_runs=state["prune_runs"],
        wall_seconds=time.perf_counter() - started,
        check=check,
        distinct=tuple(distinct.items()) if collect else (),
    )
    if found is None:
        return outcome
    report = reports.get(found) or run_scenario(add_faults(scenario, found)).report
    counterexample = add_faults(scenario, found)
    names = ", ".join(_broken(report, check))
    what = (
        f"with {len(found)} added fault(s) it breaks {names}"
        if found
        else f"as written, with no added fault, it breaks {names}"
    )
    described = dataclasses.replace(
        counterexample.scenario,
        description=(
            f"Counterexample found by cosigner-ha explore (search seed {search_seed}, "
            f"{outcome.examples} example(s), {outcome.shrink_runs} shrink run(s)) "
            f"from {scenario.origin}: {what}."
        ),
    )
    return dataclasses.replace(
        outcome,
        counterexample=dataclasses.replace(counterexample, scenario=described),
        added=found,
        report=report,
    )


def _without_irrelevant(
    found: tuple[Fault, ...], broken: tuple[str, ...], run: Callable[[tuple[Fault, ...]], tuple[str, ...]]
) -> tuple[Fault, ...]:
    """Drop, one at a time, each fault without which the schedule still breaks everything `found` breaks:
    what is left are the faults the failure needs. Hypothesis's shrinking accepts any failure and stops at
    its budget, so a fault that only came along can survive it; this pass costs one run per fault (at most
    `max_faults`), beyond the shrink budget."""
    kept = list(found)
    for fault in list(found):
        if len(kept) == 1:
            break
        without = tuple(f for f in kept if f is not fault)
        if set(broken) <= set(run(without)):
            kept = list(without)
    return tuple(kept)


def _planned(
    strategy: Any, search_settings: settings, search_seed: int, budget: int
) -> list[tuple[Fault, ...]]:
    """The distinct schedules a search with this seed tries while every answer is "no", in its order."""
    planned: dict[tuple[Fault, ...], None] = {(): None}

    def record(extra: tuple[Fault, ...]) -> bool:
        if len(planned) < budget:
            planned.setdefault(extra, None)
        return False

    with contextlib.suppress(NoSuchExample), isolated_search():
        find(strategy, record, settings=search_settings, random=random.Random(search_seed))
    return list(planned)


def broken_checks(
    payload: tuple[Scenario, str], schedules: list[tuple[Fault, ...]]
) -> list[tuple[tuple[Fault, ...], tuple[str, ...]]]:
    """Each schedule added to the scenario, and what it breaks (on a worker, or here; module level for workers)."""
    scenario, check = payload
    return [(extra, _broken(run_scenario(add_faults(scenario, extra)).report, check)) for extra in schedules]


def _evaluate_in_waves(
    engine: Engine,
    scenario: Scenario,
    schedules: list[tuple[Fault, ...]],
    check: str,
    collect: bool,
) -> Iterator[tuple[tuple[Fault, ...], tuple[str, ...]]]:
    """Each schedule and what it breaks, in search order, simulated in waves of `WAVE`; no wave
    after the one with the first failure, unless `collect`."""
    for start in range(0, len(schedules), WAVE):
        batch = schedules[start : start + WAVE]
        answers: dict[tuple[Fault, ...], tuple[str, ...]] = {}
        for result in engine.map_chunks(broken_checks, (scenario, check), [[extra] for extra in batch]):
            answers.update(result)
        yield from ((extra, answers[extra]) for extra in batch)
        if not collect and any(answers.values()):
            return


def write_counterexample(exploration: Exploration, path: str | Path) -> Path:
    """Write the counterexample and check that running the file fails the same way; returns the path."""
    if exploration.counterexample is None or exploration.report is None:
        raise ValueError("nothing to write: the exploration found no counterexample")
    written = write_scenario(exploration.counterexample, path)
    replay = run_scenario(load_scenario(written)).report
    check = exploration.check
    if not _broken(replay, check) or _broken(replay, check) != _broken(exploration.report, check):
        raise ExploreError(
            f"{written}: the written counterexample does not replay: it breaks "
            f"{', '.join(_broken(replay, check)) or 'nothing'}, the search saw "
            f"{', '.join(_broken(exploration.report, check))}"
        )
    return written
