"""Per-fault impact: measured from the transactions a fault touched, never from when the next one arrived."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from cosigner_ha.cluster.analysis import _max_failover
from cosigner_ha.cluster.impact import fault_impacts, losses
from cosigner_ha.cluster.report import FaultSpan, SignatureMark, TxPoint
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import Fault, FaultAction
from tests.cluster.test_bundled_scenarios import bundled


def done(t: float, latency: float, node: str) -> tuple[TxPoint, SignatureMark]:
    tx = f"tx-{t}"
    return TxPoint(t, t + latency, "COMPLETED", None, latency, node), SignatureMark(
        t + latency, node, tx, "u"
    )


def run_of(*txs: tuple[TxPoint, SignatureMark]) -> tuple[list[TxPoint], list[SignatureMark]]:
    return [p for p, _ in txs], sorted((s for _, s in txs), key=lambda s: s.t)


def test_a_crash_in_an_idle_gap_costs_nothing() -> None:
    points, sigs = run_of(done(0, 1, "a"), done(100, 1, "a"))
    crash = [FaultSpan(10.0, 11.0, "crash", "a", ("a",))]
    (impact,) = fault_impacts(crash, points, sigs)
    assert impact.idle and impact.outcome == "nothing waited" and impact.unavailable_seconds is None
    assert losses([impact]) == []
    assert _max_failover(60.0, []).ok


def test_a_transaction_arriving_long_after_a_crash_is_measured_from_its_arrival() -> None:
    # the old figure ran from the loss (t=10) to the next signature (t=91): 81 s of waiting for traffic
    points, sigs = run_of(done(0, 1, "a"), done(90, 1, "b"), done(200, 1, "b"))
    crash = [FaultSpan(10.0, None, "crash", "a", ("a",))]
    (impact,) = fault_impacts(crash, points, sigs)
    assert (impact.in_flight, impact.arrived) == (0, 1)
    assert impact.unavailable_seconds == 1.0 and impact.took_over and impact.outcome == "b took over"
    assert impact.moved == 1 and _max_failover(60.0, losses([impact])).ok


def test_an_outage_of_two_of_three_nodes_appears_with_its_impact_even_if_the_third_signed_last() -> None:
    points, sigs = run_of(done(0, 1, "c"), done(5, 20, "c"), done(30, 1, "c"))
    outage = [FaultSpan(10.0, 50.0, "site-outage", "aws", ("a", "b"))]
    (impact,) = fault_impacts(outage, points, sigs)
    assert impact.in_flight == 1 and impact.outcome == "c kept signing" and not impact.took_over
    assert impact.unavailable_seconds == 15.0 and impact.moved == 0
    assert len(losses([impact])) == 1


def test_a_node_that_comes_back_by_itself_is_reported_so_and_its_downtime_counts() -> None:
    points, sigs = run_of(done(0, 1, "a"), done(20, 40, "a"), done(100, 1, "a"))
    crash = [FaultSpan(10.0, 55.0, "crash", "a", ("a",))]
    (impact,) = fault_impacts(crash, points, sigs)
    assert impact.self_recovered and impact.outcome == "a recovered by itself"
    assert impact.unavailable_seconds == 40.0
    # the fault-free latency is the median of the untouched ones (1 s): 39 s were added
    assert impact.added_latency_max == 39.0
    check = _max_failover(30.0, losses([impact]))
    assert not check.ok and "a recovered by itself after 40.0 s" in check.detail


def test_failed_and_cancelled_transactions_are_counted_against_the_fault() -> None:
    points, sigs = run_of(done(0, 1, "a"))
    points += [
        TxPoint(12.0, 90.0, "FAILED", "TIMEOUT", None, None),
        TxPoint(13.0, 95.0, "CANCELLED", None, None, None),
        TxPoint(14.0, 14.0, "BLOCKED", "BLOCKED_BY_POLICY", None, None),
    ]
    crash = [FaultSpan(10.0, None, "crash", "a", ("a",))]
    (impact,) = fault_impacts(crash, points, sigs)
    assert (impact.arrived, impact.failed, impact.cancelled) == (2, 1, 1)
    assert impact.resumed_by is None and impact.outcome == "nobody signed again"
    check = _max_failover(60.0, losses([impact]))
    assert not check.ok and "nobody signed again" in check.detail


@given(
    st.lists(st.tuples(st.floats(0, 1000), st.floats(0.1, 5)), min_size=1, max_size=20),
    st.floats(0, 1000),
)
def test_a_fault_is_idle_exactly_when_no_transaction_was_open_or_arrived_while_it_lasted(
    txs: list[tuple[float, float]], at: float
) -> None:
    points, sigs = run_of(*(done(t, lat, "a") for t, lat in txs))
    (impact,) = fault_impacts([FaultSpan(at, at + 1, "crash", "a", ("a",))], points, sigs)
    resumed = min((sig.t for sig in sigs if sig.t > at), default=float("inf"))
    touched = [
        p
        for p in points
        if p.t_submitted <= at < (p.t_terminal or 0) or at < p.t_submitted <= min(at + 1, resumed)
    ]
    assert impact.idle == (not touched)
    if not impact.idle:
        # never longer than the longest wait a touched transaction had
        assert impact.unavailable_seconds is not None
        assert impact.unavailable_seconds <= max(p.latency or 0 for p in touched) + 1e-6


def test_a_one_second_crash_of_the_only_node_while_nothing_waits_does_not_break_max_failover() -> None:
    # the explorer once reported this as "breaks max_failover at 120 s": no transaction was delayed
    base = bundled("single-cosigner")
    scenario = dataclasses.replace(base, scenario=dataclasses.replace(base.scenario, duration=900.0))
    txs = run_scenario(scenario, seed=99).report.transactions
    # a second in a quiet stretch: nothing open, nothing arriving for the next 30 s
    quiet = next(
        p.t_terminal + 1.0
        for p in txs
        if p.t_terminal is not None
        and not any(q.t_submitted <= p.t_terminal + 1.0 < (q.t_terminal or 1e9) for q in txs)
        and not any(p.t_terminal < q.t_submitted <= p.t_terminal + 31.0 for q in txs)
    )
    crash = Fault(at=round(quiet, 3), action=FaultAction.CRASH, node="nitro-a", for_=1.0)
    crashed = run_scenario(dataclasses.replace(scenario, faults=(crash,)), seed=99).report
    assert crashed.expectations["max_failover"].ok, crashed.expectations["max_failover"]
    (impact,) = crashed.impacts
    assert impact.idle and crashed.failovers == ()


def test_an_outage_of_several_nodes_is_one_row_with_its_impact_in_every_output() -> None:
    """A site outage that takes two of three nodes is one fault: one impact, naming both nodes, in the
    report, the `--json` fault_impacts and the terminal table (issue 19 item 6)."""
    import json

    from rich.console import Console

    from cosigner_ha.cluster.report import render_summary, report_json_text
    from tests.cluster.runs import run, scenario_dict

    data = scenario_dict([{"at": "5m", "action": "site-outage", "site": "aws", "for": "5m"}])
    data["api_users"].append({"name": "sc", "role": "SIGNER"})
    data["nodes"] = [
        {"name": "a", "enclave": "nitro", "site": "aws/us-east-1/a", "api_users": ["sa"]},
        {"name": "c", "enclave": "nitro", "site": "aws/us-east-1/b", "api_users": ["sc"]},
        {"name": "b", "enclave": "sgx", "site": "onprem/dc1", "api_users": ["sb"]},
    ]
    data["scenario"] = {**data["scenario"], "duration": "15m"}
    report = run(data).report
    (impact,) = report.impacts
    assert impact.nodes == ("a", "c") and impact.label == "site-outage aws"
    assert impact.in_flight + impact.arrived > 0 and impact.unavailable_seconds is not None
    (entry,) = json.loads(report_json_text(report))["fault_impacts"]
    assert entry["nodes"] == ["a", "c"] and entry["unavailable_seconds"] == impact.unavailable_seconds
    console = Console(record=True, width=80, color_system=None)
    render_summary(report, console)
    table = console.export_text().split("fault impact")[1].split("invariants and expectations")[0]
    assert table.count("site-outage") == 1
