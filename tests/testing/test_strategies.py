"""The strategies: valid by construction, shrinking toward what a person reads, composable."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from cosigner_ha.cluster.scenario import (
    Enclave,
    FaultAction,
    Scenario,
    content_hash,
    load_scenario_text,
    scenario_to_dict,
    to_toml,
)
from cosigner_ha.policy import Directory, load_policy, validate
from cosigner_ha.testing import strategies as cst
from cosigner_ha.testing.invariants import SAFETY, assert_invariants, liveness
from cosigner_ha.testing.simulation import simulate

QUICK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Settings for `find` in shrinking tests: seeded, no database, enough examples to reach the goal.
SHRINK = settings(database=None, max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


def _find(strategy: st.SearchStrategy[object], condition: object) -> object:
    import random

    return find(strategy, condition, settings=SHRINK, random=random.Random(0))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def plain() -> cst.Topology:
    """The simplest topology (what `topologies()` shrinks to): one Nitro node, one signer."""
    topology = _find(cst.topologies(max_nodes=5), lambda t: True)
    assert isinstance(topology, cst.Topology)
    return topology


# -- valid by construction ---------------------------------------------------------------------------------


@QUICK
@given(cst.scenarios(max_nodes=4, max_faults=3))
def test_every_drawn_scenario_is_what_its_file_loads_to(scenario: Scenario) -> None:
    again = load_scenario_text(to_toml(scenario), "<written>")
    assert again == scenario
    assert content_hash(again) == content_hash(scenario)


@QUICK
@given(cst.topologies(max_nodes=4, api_users_per_node=2))
def test_topologies_pair_each_signer_with_one_node_at_a_site_of_its_enclave(topology: cst.Topology) -> None:
    served = [name for node in topology.nodes for name in node.api_users]
    assert len(served) == len(set(served)), "an API user is paired with two nodes"
    assert set(served) == set(topology.identities.signers)
    for node in topology.nodes:
        assert node.site in cst.SITES[node.enclave]
        assert node.api_users, "every generated node serves someone"
        assert node.name.startswith(node.enclave.value)
    assert {g.name for g in topology.groups} == {cst.COSIGNERS}


def _directory(scenario: Scenario) -> Directory:
    return Directory.from_scenario(scenario_to_dict(scenario, full=True))


@QUICK
@given(st.data())
def test_valid_policies_publish_and_broken_ones_fail_exactly_as_drawn(data: st.DataObject) -> None:
    scenario = data.draw(cst.scenarios(max_faults=0, policy=False))
    topology = cst.topology_of(scenario)
    case = data.draw(cst.policies(topology, include_invalid=True))
    directory = _directory(scenario)
    result = validate(load_policy({"rules": case.rule_dicts()}, directory, origin="<drawn>"), directory)
    if case.defect is None:
        assert result.ok, result.to_dict()
        return
    failures = {check.index: check.errors for check in result.results if check.errors}
    assert list(failures) == [case.defect.rule_index], result.to_dict()
    codes = {(e.code_name, e.field) for e in failures[case.defect.rule_index]}
    assert (case.defect.code_name, case.defect.field) in codes, result.to_dict()


def test_every_defect_can_be_drawn(plain: cst.Topology) -> None:
    topology = plain
    for code in cst.DEFECTS:
        case = _find(
            cst.policies(topology, include_invalid=True),  # type: ignore[arg-type]
            lambda c, code=code: c.defect is not None and c.defect.code_name == code,
        )
        assert case.defect.code_name == code  # type: ignore[attr-defined]


@QUICK
@given(st.data())
def test_fault_schedules_stay_inside_the_run_and_on_existing_targets(data: st.DataObject) -> None:
    topology = data.draw(cst.topologies(max_nodes=3))
    grain = data.draw(st.sampled_from([1.0, 10.0]))
    duration = float(data.draw(st.integers(int(grain) * 2, 3600)))
    earliest = float(data.draw(st.integers(0, int(duration - grain))))
    faults = data.draw(
        cst.fault_schedules(topology, duration=duration, max_faults=4, grain=grain, earliest=earliest)
    )
    assert list(faults) == sorted(faults, key=lambda f: f.at)
    names = {n.name for n in topology.nodes}
    for fault in faults:
        assert earliest <= fault.at < duration
        assert fault.action in cst.FAILURE_ACTIONS
        if fault.node is not None:
            assert fault.node in names
        if fault.site is not None:
            assert any(n.under(fault.site) for n in topology.nodes)
        if fault.for_ is not None:
            assert fault.for_ >= grain and fault.for_ % grain == 0


# -- shrinking -------------------------------------------------------------------------------------------


def test_topologies_shrink_to_one_plain_node(plain: cst.Topology) -> None:
    topology = plain
    assert len(topology.nodes) == 1
    node = topology.nodes[0]
    assert (node.enclave, node.site, node.standby) == (Enclave.NITRO, "aws/us-east-1/a", False)
    assert topology.callbacks == ()


def test_workloads_shrink_toward_few_small_transactions(plain: cst.Topology) -> None:
    drawn = _find(cst.workloads(plain, 600.0, max_workloads=3, max_count=9), lambda w: True)
    assert isinstance(drawn, tuple)
    (workload,) = drawn
    assert workload.amount_min == 0.01 and workload.count == 1


def test_policies_shrink_to_the_catch_all(plain: cst.Topology) -> None:
    case = _find(cst.policies(plain, max_rules=4), lambda c: True)
    assert isinstance(case, cst.PolicyCase)
    (rule,) = case.rule_dicts()
    assert rule["action"] == "ALLOW" and set(rule) == {"action", "designated_signers"}


def test_a_schedule_shrinks_to_one_late_short_crash() -> None:
    """What a failure needing 'some fault' shrinks to: one crash, as late as possible, as short as possible."""
    topology = _find(cst.topologies(min_nodes=2, max_nodes=2), lambda t: True)
    faults = _find(
        cst.fault_schedules(topology, duration=600.0, max_faults=3),  # type: ignore[arg-type]
        lambda fs: len(fs) >= 1,
    )
    assert len(faults) == 1  # type: ignore[arg-type]
    (fault,) = faults  # type: ignore[misc]
    assert fault.action == FaultAction.CRASH
    assert fault.node == topology.nodes[0].name  # type: ignore[attr-defined]
    assert (fault.at, fault.for_) == (599.0, 1.0)


def test_outages_shrink_to_the_shortest_that_still_fails(plain: cst.Topology) -> None:
    topology = plain
    faults = _find(
        cst.fault_schedules(topology, duration=3600.0, max_faults=2, grain=10.0),  # type: ignore[arg-type]
        lambda fs: any(f.for_ is None or f.for_ >= 120 for f in fs),
    )
    assert [(f.action, f.for_, f.at) for f in faults] == [(FaultAction.CRASH, 120.0, 3590.0)]  # type: ignore[attr-defined]


# -- composition and bad arguments ---------------------------------------------------------------------


def test_with_faults_keeps_everything_but_the_timeline(single_cosigner: Scenario) -> None:
    drawn = _find(cst.with_faults(single_cosigner, max_faults=2), lambda s: len(s.faults) == 2)
    assert isinstance(drawn, Scenario)
    keep = ("workspace", "nodes", "api_users", "policy", "workloads", "expect", "saas")
    for name in keep:
        assert getattr(drawn, name) == getattr(single_cosigner, name), name


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: cst.topologies(min_nodes=3, max_nodes=2), "min_nodes <= max_nodes"),
        (lambda: cst.topologies(enclaves=()), "at least one enclave"),
        (lambda: cst.workspaces(max_assets=9), "max_assets must be between"),
        (lambda: cst.scenarios(min_duration=10), "60 <= min_duration"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_fault_schedule_arguments_are_checked(plain: cst.Topology) -> None:
    topology = plain
    with pytest.raises(ValueError, match="needs the run's duration"):
        cst.fault_schedules(topology)
    with pytest.raises(ValueError, match="grain must be positive"):
        cst.fault_schedules(topology, duration=60, grain=0)
    with pytest.raises(ValueError, match="earliest must be in"):
        cst.fault_schedules(topology, duration=60, earliest=60)
    with pytest.raises(ValueError, match="failures only, not policy"):
        cst.fault_schedules(topology, duration=60, actions=[FaultAction.POLICY])
    with pytest.raises(ValueError, match="callback fault needs a callback handler"):
        cst.fault_schedules(topology, duration=60, actions=[FaultAction.CALLBACK])


# -- the property the strategies exist for -----------------------------------------------------------


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cst.scenarios(max_nodes=3, max_faults=2, max_count=3, max_rate_per_hour=20, max_duration=15 * 60))
def test_safety_and_liveness_hold_on_generated_scenarios(scenario: Scenario) -> None:
    result = simulate(scenario)
    assert_invariants(result, {**SAFETY, **liveness(scenario.saas)})


def test_gcp_nodes_pair_and_sign(plain: cst.Topology) -> None:
    gcp = dataclasses.replace(plain.nodes[0], name="gcp-a", enclave=Enclave.GCP, site="gcp/europe-west4/a")
    topology = dataclasses.replace(plain, nodes=(gcp,))
    workload = _find(cst.workloads(topology, 300.0), lambda w: True)
    scenario = cst.build_scenario(topology, duration=300.0, workloads=workload)  # type: ignore[arg-type]
    result = simulate(dataclasses.replace(scenario))
    assert result.report.passed
