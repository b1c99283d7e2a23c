"""Scenario settings that reach the simulated SaaS: `[saas] callback_failure` and the approvers' latencies."""

from __future__ import annotations

import pytest

from cosigner_ha.cluster.scenario import (
    CallbackFailurePolicy,
    ScenarioError,
    load_scenario_text,
    parse_duration,
    scenario_from_dict,
    to_toml,
)
from cosigner_ha.cluster.world import approver_latencies, saas_config
from tests.cluster.runs import BASE, MINUTE, run, scenario_dict


@pytest.mark.parametrize("value", ["fail", "next-node"])
def test_callback_failure_loads_round_trips_and_reaches_the_saas(value: str) -> None:
    scenario = scenario_from_dict(scenario_dict(saas={"callback_failure": value}))
    assert scenario.saas.callback_failure is CallbackFailurePolicy(value)
    assert load_scenario_text(to_toml(scenario)) == scenario
    assert saas_config(scenario).callback_failure == value


def test_callback_failure_defaults_to_failing_the_transaction() -> None:
    scenario = scenario_from_dict(scenario_dict())
    assert scenario.saas.callback_failure is CallbackFailurePolicy.FAIL
    assert "callback_failure" not in to_toml(scenario)


def test_a_wrong_callback_failure_is_refused_with_its_key_path() -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(scenario_dict(saas={"callback_failure": "next"}), "x.toml")
    problem = caught.value.problems[0]
    assert (problem.origin, problem.path) == ("x.toml", "saas.callback_failure")
    assert problem.message == "expected one of fail, next-node; got 'next' (did you mean 'next-node'?)"


@pytest.mark.parametrize("latency", ["2m", "5m"])
def test_the_owners_approval_latency_holds_for_the_implicit_owner_too(latency: str) -> None:
    for users in ([{"name": "tywin", "role": "OWNER"}], [{"name": "cersei", "role": "ADMIN"}]):
        # instant boots: the pairings, hence the approvals, start at the run's first instant
        nodes = [{**n, "boot_time": "0s", "attest_time": "0s"} for n in BASE["nodes"]]
        data = scenario_dict(
            saas={"owner_approval_latency": latency}, scenario={"duration": "1m"}, users=users, nodes=nodes
        )
        r = run(data)
        decided = [e for e in r.events if e.kind == "approval_decided" and e.fields["type"] == "PAIR_API_KEY"]
        assert {e.fields["approver"] for e in decided} == {
            users[0]["name"] if users[0]["role"] == "OWNER" else "owner"
        }
        # set-up happens before the scenario's start: its times are negative, `setup_seconds` long
        (start,) = [e for e in r.events if e.kind == "scenario_start"]
        since_run_start = [e.t + start.fields["setup_seconds"] for e in decided]
        assert all(t == pytest.approx(parse_duration(latency), abs=1) for t in since_run_start), users


def test_an_admin_approves_an_unpairing_after_the_admins_latency() -> None:
    data = scenario_dict(
        [{"at": "1m", "action": "unpair", "node": "a", "api_user": "sa"}],
        saas={"admin_approval_latency": "5m"},
        users=[{"name": "tywin", "role": "OWNER"}, {"name": "cersei", "role": "ADMIN"}],
        scenario={"duration": "10m"},
    )
    r = run(data)
    decided = [e for e in r.of("approval_decided") if e.fields["type"] == "UNPAIR_API_KEY"]
    assert [(e.fields["approver"], r.at(e)) for e in decided] == [("cersei", 6 * MINUTE)]
    assert approver_latencies(scenario_from_dict(data)) == {"tywin": 60.0, "cersei": 300.0}
