"""The cluster benchmark's busy desk (benchmarks/scenarios/busy-desk.toml) is the workload issue 16 names.

`bench_cluster.py --against REV` times an earlier commit on this file, so it must stay what its header says:
the default topology for one simulated hour at one transfer a second, RS256 callbacks, one crash.
"""

from __future__ import annotations

from pathlib import Path

from cosigner_ha.cluster.scenario import FaultAction, load_scenario

BUSY_DESK = Path(__file__).resolve().parents[2] / "benchmarks" / "scenarios" / "busy-desk.toml"


def test_the_busy_desk_is_an_hour_of_one_transfer_a_second_with_one_crash() -> None:
    scenario = load_scenario(BUSY_DESK)
    assert scenario.scenario.duration == 3600.0
    (workload,) = scenario.workloads
    assert (workload.rate.count, workload.rate.unit) == (1.0, "s")
    assert [n.name for n in scenario.nodes] == ["nitro-a", "nitro-b", "sgx-dc1"]
    signers = {u.name: u.callback for u in scenario.api_users if u.role.value == "SIGNER"}
    assert signers == {"signer-a": "risk", "signer-b": "risk", "signer-c": "risk"}
    (fault,) = scenario.faults
    assert (fault.action, fault.node, fault.at, fault.for_) == (FaultAction.CRASH, "nitro-a", 1200.0, 300.0)
