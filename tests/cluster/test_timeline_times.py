"""The timeline as the file says it (issue 19 item 4): trace times count from the scenario's start, so `t`
lines up with `at` (set-up before it is negative); instant faults are instants; labels name mode and
amount."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from cosigner_ha.cluster.report import render_summary
from cosigner_ha.cluster.report.html import figure_dict
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import scenario_from_dict
from tests.cluster.runs import scenario_dict

FAULTS = [
    {"at": "2m", "action": "crash", "node": "a", "for": "1m"},
    {"at": "3m", "action": "restart", "node": "b"},
    {"at": "4m", "action": "clock-skew", "node": "b", "skew": "5m", "for": "1m"},
    {"at": "5m", "action": "callback", "callback": "cb", "mode": "timeout", "for": "30s"},
]


def test_trace_times_count_from_the_scenario_start_and_setup_is_negative(tmp_path: Path) -> None:
    data = scenario_dict(FAULTS, callback={"latency": "50ms"})
    data["scenario"] = {**data["scenario"], "duration": "7m"}
    path = tmp_path / "t.jsonl"
    result = run_scenario(scenario_from_dict(data), trace_path=path, keep_events=True)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["kind"] == "header"
    events = lines[1:]
    (start,) = [e for e in events if e["kind"] == "scenario_start"]
    assert start["t"] == 0.0 and start["setup_seconds"] > 0
    before = events[: events.index(start)]
    assert before and all(e["t"] <= 0 for e in before) and before[0]["t"] < 0
    assert min(e["t"] for e in before) >= -start["setup_seconds"] - 1e-6
    assert [e["t"] for e in events if e["kind"] == "fault"] == [120.0, 180.0, 240.0, 300.0]  # the file's `at`
    assert [e["t"] for e in events if e["kind"] == "fault_end"] == [180.0, 300.0, 330.0]
    # the file, the kept events and the hash agree
    assert [e.t for e in result.events] == [e["t"] for e in events]
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == result.report.trace_hash

    report = result.report
    labels = [f.label for f in report.faults]
    assert labels == ["crash a", "restart b", "clock-skew b +5m", "callback cb: timeout"]
    restart = report.faults[1]
    assert restart.instant and restart.end == restart.start == 180.0
    assert [f.to_json()["instant"] for f in report.faults] == [False, True, False, False]

    console = Console(width=80, record=True, color_system=None)
    render_summary(report, console)
    out = console.export_text()
    assert "0:03:00 restart b" in out and "restart b –end" not in out and "–end" not in out
    assert "0:04:00–0:05:00 clock-skew b +5m" in out

    layout = figure_dict(report)["layout"]
    assert [s["x0"] for s in layout["shapes"] if s["type"] == "line"] == [3.0, 3.0]  # minutes, both panels
    texts = [a["text"] for a in layout["annotations"]]
    assert "restart b" in texts and not any("to the end" in t for t in texts)
