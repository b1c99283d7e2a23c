"""The report model: the `--json` report's exact keys, atomic writing, and nearest-rank percentiles.

`sample_report()` is the report of a plausible run of the active-active-passive scenario (two Nitro nodes
in two AWS zones, an SGX standby on premises, a crash and a region outage); the renderer tests draw it.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosigner_ha.cluster.report import (
    JSON_KEYS,
    Check,
    Failover,
    FaultSpan,
    LatencyStats,
    NodeLane,
    RunReport,
    SignatureMark,
    TxPoint,
    latency_stats,
    write_json,
)
from cosigner_ha.env import files as atomic_module

HOUR = 3600.0
DOWN = {
    "nitro-a": ((1800.0, 2700.0), (3600.0, 6000.0)),
    "nitro-b": ((3600.0, 6000.0),),
    "sgx-dc1": (),
}


def _down(node: str, t: float) -> bool:
    return any(start <= t < end for start, end in DOWN[node])


def sample_report(seed: int = 7, duration: float = 6 * HOUR, rate_per_minute: float = 2.0) -> RunReport:
    """A report as the runner would fill it for the documented example scenario (seeded, no wall clock)."""
    rng = random.Random(seed)
    lanes = (
        NodeLane("nitro-a", "nitro", "aws/us-east-1/a", False, DOWN["nitro-a"]),
        NodeLane("nitro-b", "nitro", "aws/us-east-1/b", False, DOWN["nitro-b"]),
        NodeLane("sgx-dc1", "sgx", "onprem/dc1", True, DOWN["sgx-dc1"]),
    )
    faults = (
        FaultSpan(1800.0, 2700.0, "crash", "nitro-a", ("nitro-a",)),
        FaultSpan(3600.0, 6000.0, "site-outage", "aws/us-east-1", ("nitro-a", "nitro-b")),
        FaultSpan(7200.0, 8100.0, "latency", "nitro-b↔saas", ("nitro-b",)),
        FaultSpan(9000.0, 9600.0, "callback", "risk", ()),
        FaultSpan(14400.0, None, "clock-skew", "sgx-dc1", ("sgx-dc1",)),
        FaultSpan(18000.0, 18000.0, "pair", "nitro-b", ("nitro-b",)),
    )
    points: list[TxPoint] = []
    marks: list[SignatureMark] = []
    t = 0.0
    n = 0
    while True:
        t += rng.expovariate(rate_per_minute / 60.0)
        if t >= duration:
            break
        n += 1
        tx = f"tx-{n:05d}"
        roll = rng.random()
        if roll < 0.01:
            points.append(TxPoint(t, t + 0.2, "REJECTED", "REJECTED_BY_CALLBACK", None, "nitro-a"))
            continue
        if roll < 0.015:
            points.append(TxPoint(t, t, "BLOCKED", "BLOCKED_BY_POLICY", None, None))
            continue
        active = [name for name in ("nitro-a", "nitro-b") if not _down(name, t)]
        node = rng.choice(active) if active else "sgx-dc1"
        latency = 0.3 + rng.expovariate(3.0)
        if any(0 <= t - start < 60 for spans in DOWN.values() for start, _ in spans):
            latency += rng.uniform(3.0, 45.0)  # in flight when its node went down: probe, failover
        if 7200 <= t < 8100 and node == "nitro-b":
            latency += 0.8
        if 9000 <= t < 9600:
            latency += 180.0 * rng.randint(1, 3)  # the callback handler answered RETRY
        done = t + latency
        points.append(TxPoint(t, done, "COMPLETED", None, latency, node))
        marks.append(
            SignatureMark(
                done, node, tx, {"nitro-a": "signer-a", "nitro-b": "signer-b"}.get(node, "signer-c")
            )
        )
    by_status: dict[str, int] = {}
    by_sub: dict[str, int] = {}
    signed_by = {lane.name: 0 for lane in lanes}
    for p in points:
        by_status[p.status] = by_status.get(p.status, 0) + 1
        if p.sub_status:
            by_sub[p.sub_status] = by_sub.get(p.sub_status, 0) + 1
    for m in marks:
        signed_by[m.node] += 1
    stats = latency_stats(p.latency for p in points if p.latency is not None)
    completed = by_status.get("COMPLETED", 0) / len(points)
    return RunReport(
        scenario="active-active-passive",
        seed=seed,
        trace_hash="3f2a9c1b7e0245d8a1c3e5f7091b2d4f6a8c0e2f4b6d8f0a1c3e5a7b9d1f3e5c",
        simulated_seconds=duration,
        wall_seconds=1.84,
        transactions_total=len(points),
        by_status=by_status,
        by_sub_status=by_sub,
        latency=stats,
        signed_by=signed_by,
        failovers=(
            Failover(1800.0, "nitro-a", "nitro-b", 3.1),
            Failover(3600.0, "nitro-b", "sgx-dc1", 4.25),
        ),
        invariants={
            "all_terminal": Check(True, f"{len(points)} of {len(points)} terminal"),
            "no_double_sign": Check(True, "at most one signature per transaction"),
            "no_nonce_reuse": Check(True, "no nonce used twice"),
        },
        expectations={
            "min_completed_ratio": Check(completed >= 0.98, f"{completed:.3f} completed, expected >= 0.98"),
            "max_failover": Check(True, "longest gap 4.25 s, expected <= 1m"),
            "window[0] 1h..1h40m signed_by": Check(True, "every signature from sgx-dc1"),
        },
        passed=completed >= 0.98,
        lanes=lanes,
        faults=faults,
        signatures=tuple(sorted(marks, key=lambda m: m.t)),
        transactions=tuple(points),
    )


# -- to_json ------------------------------------------------------------------------------------------


def test_to_json_has_exactly_the_design_keys_in_order() -> None:
    data = sample_report().to_json()
    assert tuple(data) == JSON_KEYS
    assert set(data["transactions"]) == {"total", "by_status", "by_sub_status", "by_cause", "failures"}
    assert set(data["latency_seconds"]) == {"p50", "p90", "p99", "max"}
    assert all(set(f) == {"at", "from", "to", "gap_seconds"} for f in data["failovers"])
    for section in ("invariants", "expectations"):
        assert all(set(c) == {"ok", "detail"} for c in data[section].values())


def test_to_json_carries_the_figures() -> None:
    report = sample_report()
    data = report.to_json()
    assert data["scenario"] == "active-active-passive"
    assert data["seed"] == 7
    assert data["trace_hash"] == report.trace_hash
    assert data["transactions"]["total"] == len(report.transactions)
    assert sum(data["transactions"]["by_status"].values()) == len(report.transactions)
    assert data["signed_by"] == {
        "nitro-a": report.signed_by["nitro-a"],
        "nitro-b": report.signed_by["nitro-b"],
        "sgx-dc1": report.signed_by["sgx-dc1"],
    }
    assert data["failovers"][1] == {"at": 3600.0, "from": "nitro-b", "to": "sgx-dc1", "gap_seconds": 4.25}
    assert data["latency_seconds"]["p50"] == report.latency.p50
    assert data["invariants"]["no_double_sign"] == {
        "ok": True,
        "detail": "at most one signature per transaction",
    }
    assert data["passed"] is report.passed
    # nothing drawn leaks into the JSON report
    assert "lanes" not in json.dumps(data) and "tx-00001" not in json.dumps(data)


def test_a_failover_nobody_took_over_and_missing_latency_are_null() -> None:
    report = replace(
        sample_report(),
        failovers=(Failover(10.0, "nitro-a", None, None),),
        latency=LatencyStats(None, None, None, None),
    )
    data = json.loads(json.dumps(report.to_json()))
    assert data["failovers"] == [{"at": 10.0, "from": "nitro-a", "to": None, "gap_seconds": None}]
    assert data["latency_seconds"] == {"p50": None, "p90": None, "p99": None, "max": None}


def test_non_finite_numbers_are_refused_naming_the_key() -> None:
    report = replace(sample_report(), failovers=(Failover(10.0, "nitro-a", "nitro-b", math.inf),))
    with pytest.raises(ValueError, match=r"failovers\[0\]\.gap_seconds is inf"):
        report.to_json()
    report = replace(sample_report(), latency=LatencyStats(math.nan, 1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match=r"latency_seconds\.p50 is nan"):
        report.to_json()


def test_speedup_and_failed_checks() -> None:
    report = sample_report()
    assert report.speedup == pytest.approx(6 * HOUR / 1.84)
    assert replace(report, wall_seconds=0.0).speedup is None
    failing = replace(
        report,
        invariants={**report.invariants, "no_double_sign": Check(False, "tx-00003 signed twice")},
        expectations={**report.expectations, "max_failover": Check(False, "gap 2m")},
    )
    assert failing.failed_checks() == ["no_double_sign", "max_failover"]


def test_node_names_keep_lane_order_then_nodes_known_only_from_signatures() -> None:
    report = replace(
        sample_report(),
        signed_by={"zeta": 1, "nitro-b": 2},
        signatures=(SignatureMark(1.0, "omega", "tx", "u"),),
    )
    assert report.node_names() == ["nitro-a", "nitro-b", "sgx-dc1", "zeta", "omega"]


# -- write_json ---------------------------------------------------------------------------------------


def test_write_json_writes_the_report(tmp_path: Path) -> None:
    report = sample_report()
    path = write_json(report, tmp_path / "run.json")
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == report.to_json()
    assert text.endswith("}\n")
    assert os.listdir(tmp_path) == ["run.json"]


def test_write_json_leaves_the_old_file_whole_when_the_report_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"old": true}\n', encoding="utf-8")
    bad = replace(sample_report(), latency=LatencyStats(math.inf, None, None, None))
    with pytest.raises(ValueError, match=r"latency_seconds\.p50"):
        write_json(bad, path)
    assert path.read_text(encoding="utf-8") == '{"old": true}\n'
    assert os.listdir(tmp_path) == ["run.json"]


def test_write_json_leaves_the_old_file_whole_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"old": true}\n', encoding="utf-8")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_module.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_json(sample_report(), path)
    assert path.read_text(encoding="utf-8") == '{"old": true}\n'
    assert os.listdir(tmp_path) == ["run.json"]  # the temporary file is gone too


def test_write_json_into_a_missing_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_json(sample_report(), tmp_path / "nope" / "run.json")


# -- latency_stats ------------------------------------------------------------------------------------


def _nearest_rank(values: list[float], p: int) -> float:
    """The definition, literally: the smallest value with at least p% of the values at or below it."""
    return min(v for v in values if sum(1 for w in values if w <= v) * 100 >= p * len(values))


latencies = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=300
)


@given(latencies)
def test_latency_stats_is_the_nearest_rank_percentile(values: list[float]) -> None:
    stats = latency_stats(values)
    assert stats.p50 == _nearest_rank(values, 50)
    assert stats.p90 == _nearest_rank(values, 90)
    assert stats.p99 == _nearest_rank(values, 99)
    assert stats.max == max(values)


@given(latencies)
def test_latency_stats_are_ordered_values_of_the_data(values: list[float]) -> None:
    stats = latency_stats(values)
    ordered = [stats.p50, stats.p90, stats.p99, stats.max]
    assert all(v in values for v in ordered)
    assert ordered == sorted(ordered)  # type: ignore[type-var]


def test_latency_stats_small_cases() -> None:
    assert latency_stats([]) == LatencyStats(None, None, None, None)
    assert latency_stats([4.0]) == LatencyStats(4.0, 4.0, 4.0, 4.0)
    hundred = [float(i) for i in range(1, 101)]
    assert latency_stats(reversed(hundred)) == LatencyStats(50.0, 90.0, 99.0, 100.0)
    assert latency_stats([1.0, 2.0]) == LatencyStats(1.0, 2.0, 2.0, 2.0)


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ([1.0, -0.5], ValueError, r"latency 1 is -0.5; expected a finite number of seconds >= 0"),
        ([math.nan], ValueError, r"latency 0 is nan"),
        ([1.0, 2.0, math.inf], ValueError, r"latency 2 is inf"),
        ([1.0, "2s"], TypeError, r"latency 1 is '2s'; expected a number of seconds"),
        ([None], TypeError, r"latency 0 is None"),
    ],
)
def test_latency_stats_refuses_what_is_not_a_latency(
    values: list[object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        latency_stats(values)  # type: ignore[arg-type]
