"""`explore` readable anywhere (issue 19 items 5 and 6): a line per schedule when its output is not a
terminal, and shrinking that leaves only the faults the failure needs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from cosigner_ha.cli import build_parser
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import Fault, FaultAction, Scenario
from cosigner_ha.testing import commands
from cosigner_ha.testing.explorer import _broken, _without_irrelevant, explore
from cosigner_ha.testing.strategies import add_faults
from tests.testing.conftest import single_cosigner_path


def test_explore_prints_a_line_per_schedule_when_not_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["explore", str(single_cosigner_path()), "--budget", "2", "--seed", "1", "--shrink-budget", "0"]
    args = build_parser().parse_args([*argv, "--out", str(tmp_path / "cx.toml")])
    out = io.StringIO()
    code = commands.run(args, Console(file=out, width=100))  # a file: not a terminal
    assert code in (0, 1) and capsys.readouterr().err == ""
    lines = out.getvalue().splitlines()
    searched = [line for line in lines if line.startswith("search ")]
    assert searched[0] == "search 1/2: no added fault -> holds"
    assert len(searched) == 2 and searched[1].startswith("search 2/2: ")
    assert " at " in searched[1] and searched[1].endswith((" -> holds", "max_failover"))


CRASH = Fault(600.0, FaultAction.CRASH, node="nitro-a", for_=300.0)
SKEW = Fault(60.0, FaultAction.CLOCK_SKEW, node="nitro-a", skew=1.0, for_=10.0)
LATENCY = Fault(90.0, FaultAction.LATENCY, node="nitro-a", amount=0.01, for_=10.0)


def test_shrinking_drops_each_fault_the_failure_does_not_need() -> None:
    runs: list[tuple[Fault, ...]] = []

    def run(schedule: tuple[Fault, ...]) -> tuple[str, ...]:
        runs.append(schedule)
        return ("max_failover",) if CRASH in schedule else ()

    assert _without_irrelevant((SKEW, CRASH, LATENCY), ("max_failover",), run) == (CRASH,)
    assert len(runs) == 3  # one run per fault
    # a fault whose removal changes what breaks stays
    both = ("max_failover", "min_completed_ratio")

    def run_both(schedule: tuple[Fault, ...]) -> tuple[str, ...]:
        return both if CRASH in schedule and SKEW in schedule else ("max_failover",)

    assert _without_irrelevant((SKEW, CRASH, LATENCY), both, run_both) == (SKEW, CRASH)


@pytest.mark.slow
def test_a_found_counterexample_keeps_only_faults_it_needs(single_cosigner: Scenario) -> None:
    """With no shrink budget Hypothesis cannot simplify what it found; the last pass still removes every
    fault the failure does not need."""
    result = explore(single_cosigner, budget=8, seed=2, shrink_budget=0, max_faults=3)
    assert result.found and result.added
    broken = set(result.broken)
    for fault in result.added:
        without = tuple(f for f in result.added if f is not fault)
        if not without:
            continue
        assert not broken <= set(_broken(run_scenario(add_faults(single_cosigner, without)).report))
