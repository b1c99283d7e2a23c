"""The fault timeline: same-time faults in file order, and overlapping faults that nest."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from tests.cluster.runs import MINUTE, Run, run, run_faults, scenario_dict
from tests.cluster.test_faults import all_completed, outcomes_by_submission, probe_round_trips


def crash(at: str, node: str = "a", **more: Any) -> dict[str, Any]:
    return {"at": at, "action": "crash", "node": node, **more}


def boots(r: Run, node: str) -> list[float]:
    return [t for t, state, _ in r.states(node) if state == "booting"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_faults_at_the_same_time_take_effect_in_file_order(seed: int) -> None:
    faults = [{"at": "5m", "action": "latency", "node": "a", "amount": f"{i + 1}s"} for i in range(6)]
    r = run(scenario_dict(faults, scenario={"duration": "6m", "seed": seed}))
    assert [e.fields["index"] for e in r.of("fault")] == [0, 1, 2, 3, 4, 5]


def test_a_restart_after_a_crash_at_the_same_instant_brings_the_node_back() -> None:
    r = run_faults(crash("5m"), {"at": "5m", "action": "restart", "node": "a"})
    assert [s for _, s, _ in r.states("a")][:3] == ["crashed", "booting", "running"]
    assert r.signed("a", 5 * MINUTE + 1) > 0


def test_a_crash_after_a_restart_at_the_same_instant_keeps_the_node_down() -> None:
    r = run_faults({"at": "5m", "action": "restart", "node": "a"}, crash("5m"))
    states = [s for _, s, _ in r.states("a")]
    # with nothing to drain the stop ends at once, and the boot may begin before the crash lands
    assert states[:2] == ["draining", "stopped"] and states[-1] == "crashed", states
    assert set(states[2:-1]) <= {"booting"}, states
    unlocked = [e for e in r.of("node_boot", node="a") if r.at(e) >= 5 * MINUTE]
    assert unlocked == [], "the restart's boot does not override the crash"
    assert r.signed("a", 5 * MINUTE + 1) == 0
    all_completed(r)


def test_a_node_crashed_twice_over_boots_when_the_last_fault_ends() -> None:
    r = run_faults(
        crash("5m", **{"for": "10m"}),
        {"at": "8m", "action": "site-outage", "site": "aws", "for": "2m"},
    )
    assert boots(r, "a") == [15 * MINUTE]
    assert r.signed("a", 5 * MINUTE + 1, 15 * MINUTE) == 0
    assert r.signed("a", 15 * MINUTE) > 0
    all_completed(r)


def test_a_restart_boots_a_crashed_node_and_the_crash_ending_later_changes_nothing() -> None:
    r = run_faults(crash("5m", **{"for": "10m"}), {"at": "8m", "action": "restart", "node": "a"})
    assert boots(r, "a") == [8 * MINUTE]
    assert r.signed("a", 8 * MINUTE) > 0
    all_completed(r)


def test_overlapping_latency_faults_add_up_and_each_end_removes_only_its_own() -> None:
    r = run_faults(
        {"at": "5m", "action": "latency", "node": "a", "amount": "2s", "for": "10m"},
        {"at": "8m", "action": "latency", "link": ["saas", "a"], "amount": "3s", "for": "2m"},
    )
    both = probe_round_trips(r, "a", 8 * MINUTE + 10, 10 * MINUTE - 20)
    outer = probe_round_trips(r, "a", 10 * MINUTE + 10, 15 * MINUTE - 20)
    after = probe_round_trips(r, "a", 15 * MINUTE + 10, 20 * MINUTE)
    assert both and min(both) >= 10.0
    assert outer and min(outer) >= 4.0 and statistics.median(outer) < 5.0
    assert after and max(after) < 0.5


def test_overlapping_clock_skews_add_up() -> None:
    # five minutes alone keeps the access token usable; ten make it look expired before every request
    r = run_faults(
        {"at": "5m", "action": "clock-skew", "node": "a", "skew": "+5m", "for": "10m"},
        {"at": "8m", "action": "clock-skew", "site": "aws", "skew": "+5m", "for": "2m"},
    )
    refreshes = {
        span: len(r.between("token_refreshed", start * MINUTE, stop * MINUTE, node="a"))
        for span, (start, stop) in {"one": (10.1, 15), "both": (8.1, 10)}.items()
    }
    assert refreshes["both"] > 5 and refreshes["one"] <= 2, refreshes


def test_the_latest_callback_fault_decides_and_the_earlier_one_resumes_when_it_ends() -> None:
    r = run_faults(
        {"at": "5m", "action": "callback", "callback": "cb", "mode": "retry", "for": "10m"},
        {"at": "8m", "action": "callback", "callback": "cb", "mode": "reject", "for": "2m"},
        callback={"latency": "100ms"},
    )
    assert set(outcomes_by_submission(r, 8 * MINUTE + 1, 10 * MINUTE - 1)) == {"REJECTED/REJECTED_BY_USER"}
    later = outcomes_by_submission(r, 10 * MINUTE + 1, 15 * MINUTE - 1)
    assert set(later) == {"COMPLETED/None"}
    retried = {e.fields["tx"] for e in r.between("callback_response", 10 * MINUTE + 1, 15 * MINUTE)}
    assert retried and {
        e.fields["action"] for e in r.of("callback_response") if e.fields["tx"] in retried
    } >= {
        "RETRY",
        "APPROVE",
    }
    assert r.report.invariants["signed_with_callback_approval"].ok


def test_an_attestation_fault_on_a_node_that_is_down_waits_for_its_next_boot() -> None:
    r = run_faults(crash("5m", **{"for": "10m"}), {"at": "8m", "action": "attestation", "node": "a"})
    states = r.states("a")
    assert [s for t, s, _ in states if t < 15 * MINUTE] == ["crashed"], "no restart while it is down"
    failed = [why for t, s, why in states if s == "failed"]
    assert failed and all("tampered" in why for why in failed) and min(boots(r, "a")) == 15 * MINUTE
    assert r.signed("a", 5 * MINUTE + 1) == 0
    all_completed(r)
