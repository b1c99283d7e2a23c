"""`explore` finds known bugs planted into the product, within a stated budget, from a topology whose own
run does not trigger them (tests/testing/planted.py; budgets and detection rates in docs/testing.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.testing.explorer import explore
from tests.testing import planted

Plant = Callable[[pytest.MonkeyPatch], contextlib.AbstractContextManager[None]]

#: plant -> (the safety invariant it breaks, the search budget explore gets, the detection-rate floor)
PLANTS: dict[str, tuple[Plant, str, int, float]] = {
    "approve_without_the_handler": (
        planted.approve_without_the_handler,
        "signed_with_callback_approval",
        40,
        0.8,
    ),
    "reuse_nonces_after_a_restart": (planted.reuse_nonces_after_a_restart, "no_nonce_reuse", 15, 0.8),
    "treat_a_standby_as_active": (
        planted.treat_a_standby_as_active,
        "standby_only_when_no_active",
        15,
        0.8,
    ),
}


@pytest.fixture
def plant(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = request.param
    with PLANTS[name][0](monkeypatch):
        yield name


@pytest.mark.parametrize("plant", list(PLANTS), indirect=True)
def test_a_planted_bug_sleeps_without_faults_and_explore_wakes_it(plant: str) -> None:
    _, breaks, budget, _ = PLANTS[plant]
    scenario = planted.topology()
    assert run_scenario(scenario).report.passed  # dormant: the topology's own run does not trigger it
    found = explore(scenario, budget=budget, seed=1, shrink_budget=0, check="safety")
    assert found.found, f"{plant}: no counterexample within {budget} schedules"
    assert breaks in found.broken
    assert found.added  # a fault explore added woke it


@pytest.mark.slow
@pytest.mark.parametrize("plant", list(PLANTS), indirect=True)
def test_detection_rate_over_ten_search_seeds(plant: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, breaks, budget, floor = PLANTS[plant]
    scenario = planted.topology()
    hits = []
    for seed in range(1, 11):
        result = explore(scenario, budget=budget, seed=seed, shrink_budget=0, check="safety")
        hits.append(result.found and breaks in result.broken)
    rate = sum(hits) / len(hits)
    with capsys.disabled():
        print(f"\n{plant}: found in {sum(hits)} of {len(hits)} searches of budget {budget}")
    assert rate >= floor
