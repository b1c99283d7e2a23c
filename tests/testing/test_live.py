"""The live cluster: one simulation driven step by step, the same as `run_scenario` when only time passes."""

from __future__ import annotations

import dataclasses

import pytest

from cosigner_ha.cluster.live import LiveCluster, LiveClusterError
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import CallbackFaultMode, Fault, FaultAction, Scenario, ScriptedCallback
from cosigner_ha.cluster.world import WorldError
from cosigner_ha.testing.invariants import SAFETY, assert_invariants

TX = {
    "initiator": "ops",
    "asset": "ETH",
    "amount": 1.0,
    "source": "vault:hot",
    "destination": "wallet:partner-a",
}


def _quiet(scenario: Scenario) -> Scenario:
    """The baseline without its workload: transactions come from the steps."""
    return dataclasses.replace(scenario, workloads=())


def test_advancing_through_the_duration_replays_run_scenario_byte_for_byte(single_cosigner: Scenario) -> None:
    expected = run_scenario(single_cosigner, keep_events=True)
    cluster = LiveCluster(single_cosigner)
    cluster.advance(single_cosigner.scenario.duration)
    result = cluster.finish()
    assert result.report.trace_hash == expected.report.trace_hash
    assert len(result.events) == len(expected.events)
    assert cluster.finish() is result  # finishing twice gives the same result


def test_steps_change_the_running_simulation(single_cosigner: Scenario) -> None:
    with LiveCluster(_quiet(single_cosigner)) as cluster:
        assert cluster.now == 0.0 and cluster.node_state("nitro-a") == "running"
        first = cluster.submit(**TX)
        cluster.advance(30)
        assert cluster.world.saas.transaction(str(first)).status.value == "COMPLETED"
        crash = cluster.inject(Fault(0.0, FaultAction.CRASH, node="nitro-a"))
        assert cluster.node_state("nitro-a") != "running"
        assert cluster.active_faults == {crash: Fault(0.0, FaultAction.CRASH, node="nitro-a")}
        second = cluster.submit(**TX)
        cluster.advance(120)
        assert cluster.world.saas.transaction(str(second)).status.value != "COMPLETED"
        cluster.end_fault(crash)
        cluster.advance(300)
        assert cluster.node_state("nitro-a") == "running"
        assert cluster.world.saas.transaction(str(second)).status.value == "COMPLETED"
        assert cluster.now == pytest.approx(450.0)
        assert_invariants(cluster.events, SAFETY)
        result = cluster.finish()
    kinds = [(e.kind, e.fields.get("action")) for e in result.events if e.kind in ("fault", "fault_end")]
    assert kinds == [("fault", "crash"), ("fault_end", "crash")]
    assert result.report.by_status == {"COMPLETED": 2}
    assert result.report.passed is False  # the only node was lost: no other node signed afterwards
    assert not result.report.expectations["max_failover"].ok


def test_a_fault_with_for_is_undone_after_that_long(single_cosigner: Scenario) -> None:
    with LiveCluster(_quiet(single_cosigner)) as cluster:
        index = cluster.inject(Fault(0.0, FaultAction.PARTITION, node="nitro-a", for_=60.0))
        cluster.advance(59)
        assert index in cluster.active_faults
        cluster.advance(2)
        assert index not in cluster.active_faults
        ends = [e for e in cluster.events if e.kind == "fault_end"]
        assert [(e.t - ends[0].t, e.fields["index"]) for e in ends] == [(0.0, index)]
        with pytest.raises(LiveClusterError, match=f"fault {index} is not active"):
            cluster.end_fault(index)


def test_a_refused_submission_returns_none_and_is_in_the_trace(single_cosigner: Scenario) -> None:
    with LiveCluster(_quiet(single_cosigner)) as cluster:
        assert cluster.submit(**{**TX, "initiator": "nobody"}) is None
        assert any(e.kind == "submission_refused" for e in cluster.events)


def test_bad_steps_and_closed_clusters_say_what_is_wrong(single_cosigner: Scenario) -> None:
    cluster = LiveCluster(_quiet(single_cosigner))
    with pytest.raises(LiveClusterError, match="negative time"):
        cluster.advance(-1)
    cluster.advance(5)
    cluster.close()
    cluster.close()  # twice is harmless
    with pytest.raises(LiveClusterError, match="finished or closed"):
        cluster.advance(1)
    # the abandoned simulation left trio as it was: another one runs
    assert run_scenario(dataclasses.replace(single_cosigner, faults=())).report.passed


def test_callback_faults_and_their_end(single_cosigner: Scenario) -> None:
    scenario = dataclasses.replace(
        _quiet(single_cosigner),
        callbacks=(ScriptedCallback("risk"),),
        api_users=tuple(
            dataclasses.replace(u, callback="risk") if u.name == "signer-a" else u
            for u in single_cosigner.api_users
        ),
    )
    with LiveCluster(scenario) as cluster:
        index = cluster.inject(
            Fault(0.0, FaultAction.CALLBACK, callback="risk", mode=CallbackFaultMode.REJECT)
        )
        rejected = cluster.submit(**TX)
        cluster.advance(60)
        cluster.end_fault(index)
        approved = cluster.submit(**TX)
        cluster.advance(60)
        statuses = [cluster.world.saas.transaction(str(tx)).status.value for tx in (rejected, approved)]
        assert statuses == ["REJECTED", "COMPLETED"]
        assert_invariants(cluster.events, SAFETY)


def test_a_world_that_cannot_be_built_raises_from_the_constructor(single_cosigner: Scenario) -> None:
    from cosigner_ha.cluster.scenario import PythonCallback

    scenario = dataclasses.replace(
        single_cosigner,
        callbacks=(PythonCallback("risk", "no_such_module_here:decide"),),
        api_users=tuple(
            dataclasses.replace(u, callback="risk") if u.name == "signer-a" else u
            for u in single_cosigner.api_users
        ),
    )
    with pytest.raises(WorldError, match="no_such_module_here"):
        LiveCluster(scenario)


def test_a_total_loss_fault_cuts_the_node_off_like_a_partition(single_cosigner: Scenario) -> None:
    scenario = dataclasses.replace(
        single_cosigner, faults=(Fault(60.0, FaultAction.LOSS, node="nitro-a", ratio=1.0, for_=60.0),)
    )
    report = run_scenario(scenario).report
    assert all(check.ok for check in report.invariants.values()), report.invariants
    (span,) = report.faults
    assert span.action == "loss" and span.end == span.start + 60.0
    assert report.signatures, "the scenario signs transactions, before or after the cut"
    assert all(not (span.start < s.t < span.end) for s in report.signatures)  # nothing signed while cut off
