"""Run a scenario from a test: a model, a dict as TOML parses to, or a file; every run is remembered.

`simulate` is what the pytest plugin's fixture calls, and what a Hypothesis test calls directly. While
a test runs, the plugin holds a `RunLog` in a context variable; each `simulate` call adds its scenario,
seed and report to it, grouped by Hypothesis example, so that a failing test can print the seed and
write the scenario file that replays the failure (the last example's runs: for a Hypothesis test, the
shrunk one).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cosigner_ha.cluster.runner import RunResult, run_scenario
from cosigner_ha.cluster.scenario import Scenario, load_scenario, scenario_from_dict

ScenarioSource = Scenario | Mapping[str, Any] | str | os.PathLike[str]


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """One simulated run inside a test: the scenario exactly as run (its seed set to the run's seed)."""

    scenario: Scenario
    seed: int
    result: RunResult
    example: int  # which Hypothesis example (0 outside Hypothesis)

    @property
    def passed(self) -> bool:
        return self.result.report.passed


@dataclasses.dataclass
class RunLog:
    """The runs of one test, and the seed the test was told to use (None: each scenario's own)."""

    seed: int | None = None
    runs: list[Run] = dataclasses.field(default_factory=list)
    _examples: dict[int, int] = dataclasses.field(default_factory=dict)

    def example_id(self) -> int:
        """A small number per Hypothesis example (its build context), 0 outside Hypothesis."""
        try:
            from hypothesis.control import current_build_context

            context = current_build_context()
        except Exception:  # not inside a Hypothesis example
            return 0
        return self._examples.setdefault(id(context), len(self._examples) + 1)

    def last_example(self) -> list[Run]:
        """The runs of the last example (or of the whole test outside Hypothesis)."""
        if not self.runs:
            return []
        last = self.runs[-1].example
        return [run for run in self.runs if run.example == last]

    def to_report(self) -> list[Run]:
        """What a failure should show: the last example's failing runs, else its last run."""
        runs = self.last_example()
        failed = [run for run in runs if not run.passed]
        return failed or runs[-1:]


_current: contextvars.ContextVar[RunLog | None] = contextvars.ContextVar("cosigner_ha_runs", default=None)


@contextlib.contextmanager
def recording(log: RunLog) -> Iterator[RunLog]:
    """Make `simulate` add its runs to `log` (and use `log.seed`) inside the block."""
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)


def current_log() -> RunLog | None:
    return _current.get()


def as_scenario(source: ScenarioSource, *, origin: str = "<test>") -> Scenario:
    """A scenario model from a model, a dict (checked by the loader), or a file path."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return scenario_from_dict(source, origin)
    return load_scenario(source)


def simulate(source: ScenarioSource, *, seed: int | None = None, trace_path: Path | None = None) -> RunResult:
    """Run a scenario in simulation and return its result (report and events).

    The seed is `seed`, else the seed the test was given (`@pytest.mark.cosigner_seeds`,
    `--cosigner-seeds`), else the scenario's own. Raises what the loader and the runner raise for bad
    input (`ScenarioError`, `PolicyError`, `WorldError`, `SetupError`).
    """
    scenario = as_scenario(source)
    log = _current.get()
    if seed is None and log is not None:
        seed = log.seed
    seed = scenario.scenario.seed if seed is None else seed
    result = run_scenario(scenario, seed=seed, trace_path=trace_path, keep_events=True)
    if log is not None:
        ran = dataclasses.replace(scenario, scenario=dataclasses.replace(scenario.scenario, seed=seed))
        log.runs.append(Run(ran, seed, result, log.example_id()))
    return result
