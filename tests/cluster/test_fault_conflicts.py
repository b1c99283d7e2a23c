"""Fault timelines that the loader and `analyze` accept but that conflict at run time: the cluster refuses
the action (`fault_error` in the trace, `fault_errors` in the report) and the run goes on (issue 14, item 2).

The loader checks the pairing timeline as the file states it; approvals take time, so an unpairing still
waiting for its approval and a pairing or a second unpairing of the same API user can overlap. A
property test then throws random timelines over a small bundled topology at `cosigner-ha run`: whatever
`analyze` accepts, `run` ends with exit 0 or 1, never a traceback.
"""

from __future__ import annotations

import json
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from cosigner_ha.cli import main
from cosigner_ha.cluster.bundled import SCENARIOS
from cosigner_ha.cluster.invariants import SAFETY
from cosigner_ha.cluster.report import render_html, render_summary
from tests.cluster.runs import run, scenario_dict


def unpair(at: str, node: str = "a", user: str = "sa") -> dict[str, Any]:
    return {"at": at, "action": "unpair", "node": node, "api_user": user}


def pair(at: str, node: str = "a", user: str = "sa") -> dict[str, Any]:
    return {"at": at, "action": "pair", "node": node, "api_user": user}


def test_an_unpairing_overlapping_an_approved_one_is_cancelled_and_the_run_goes_on() -> None:
    # unpair (approved a minute later), pair at once (the API user is still paired: refused), unpair again:
    # the file reads pair-after-unpair, unpair-after-pair; at run time both unpairings wait for approval
    r = run(scenario_dict([unpair("2m"), pair("2m10s"), unpair("2m20s")]))
    errors = [(e.fields["index"], e.fields["code"]) for e in r.of("fault_error")]
    assert errors == [(1, "CONFLICT"), (2, "CANCELLED")]
    cancelled = r.of("fault_error", index=2)[0].fields
    assert cancelled["api_user"] == "sa" and "unpaired meanwhile" in cancelled["reason"]
    assert len(r.of("unpaired", api_user="sa")) == 1  # the first unpairing, once
    assert r.of("duration_reached") and r.of("end")
    # the report lists them, in the JSON too; the run's checks are unaffected
    report = r.report
    assert [(e.index, e.code, e.label, e.api_user) for e in report.fault_errors] == [
        (1, "CONFLICT", "pair a", "sa"),
        (2, "CANCELLED", "unpair a", "sa"),
    ]
    data = report.to_json()["fault_errors"]
    assert [e["code"] for e in data] == ["CONFLICT", "CANCELLED"]
    assert set(data[0]) == {"at", "index", "fault", "api_user", "code", "reason"}
    assert all(report.invariants[name].ok for name in SAFETY)
    console = Console(record=True, width=140)
    render_summary(report, console)
    text = console.export_text()
    assert "faults refused (the run went on)" in text and "#2 unpair a" in text and "CANCELLED" in text
    page = render_html(report)
    assert "faults refused" in page and "the API user was unpaired meanwhile" in page


def test_a_pairing_while_its_unpairing_waits_for_approval_is_refused() -> None:
    r = run(scenario_dict([unpair("2m"), pair("2m10s")]))
    (error,) = r.of("fault_error")
    assert error.fields["index"] == 1 and error.fields["code"] == "CONFLICT"
    assert "unpair it first" in error.fields["reason"]
    assert r.report.fault_errors[0].label == "pair a"


def test_a_run_without_conflicts_lists_no_fault_errors() -> None:
    r = run(scenario_dict([unpair("2m"), pair("5m")]))
    assert not r.of("fault_error") and r.report.fault_errors == ()
    assert r.report.to_json()["fault_errors"] == []


# -- any timeline analyze accepts ----------------------------------------------------------------------

#: The topology of a bundled scenario (two Nitro nodes, one signer each), with a short run.
BUNDLED = "expired-pairing-token.toml"
NODES = ("nitro-a", "nitro-b")
USERS = ("signer-a", "signer-b")
DURATION = 20 * 60
OTHER_ACTIONS = (
    "crash",
    "restart",
    "pause",
    "partition",
    "latency",
    "loss",
    "site-outage",
    "disk-loss",
    "attestation",
    "clock-skew",
    "policy",
)


def _other(draw: st.DrawFn, at: int) -> dict[str, Any]:
    action = draw(st.sampled_from(OTHER_ACTIONS))
    fault: dict[str, Any] = {"at": f"{at}s", "action": action}
    if action == "site-outage":
        fault["site"] = draw(st.sampled_from(["aws", "aws/us-west-2/a"]))
    elif action == "policy":
        fault["rules"] = [
            {"action": "ALLOW", "designated_signers": {"users": [draw(st.sampled_from(USERS))]}}
        ]
    else:
        fault["node"] = draw(st.sampled_from(NODES))
    if action == "latency":
        fault["amount"] = f"{draw(st.integers(1, 90))}s"
    elif action == "loss":
        fault["ratio"] = draw(st.sampled_from([0.5, 1.0]))
    elif action == "clock-skew":
        fault["skew"] = draw(st.sampled_from(["-2h", "20m", "2h"]))
    elif action == "disk-loss":
        fault["backup"] = draw(st.booleans())
        fault["new_host"] = draw(st.booleans())
    if action not in ("restart", "policy") and draw(st.booleans()):
        fault["for"] = f"{draw(st.integers(1, 600))}s"
    return fault


@st.composite
def timelines(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Faults close together in time; pairings and unpairings mostly follow the file's own rule (pair an
    unpaired API user, unpair a paired one), so that many timelines load, but approvals overlap."""
    serving: dict[str, str | None] = dict(zip(USERS, NODES, strict=True))
    faults: list[dict[str, Any]] = []
    at = draw(st.integers(0, 120))
    for _ in range(draw(st.integers(1, 6))):
        at += draw(st.sampled_from([0, 1, 10, 30, 60, 61, 120]))
        if at >= DURATION - 300:
            break
        if draw(st.integers(0, 2)) == 0:
            faults.append(_other(draw, at))
            continue
        user = draw(st.sampled_from(USERS))
        node = serving[user]
        if node is None:
            node = draw(st.sampled_from(NODES))
            fault = {"at": f"{at}s", "action": "pair", "node": node, "api_user": user}
            if draw(st.integers(0, 3)) == 0:
                fault["token_age"] = f"{draw(st.integers(1, 1200))}s"  # 15m validity: some expire
            serving[user] = node
        else:
            fault = {"at": f"{at}s", "action": "unpair", "node": node, "api_user": user}
            serving[user] = None
        faults.append(fault)
    return faults


def _scenario(faults: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    data = tomllib.loads((SCENARIOS / BUNDLED).read_text())
    data["scenario"].update(duration=f"{DURATION}s", seed=seed)
    data["saas"] = {
        **data.get("saas", {}),
        "authorization_timeout": "10m",
        "signing_timeout": "10m",
    }
    data["faults"] = faults
    data["expect"] = {"all_terminal": True}
    return data


def _runs_cleanly(faults: list[dict[str, Any]], seed: int, capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "timeline.toml"
        path.write_text(tomli_w.dumps(_scenario(faults, seed)))
        if main(["analyze", str(path)]) == 2:  # the loader or analyze refused it: nothing to run
            capsys.readouterr()
            return
        report = Path(folder) / "report.json"
        code = main(["run", str(path), "--json", str(report)])
        out, err = capsys.readouterr()
        assert code in (0, 1), f"exit {code}\n{err[-3000:]}\n{faults}"
        assert "Traceback" not in out + err
        data = json.loads(report.read_text())
        broken = [name for name in SAFETY if not data["invariants"][name]["ok"]]
        assert not broken, f"{broken}\n{faults}"


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(faults=timelines(), seed=st.integers(0, 5))
def test_a_timeline_analyze_accepts_never_crashes_run(
    faults: list[dict[str, Any]], seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    _runs_cleanly(faults, seed, capsys)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(faults=timelines(), seed=st.integers(0, 5))
def test_many_timelines_analyze_accepts_never_crash_run(
    faults: list[dict[str, Any]], seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    _runs_cleanly(faults, seed, capsys)
