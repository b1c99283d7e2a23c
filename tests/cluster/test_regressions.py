"""Scenarios that once broke a run, kept as they were found (each file says what it broke and how)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario.loader import load_scenario

REGRESSIONS = sorted((Path(__file__).parent / "regressions").glob("*.toml"))


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.stem)
def test_a_scenario_that_once_crashed_runs_to_its_end_with_every_invariant_holding(path: Path) -> None:
    scenario = load_scenario(path)
    report = run_scenario(scenario).report
    assert report.simulated_seconds >= scenario.scenario.duration
    assert report.passed, {name: check for name, check in report.invariants.items() if not check.ok}
