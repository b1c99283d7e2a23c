"""No silent PASS (issue 19 items 3 and 6): a run in which nothing is signed, or a workload never gets a
transaction signed, says so in the verdict line of every output even when no check asks about it;
`min_completed_ratio` counts what docs/scenarios.md says; a scenario with no expectations of its own is
held to the documented default set."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.scenario import scenario_from_dict, to_toml
from tests.cluster.runs import run, scenario_dict

EVERY_NODE_DOWN = [{"at": "0s", "action": "crash", "node": "a"}, {"at": "0s", "action": "crash", "node": "b"}]
SHORT = {"duration": "3m"}


def short(faults: list[dict[str, Any]] | None = None, **sections: Any) -> dict[str, Any]:
    data = scenario_dict(faults or (), **sections)
    data["scenario"] = {**data["scenario"], **SHORT}
    return data


def outputs(
    tmp_path: Path, data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, Any, str]:
    path = tmp_path / "s.toml"
    path.write_text(to_toml(scenario_from_dict(data)), encoding="utf-8")
    code = main(["run", str(path), "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")])
    out = capsys.readouterr().out
    return code, out, json.loads((tmp_path / "r.json").read_text()), (tmp_path / "r.html").read_text()


def verdict_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith(("PASSED", "FAILED"))]
    assert lines, out
    index = out.splitlines().index(lines[-1])
    return " ".join(out.splitlines()[index:]).split("report written")[0]


def test_a_run_where_nothing_is_signed_is_not_a_plain_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    # the only expectation: every transaction ends CANCELLED, which it does
    expect = {"outcome": [{"status": "CANCELLED"}]}
    data = short(EVERY_NODE_DOWN, saas={"signing_timeout": "1m"}, expect=expect)
    code, out, report, html = outputs(tmp_path, data, capsys)
    assert report["signed_by"] == {"a": 0, "b": 0} and report["transactions"]["total"] > 0
    # every check asked for held ...
    assert report["passed"] is True and code == 0
    # ... but no output reads as a plain PASS
    assert report["notices"] and report["notices"][0].startswith("nothing was signed")
    assert "CANCELLED no-cosigner-available" in report["notices"][0]
    assert report["verdict"].startswith("PASSED") and "; but nothing was signed" in report["verdict"]
    assert "but nothing was signed" in verdict_line(out)
    assert re.search(r'class="verdict-line passed notes">[^<]*but nothing was signed', html)


def test_a_workload_that_never_got_a_transaction_signed_is_named(tmp_path: Path) -> None:
    data = short(expect={"all_terminal": True})
    blocked = {**data["workload"][0], "name": "sweeps", "destination": "exchange:exch"}
    data["workload"].append(blocked)
    data["policy"] = {
        "rules": [
            {"action": "BLOCK", "destination": "exchange:*"},
            {"action": "ALLOW", "designated_signers": ["sa", "sb"]},
        ]
    }
    r = run(data)
    assert r.report.passed
    (notice,) = r.report.notices
    assert notice.startswith("workload sweeps got nothing signed (") and "BLOCKED policy-block" in notice
    assert r.report.verdict.endswith("; but " + notice)

    # an outcome expectation that says how the workload ends names it: no notice then
    data["expect"] = {"outcome": [{"workload": "sweeps", "status": "BLOCKED"}]}
    assert run(data).report.notices == ()


def test_nothing_submitted_is_said_too() -> None:
    data = short()
    data["workload"][0]["rate"] = "1/d"
    data["expect"] = {"all_terminal": True}
    r = run(data, seed=3)
    if r.report.transactions_total == 0:
        assert r.report.notices == ("no transaction was submitted",)
    else:  # the seed drew an arrival after all: the workload is signed, nothing to say
        assert r.report.notices == ()


def test_min_completed_ratio_counts_what_the_policy_let_through() -> None:
    """Completed over transactions an ALLOW or 2-TIER rule let through (docs/scenarios.md): blocked ones are
    the policy's answer and do not count; failures count against it, named by cause."""
    data = short(expect={"min_completed_ratio": 1.0})
    data["workload"].append({**data["workload"][0], "name": "sweeps", "destination": "exchange:exch"})
    data["policy"] = {
        "rules": [
            {"action": "BLOCK", "destination": "exchange:*"},
            {"action": "ALLOW", "designated_signers": ["sa", "sb"]},
        ]
    }
    r = run(data)
    check = r.report.expectations["min_completed_ratio"]
    completed = r.report.by_status["COMPLETED"]
    assert check.ok and check.detail.startswith(
        f"{completed} of {completed} transaction(s) the policy let through"
    )
    assert r.report.by_status["BLOCKED"] > 0


def test_min_completed_ratio_of_nothing_fails_and_names_the_causes() -> None:
    nothing = run(short(EVERY_NODE_DOWN, saas={"signing_timeout": "1m"}, expect={"min_completed_ratio": 0.5}))
    check = nothing.report.expectations["min_completed_ratio"]
    assert not check.ok and "not completed:" in check.detail and "no-cosigner-available" in check.detail

    data = short(expect={"min_completed_ratio": 0.5})
    data["policy"] = {"rules": [{"action": "BLOCK"}]}
    blocked = run(data).report.expectations["min_completed_ratio"]
    assert not blocked.ok and "nothing to complete" in blocked.detail


def test_the_latency_check_says_failed_transactions_are_left_out() -> None:
    data = short(callback={"timeout_first_n": 1}, expect={"max_signing_latency_p99": "1m"})
    check = run(data).report.expectations["max_signing_latency_p99"]
    assert not check.ok and check.detail.startswith("no completed transaction")
    assert "failed, rejected or cancelled not counted" in check.detail


def test_a_scenario_without_expectations_gets_the_default_set() -> None:
    r = run(short(EVERY_NODE_DOWN, saas={"signing_timeout": "1m"}))
    assert list(r.report.expectations) == [
        "all_terminal",
        "no_double_sign",
        "no_nonce_reuse",
        "min_completed_ratio (default)",
    ]
    assert not r.report.expectations["min_completed_ratio (default)"].ok
    assert not r.report.passed and "min_completed_ratio (default)" in r.report.verdict

    named = run(short(expect={"max_failover": "1m"}))
    assert "min_completed_ratio (default)" not in named.report.expectations and named.report.passed
