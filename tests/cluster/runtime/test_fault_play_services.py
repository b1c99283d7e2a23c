"""Faults the runtime plays through a service rather than a signal or a link: a callback fault through
`callback serve`'s control API (the handler answers REJECT, the transactions of that minute are
rejected as in simulation) and a clock skew through the node's admin socket (an hour ahead, every token
looks expired to the node, which refreshes before every request until the skew ends); and what stays
refused, with the reason and the key path, before anything starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.runtime.fault_play import refusals
from cosigner_ha.cluster.scenario import load_scenario

SCENARIOS = Path(__file__).parent / "scenarios"
CALLBACK_SKEW = SCENARIOS / "callback_skew.toml"
DRILL = SCENARIOS / "drill.toml"
COMMAND = [sys.executable, "-m", "cosigner_ha.cli", "run"]


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def _report(tmp_path: Path, *runtime: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out, trace = tmp_path / "r.json", tmp_path / "t.jsonl"
    done = subprocess.run(
        [*COMMAND, str(CALLBACK_SKEW), *runtime, "--json", str(out), "--trace", str(trace)],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "120"},
        timeout=200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    return json.loads(out.read_text()), _events(trace)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_callback_fault_and_a_clock_skew_play_on_processes_as_in_simulation(tmp_path: Path) -> None:
    (tmp_path / "sim").mkdir()
    simulated, _ = _report(tmp_path / "sim")
    report, events = _report(tmp_path, "--runtime", "--time-scale", "60")
    assert report["mode"] == "runtime" and report["passed"]
    assert report["invariants"]["signatures_verify"]["ok"]
    statuses = report["transactions"]["by_status"]
    assert statuses.get("REJECTED", 0) > 0 and statuses.get("COMPLETED", 0) > 0
    expected = simulated["transactions"]["by_status"]["REJECTED"]
    assert abs(statuses["REJECTED"] - expected) <= 3, "about the same minute of rejections (real timing)"

    def at(kind: str, **fields: Any) -> list[float]:
        return [e["t"] for e in events if e["kind"] == kind and all(e.get(k) == v for k, v in fields.items())]

    modes = [(e["process"], e["mode"]) for e in events if e["kind"] == "callback_fault_set"]
    assert modes == [("callback-risk", "reject"), ("callback-risk", None)]
    skews = [(e["process"], e["seconds"]) for e in events if e["kind"] == "clock_skew"]
    assert skews == [("sgx-b", 3600.0), ("sgx-b", 0.0)]
    (began,), (ended,) = at("fault", action="clock-skew"), at("fault_end", action="clock-skew")
    refreshed = at("token_refreshed", node="sgx-b")
    inside = [t for t in refreshed if began <= t <= ended + 5]
    assert len(inside) > 5, "an hour ahead, the node refreshes its access token before every request"
    assert len(refreshed) - len(inside) <= 2, "before and after the skew, one token lasts"


def _refused(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return refusals(load_scenario(path))


def test_callback_faults_and_clock_skews_on_scripted_handlers_are_not_refused() -> None:
    assert refusals(load_scenario(CALLBACK_SKEW)) == []


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            'action = "disk-loss"\nnode = "sgx-b"\nbackup = true\n',
            "faults[3].action = 'disk-loss': the runtime cannot play this fault yet: wiping",
        ),
        (
            'action = "attestation"\nnode = "sgx-b"\nfor = "1m"\n',
            "faults[3].action = 'attestation': the runtime cannot play this fault yet: starting",
        ),
    ],
)
def test_faults_the_runtime_does_not_play_yet_are_refused_with_the_reason(
    tmp_path: Path, fault: str, message: str
) -> None:
    (line,) = _refused(tmp_path, DRILL.read_text() + f'\n[[faults]]\nat = "2m"\n{fault}')
    assert line.startswith(message)


def test_a_refused_scenario_starts_nothing_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = DRILL.read_text() + '\n[[faults]]\nat = "2m"\naction = "attestation"\nnode = "sgx-b"\n'
    (tmp_path / "s.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "s.toml", "--runtime", "--json", "r.json"]) == 2
    assert "faults[3].action = 'attestation'" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
