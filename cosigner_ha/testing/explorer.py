"""Search fault schedules for one that breaks a scenario, and shrink it to something a person can read.

The scenario's topology, policy, workloads, expectations, seed and its own `[[faults]]` stay as written;
the explorer adds a drawn schedule of failures (`strategies.fault_schedules`) and runs the result in
simulation. The first schedule under which an invariant or expectation fails is shrunk by Hypothesis
toward fewer faults, plainer actions, smaller targets, later times and shorter outages.

The search is Hypothesis's `find` with the search seed as its random source and no example database:
the same scenario, budget and seed find the same counterexample. The counterexample is the scenario
with the found faults merged in, written with `write_scenario`; `cosigner-ha run` on that file replays
the failure, which the explorer checks before it reports success.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

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
from cosigner_ha.testing.strategies import FAILURE_ACTIONS, add_faults, fault_schedules

#: Simulations the shrinker may spend after the first counterexample, unless told otherwise.
DEFAULT_SHRINK_BUDGET = 100
#: What a search looks for: "all" (every invariant and the scenario's expectations) or "safety" (only the
#: safety invariants, so that a liveness expectation the faults break anyway does not hide a safety breach).
CHECKS = ("all", "safety")


class ExploreError(RuntimeError):
    """The explorer could not do what it promised (a written counterexample that does not replay)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Progress:
    """Where a search stands, for a progress display."""

    phase: str  # "search" or "shrink"
    examples: int  # distinct schedules simulated while searching
    budget: int
    shrink_runs: int
    shrink_budget: int
    best: tuple[Fault, ...] | None  # the simplest failing schedule so far
    broken: tuple[str, ...]  # what the best one breaks


@dataclasses.dataclass(frozen=True, slots=True)
class Exploration:
    """The outcome of `explore`: a counterexample, or the statement that none was found."""

    base: Scenario
    search_seed: int
    budget: int
    examples: int
    shrink_runs: int
    wall_seconds: float
    counterexample: Scenario | None = None
    added: tuple[Fault, ...] = ()
    report: RunReport | None = None
    check: str = "all"

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
) -> Exploration:
    """Search up to `budget` fault schedules (at most `max_faults` faults each) for a failing run.

    `seed` seeds the search (default: the scenario's seed); the simulations always use the scenario's
    own seed, so the counterexample file replays as it was found. Shrinking spends at most
    `shrink_budget` further simulations; the counterexample is the simplest failing schedule seen.
    `check="safety"` counts only a broken safety invariant as a failure (see `CHECKS`).
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
    reports: dict[tuple[Fault, ...], RunReport] = {}
    state = {"examples": 0, "shrink_runs": 0}
    best: list[tuple[Fault, ...]] = []

    def report_progress(phase: str) -> None:
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
                    () if last is None else _broken(reports[last], check),
                )
            )

    def fails(extra: tuple[Fault, ...]) -> bool:
        known = reports.get(extra)
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
            known = reports[extra] = run_scenario(add_faults(scenario, extra)).report
            if _broken(known, check) and (not best or simplicity(extra) < simplicity(best[-1])):
                best.append(extra)
            report_progress(phase)
        return bool(_broken(known, check))

    # The empty schedule first: a scenario that already fails needs no fault to break it.
    empty: tuple[Fault, ...] = ()
    found: tuple[Fault, ...] | None = empty if fails(empty) else None
    if found is None and budget > 1:
        search_settings = settings(
            max_examples=budget,  # its first example is the empty schedule again, answered from the cache
            database=None,
            deadline=None,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
            report_multiple_bugs=False,
        )
        try:
            found = find(strategy, fails, settings=search_settings, random=random.Random(search_seed))
        except NoSuchExample:
            found = None
    outcome = Exploration(
        base=scenario,
        search_seed=search_seed,
        budget=budget,
        examples=state["examples"],
        shrink_runs=state["shrink_runs"],
        wall_seconds=time.perf_counter() - started,
        check=check,
    )
    if found is None:
        return outcome
    report = reports[found]
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
