"""Failures with their reasons, end to end (issue 19 items 2 and 6): each way a transaction can end without
a signature carries its own cause from the node or SaaS that decided it, beside Fireblocks' sub-status,
into the terminal summary, the `--json` report (failures, per workload, per rule) and the `--html` page.

Before, a handler's bad JWT signature and a malformed answer both ended FAILED / TIMEOUT.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.scenario import scenario_from_dict, to_toml
from tests.cluster.handlers import plain
from tests.cluster.runs import scenario_dict

H = "tests.cluster.handlers.plain"
NOBODY = [{"at": "0s", "action": "crash", "node": "a"}, {"at": "0s", "action": "crash", "node": "b"}]
BLOCK_ABOVE_5 = {
    "rules": [
        {"action": "BLOCK", "amount": {"min": 5, "currency": "NATIVE"}},
        {"action": "ALLOW", "designated_signers": ["sa", "sb"]},
    ]
}

#: name -> (scenario changes, status, Fireblocks sub-status, cause)
CASES: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "handler timeout": (
        {"callback": {"timeout_first_n": 1000}},
        "FAILED",
        "TIMEOUT",
        "callback-timeout",
    ),
    "bad JWT signature": (
        {"callback": {"asgi": f"{H}:approving_app", "public_key": "OTHER"}},
        "FAILED",
        "INVALID_SIGNATURE",
        "callback-bad-signature",
    ),
    "malformed answer": (
        {"callback": {"python": f"{H}:garbage"}},
        "FAILED",
        "UNKNOWN_ERROR",
        "callback-malformed",
    ),
    "HTTP error": (
        {"callback": {"asgi": f"{H}:failing_app", "public_key": "KEY"}},
        "FAILED",
        "CONNECTIVITY_ERROR",
        "callback-http-error",
    ),
    "RETRYs exhausted": (
        {
            "callback": {"action": "RETRY"},
            "saas": {"callback_retry_attempts": 1, "callback_retry_interval": "5s"},
        },
        "FAILED",
        "TIMEOUT",
        "callback-retries-exhausted",
    ),
    "REJECT": ({"callback": {"action": "REJECT"}}, "REJECTED", "REJECTED_BY_USER", "callback-reject"),
    "no co-signer available": (
        {"faults": NOBODY, "saas": {"signing_timeout": "2m"}},
        "CANCELLED",
        "TIMEOUT",
        "no-cosigner-available",
    ),
    "policy block": (
        {"policy": BLOCK_ABOVE_5, "workload_amount": 10},
        "BLOCKED",
        "BLOCKED_BY_POLICY",
        "policy-block",
    ),
}


def case_scenario(tmp_path: Path, changes: dict[str, Any]) -> Path:
    changes = dict(changes)
    callback = changes.pop("callback", None)
    if callback is not None and "public_key" in callback:
        key = tmp_path / "handler_public.pem"
        key.write_text(plain.OTHER_PUBLIC_PEM if callback["public_key"] == "OTHER" else plain.PUBLIC_PEM)
        callback = {**callback, "public_key": str(key)}
    faults = changes.pop("faults", ())
    amount = changes.pop("workload_amount", None)
    data = scenario_dict(faults, callback=callback, **changes)
    data["scenario"] = {**data["scenario"], "duration": "4m"}
    if amount is not None:
        data["workload"][0]["amount"] = {"min": amount}
    path = tmp_path / "s.toml"
    path.write_text(to_toml(scenario_from_dict(data)), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_each_failure_cause_reaches_every_output(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    changes, status, sub_status, cause = CASES[name]
    monkeypatch.setenv("COLUMNS", "80")
    path = case_scenario(tmp_path, changes)
    report_path, page = tmp_path / "r.json", tmp_path / "r.html"
    main(["run", str(path), "--json", str(report_path), "--html", str(page)])
    out = capsys.readouterr().out

    report = json.loads(report_path.read_text())
    failures = report["transactions"]["failures"]
    assert failures, f"{name}: no failure recorded"
    first = failures[0]
    assert (first["status"], first["sub_status"], first["cause"]) == (status, sub_status, cause)
    assert first["count"] == report["transactions"]["by_status"][status]
    assert first["example"]  # the precise reason, for people
    assert report["transactions"]["by_cause"][cause] == first["count"]
    assert report["workloads"]["w"]["causes"][cause] == first["count"]
    assert sum(rule["causes"].get(cause, 0) for rule in report["rules"].values()) == first["count"]
    if cause == "policy-block":
        assert first["rule"] == 0 and report["rules"]["rule 0"]["by_status"] == {"BLOCKED": first["count"]}

    # the terminal summary names the cause beside the sub-status, whole, at 80 columns
    assert "why transactions did not complete" in out
    assert cause in out and status in out and sub_status in out

    # the page: the failures table and a mark per unsigned transaction with its cause on hover
    html = page.read_text()
    assert "why transactions did not complete" in html and cause in html
    legend = rf'"name":\s*"{status.lower()}: {first["count"]}"'
    assert re.search(legend, html), f"{name}: no {status} marks on the page"


def test_a_policy_block_names_the_rule_or_the_catch_all(tmp_path: Path) -> None:
    from tests.cluster.runs import run

    data = scenario_dict(policy={"rules": [{"action": "ALLOW", "amount": {"max": 1, "currency": "NATIVE"}}]})
    data["scenario"] = {**data["scenario"], "duration": "3m"}
    data["workload"][0]["amount"] = {"min": 2}
    r = run(data)
    (failure,) = r.report.failures
    assert (failure.status, failure.cause, failure.rule) == ("BLOCKED", "policy-block", None)
    assert failure.cause_label == "policy-block (catch-all)"
    assert "catch-all" in failure.example
    assert list(r.report.rules) == ["catch-all"]
