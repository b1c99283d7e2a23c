"""`explore` finds known bugs planted into the product, within a stated budget, from a topology whose own
run does not trigger them (tests/testing/planted.py; budgets and detection rates in docs/testing.md)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

import pytest

from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import Scenario
from cosigner_ha.testing.explorer import explore
from tests.testing import planted

Plant = Callable[[pytest.MonkeyPatch], contextlib.AbstractContextManager[None]]


@dataclasses.dataclass(frozen=True)
class Case:
    plant: Plant
    topology: Callable[[], Scenario]  # a bundled topology whose own (fault-free) run does not trigger it
    breaks: str  # the safety invariant it breaks
    budget: int  # the search budget explore gets
    floor: float  # the detection-rate floor over ten search seeds


PLANTS: dict[str, Case] = {
    "approve_without_the_handler": Case(
        planted.approve_without_the_handler, planted.topology, "signed_with_callback_approval", 40, 0.8
    ),
    "reuse_nonces_after_a_restart": Case(
        planted.reuse_nonces_after_a_restart, planted.topology, "no_nonce_reuse", 15, 0.8
    ),
    "treat_a_standby_as_active": Case(
        planted.treat_a_standby_as_active, planted.topology, "standby_only_when_no_active", 15, 0.8
    ),
    "sign_twice_after_a_failover": Case(
        planted.sign_twice_after_a_failover, planted.busy_topology, "at_most_one_signature", 40, 0.3
    ),
    # Found in 5 of search seeds 1-10 and 12 of 1-40 (docs/testing.md): the 0.6 this had was set on a
    # 7 of 10 that came from Hypothesis drawing constants of the modules imported, which the search no
    # longer does. 0.4 guards the 0.5 the ten seeds measure now (the search is deterministic).
    "spread_exchange_transfers_on_failover": Case(
        planted.spread_exchange_transfers_on_failover,
        planted.exchange_topology,
        "exchange_fiat_single_signer",
        40,
        0.4,
    ),
}


@pytest.fixture
def plant(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = request.param
    with PLANTS[name].plant(monkeypatch):
        yield name


#: Plants whose search takes a minute of a loaded CI machine: the slow run (and its detection rates) covers
#: them, the default run keeps the quick ones.
SLOW_TO_FIND = {"sign_twice_after_a_failover"}


@pytest.mark.parametrize(
    "plant",
    [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_TO_FIND else name for name in PLANTS],
    indirect=True,
)
def test_a_planted_bug_sleeps_without_faults_and_explore_wakes_it(plant: str) -> None:
    case = PLANTS[plant]
    scenario = case.topology()
    assert run_scenario(scenario).report.passed  # dormant: the topology's own run does not trigger it
    found = explore(scenario, budget=case.budget, seed=1, shrink_budget=0, check="safety")
    assert found.found, f"{plant}: no counterexample within {case.budget} schedules"
    assert case.breaks in found.broken
    assert found.added  # a fault explore added woke it


@pytest.mark.slow
@pytest.mark.timeout(900)  # ten searches of up to 40 runs each: about 6 minutes on a loaded 2-core machine
@pytest.mark.parametrize("plant", list(PLANTS), indirect=True)
def test_detection_rate_over_ten_search_seeds(plant: str, capsys: pytest.CaptureFixture[str]) -> None:
    case = PLANTS[plant]
    scenario = case.topology()
    hits = []
    for seed in range(1, 11):
        result = explore(scenario, budget=case.budget, seed=seed, shrink_budget=0, check="safety")
        hits.append(result.found and case.breaks in result.broken)
    rate = sum(hits) / len(hits)
    with capsys.disabled():
        print(f"\n{plant}: found in {sum(hits)} of {len(hits)} searches of budget {case.budget}")
    assert rate >= case.floor
