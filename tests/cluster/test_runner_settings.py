"""Scenario settings that reach the simulated SaaS: `[saas] callback_failure`."""

from __future__ import annotations

import pytest

from cosigner_ha.cluster.scenario import (
    CallbackFailurePolicy,
    ScenarioError,
    load_scenario_text,
    scenario_from_dict,
)
from cosigner_ha.cluster.world import saas_config
from tests.cluster.runs import scenario_dict


@pytest.mark.parametrize("value", ["fail", "next-node"])
def test_callback_failure_loads_round_trips_and_reaches_the_saas(value: str) -> None:
    scenario = scenario_from_dict(scenario_dict(saas={"callback_failure": value}))
    assert scenario.saas.callback_failure is CallbackFailurePolicy(value)
    assert load_scenario_text(scenario.to_toml()) == scenario
    assert saas_config(scenario).callback_failure == value


def test_callback_failure_defaults_to_failing_the_transaction() -> None:
    scenario = scenario_from_dict(scenario_dict())
    assert scenario.saas.callback_failure is CallbackFailurePolicy.FAIL
    assert "callback_failure" not in scenario.to_toml()


def test_a_wrong_callback_failure_is_refused_with_its_key_path() -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(scenario_dict(saas={"callback_failure": "next"}), "x.toml")
    problem = caught.value.problems[0]
    assert (problem.origin, problem.path) == ("x.toml", "saas.callback_failure")
    assert problem.message == "expected one of fail, next-node; got 'next' (did you mean 'next-node'?)"
