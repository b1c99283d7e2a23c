"""`cosigner-ha run` as a user runs it: exit codes 0/1/2, the `--json` report's keys (DESIGN.md section 5),
the `--trace` file, the `--html` page, and bad input refused with the reason on stderr and nothing written."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from cosigner_ha.cli import main
from cosigner_ha.cluster import commands_run
from cosigner_ha.cluster.runner import RunResult
from cosigner_ha.cluster.scenario import Scenario, content_hash, load_scenario, scenario_from_dict, to_toml
from tests.cluster.runs import scenario_dict
from tests.cluster.test_bundled_scenarios import SCENARIOS

REPO = Path(__file__).resolve().parents[2]

JSON_KEYS = {
    "scenario",
    "seed",
    "trace_hash",
    "simulated_seconds",
    "wall_seconds",
    "transactions",
    "latency_seconds",
    "signed_by",
    "workloads",
    "rules",
    "faults",
    "failovers",
    "fault_impacts",
    "fault_errors",
    "invariants",
    "expectations",
    "notices",
    "verdict",
    "passed",
}


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(to_toml(scenario_from_dict(data)), encoding="utf-8")
    return path


def small(tmp_path: Path, **sections: Any) -> Path:
    data = scenario_dict(**sections)
    data["scenario"] = {**data["scenario"], "duration": "5m"}
    return write(tmp_path / "small.toml", data)


def outputs(tmp_path: Path) -> dict[str, Path]:
    return {"--json": tmp_path / "r.json", "--trace": tmp_path / "t.jsonl", "--html": tmp_path / "r.html"}


def cli(args: list[str | Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["run", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def with_outputs(scenario: Path, files: dict[str, Path]) -> list[str | Path]:
    return [scenario, *(part for option, path in files.items() for part in (option, path))]


# -- exit codes -----------------------------------------------------------------------------------------


def test_a_scenario_whose_checks_hold_exits_0_and_writes_every_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = outputs(tmp_path)
    code, out, err = cli(with_outputs(small(tmp_path), files), capsys)
    assert (code, err) == (0, "")
    assert "PASSED" in out
    for option, path in files.items():
        assert path.is_file() and path.stat().st_size > 0, option
        assert f"{path}" in " ".join(out.split())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left behind"


def test_a_failed_expectation_exits_1_and_still_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = small(
        tmp_path,
        faults=[
            {"at": "1m", "action": "crash", "site": "aws"},
            {"at": "1m", "action": "crash", "site": "onprem"},
        ],
        expect={"min_completed_ratio": 0.9},
    )
    files = outputs(tmp_path)
    code, out, err = cli(with_outputs(scenario, files), capsys)
    assert (code, err) == (1, "")
    assert "FAILED" in out and "min_completed_ratio" in out
    report = json.loads(files["--json"].read_text())
    assert report["passed"] is False and report["expectations"]["min_completed_ratio"]["ok"] is False


@pytest.mark.parametrize(
    "change, where",
    [
        ({"scenario": {"name": "x", "seed": 1, "duration": "5 minutes"}}, "scenario.duration"),
        ({"faults": [{"at": "1m", "action": "crash", "node": "nitro-z"}]}, "faults[0].node"),
        ({"expect": {"max_failover": 60}}, "expect.max_failover"),
    ],
)
def test_a_bad_scenario_exits_2_naming_file_and_key_and_writes_nothing(
    change: dict[str, Any], where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(tomli_w.dumps({**scenario_dict(), **change}), encoding="utf-8")  # unchecked on purpose
    files = outputs(tmp_path)
    code, out, err = cli(with_outputs(bad, files), capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {bad}: {where}: expected"), err
    assert not any(path.exists() for path in files.values())
    assert [p.name for p in tmp_path.iterdir()] == ["bad.toml"]


def test_a_callback_that_does_not_import_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = small(tmp_path, callback={"python": "no_such_module.handlers:decide"})
    files = outputs(tmp_path)
    code, out, err = cli(with_outputs(scenario, files), capsys)
    assert (code, out) == (2, "")
    assert err.startswith("error: callback cb: cannot import 'no_such_module.handlers:decide'"), err
    assert not any(path.exists() for path in files.values())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_policy_fault_the_saas_would_refuse_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed = {"action": "ALLOW", "designated_signers": {"users": ["tywin", "sa"]}}
    scenario = small(tmp_path, faults=[{"at": "1m", "action": "policy", "rules": [mixed]}])
    files = outputs(tmp_path)
    code, out, err = cli(with_outputs(scenario, files), capsys)
    assert (code, out) == (2, "")
    assert err.startswith("error: "), err
    assert "faults[0], rule 0, field 'designated_signers'" in err
    assert not any(path.exists() for path in files.values())


@pytest.mark.parametrize("option", ["--json", "--trace", "--html"])
def test_an_output_in_a_missing_folder_exits_2_before_running(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "nowhere" / "out"
    code, out, err = cli([small(tmp_path), option, target], capsys)
    assert (code, out) == (2, "")
    assert err == f"error: {option} {target}: the folder {target.parent} does not exist\n"


def test_a_missing_scenario_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli([tmp_path / "nope.toml"], capsys)
    assert (code, out, err) == (2, "", f"error: {tmp_path / 'nope.toml'}: no such scenario file\n")


# -- the outputs ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, dict[str, Path]]:
    tmp = tmp_path_factory.mktemp("run")
    # each node crashed in turn: whichever signed last before its crash fails over to the other
    scenario = small(
        tmp,
        faults=[
            {"at": "1m30s", "action": "crash", "node": "a", "for": "1m"},
            {"at": "3m", "action": "crash", "node": "b", "for": "1m"},
        ],
    )
    files = outputs(tmp)
    assert main(["run", str(scenario), "--seed", "5", *(str(x) for kv in files.items() for x in kv)]) == 0
    return load_scenario(scenario), files


def test_the_json_report_has_exactly_the_documented_keys(written: tuple[Scenario, dict[str, Path]]) -> None:
    scenario, files = written
    report = json.loads(files["--json"].read_text())
    assert set(report) == JSON_KEYS
    assert set(report["transactions"]) == {"total", "by_status", "by_sub_status", "by_cause", "failures"}
    assert set(report["latency_seconds"]) == {"p50", "p90", "p99", "max"}
    assert report["scenario"] == scenario.name and report["seed"] == 5
    assert report["simulated_seconds"] >= scenario.duration and report["wall_seconds"] > 0
    assert sum(report["transactions"]["by_status"].values()) == report["transactions"]["total"] > 0
    assert set(report["signed_by"]) == {"a", "b"}
    assert report["failovers"] and all(
        set(f) == {"at", "from", "to", "gap_seconds"} for f in report["failovers"]
    )
    assert report["fault_impacts"] and all(
        {"fault", "unavailable_seconds", "in_flight", "arrived", "outcome"} <= set(i)
        for i in report["fault_impacts"]
    )
    for section in ("invariants", "expectations"):
        assert report[section] and all(set(v) == {"ok", "detail"} for v in report[section].values())
    assert report["passed"] is True


def test_the_trace_starts_with_the_scenario_hash_and_seed_and_hashes_to_the_reported_hash(
    written: tuple[Scenario, dict[str, Path]],
) -> None:
    scenario, files = written
    data = files["--trace"].read_bytes()
    lines = data.decode("ascii").splitlines()
    assert json.loads(lines[0]) == {
        "kind": "header",
        "scenario": scenario.name,
        "scenario_hash": content_hash(scenario),
        "seed": 5,
    }
    assert hashlib.sha256(data).hexdigest() == json.loads(files["--json"].read_text())["trace_hash"]
    events = [json.loads(line) for line in lines[1:]]
    assert all({"t", "kind"} <= set(e) for e in events)
    signed = [e for e in events if e["kind"] == "signed"]
    assert signed and all(
        {"tx", "node", "api_user", "scheme", "public_key", "message", "signature"} <= set(e) for e in signed
    )


def test_the_html_page_is_one_self_contained_file(written: tuple[Scenario, dict[str, Path]]) -> None:
    _, files = written
    page = files["--html"].read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") or page.lstrip().lower().startswith("<html")
    assert "plotly" in page.lower()
    assert '<script src="http' not in page, "no script fetched from the network"


# -- the default scenario and the processes ------------------------------------------------------------


def test_without_a_scenario_it_runs_the_bundled_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[Scenario] = []
    real = commands_run.run_scenario

    def shortened(scenario: Scenario, **kwargs: Any) -> RunResult:
        ran.append(scenario)
        short = dataclasses.replace(scenario, scenario=dataclasses.replace(scenario.scenario, duration=60.0))
        return real(short, **kwargs)

    monkeypatch.setattr(commands_run, "run_scenario", shortened)
    code, _, err = cli([], capsys)
    assert err == ""
    assert commands_run.DEFAULT_SCENARIO == SCENARIOS / "active-active-passive.toml"
    assert ran == [load_scenario(SCENARIOS / "active-active-passive.toml")]
    assert code in (0, 1)  # one minute of six hours: its windows cannot all hold


def _subprocess_trace(scenario: Path, trace: Path, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-m", "cosigner_ha.cli", "run", str(scenario), "--trace", str(trace)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return hashlib.sha256(trace.read_bytes()).hexdigest()


def test_two_processes_with_different_hash_seeds_write_the_same_trace(tmp_path: Path) -> None:
    scenario = small(tmp_path, faults=[{"at": "2m", "action": "partition", "site": "aws", "for": "1m"}])
    first = _subprocess_trace(scenario, tmp_path / "a.jsonl", "1")
    second = _subprocess_trace(scenario, tmp_path / "b.jsonl", "31337")
    assert first == second


@pytest.mark.slow
def test_the_bundled_default_passes_from_the_command_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cosigner_ha.cli", "run", "--json", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["scenario"] == "active-active-passive"
