"""Several workspaces (`[[workspaces]]`) on real processes: `saas serve` sets up every workspace of the
scenario (each its own key, users, approvers and policy), and `run --runtime` plays the bundled
multi-workspace rehearsal (shortened): the SGX and Nitro co-signers serve both workspaces, each GCP co-signer
its own (paired at its first boot, `node start --pairing-token`), the pairing of a trading API user with
the treasury's GCP co-signer is refused (GCP_SINGLE_WORKSPACE), and the report breaks figures down per
workspace as a simulated one does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from cosigner_ha.cluster.bundled import find_scenario
from cosigner_ha.cluster.runtime.fault_play import refusals
from cosigner_ha.cluster.scenario import load_scenario
from tests.cluster.runtime.processes import Processes, wait_for_file
from tests.net.conftest import self_signed_certificate

MULTI = find_scenario("multi-workspace")


def test_several_workspaces_are_played_not_refused() -> None:
    assert refusals(load_scenario(MULTI)) == []


@pytest.mark.timeout(120)
def test_saas_serve_sets_up_every_workspace_of_the_scenario(tmp_path: Path) -> None:
    cert, key, _ = self_signed_certificate(tmp_path)
    with Processes(tmp_path) as procs:
        child = procs.start(
            "saas",
            *("saas", "serve", "--state", str(tmp_path / "saas"), "--cert", str(cert), "--key", str(key)),
            *("--scenario", str(MULTI), "--time-scale", "60"),
        )
        ready = wait_for_file(tmp_path / "saas" / "ready.json", child)
        control = httpx.Client(base_url=ready["control"], timeout=10)
        keys = {
            ws: control.get(f"/workspaces/{ws}").json()["public_key"]
            for ws in ("acme-treasury", "acme-trading")
        }
        assert all(keys.values()) and len(set(keys.values())) == 2, "each workspace has its own key"
        token = control.post("/workspaces/acme-trading/pairing-tokens", json={"api_user": "trading-sgx"})
        assert token.status_code == 201, token.text
        foreign = control.post("/workspaces/acme-treasury/pairing-tokens", json={"api_user": "trading-sgx"})
        assert foreign.status_code == 404 and "trading-sgx" in foreign.json()["message"]


def _run(tmp_path: Path, scenario: Path, *options: str) -> dict[str, Any]:
    out = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "cosigner_ha.cli", "run", str(scenario), *options, "--json", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "120"},
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_multi_workspace_rehearsal_runs_on_processes_with_figures_per_workspace(tmp_path: Path) -> None:
    text = MULTI.read_text()
    # 20 minutes, the faults earlier; at time scale 60 every real overhead counts 60 times, so on a loaded
    # machine the latency bounds get a margin (the invariants are the point here, and hold as written)
    for old, new in (
        ('duration = "1h"', 'duration = "20m"'),
        ('at = "20m"', 'at = "5m"'),
        ('at = "40m"', 'at = "12m"'),
        ('max_signing_latency_p99 = "30s"', 'max_signing_latency_p99 = "2m"'),
        ('max_failover = "30s"', 'max_failover = "2m"'),
    ):
        assert old in text
        text = text.replace(old, new)
    scenario = tmp_path / "multi-workspace-short.toml"
    scenario.write_text(text)
    (tmp_path / "sim").mkdir()
    simulated = _run(tmp_path / "sim", scenario)
    report = _run(tmp_path, scenario, "--runtime", "--time-scale", "60")
    assert list(report) == [*simulated, "mode"] and report["mode"] == "runtime"
    assert report["passed"] and all(c["ok"] for c in report["invariants"].values())
    assert report["invariants"]["signatures_verify"]["ok"]
    figures = {w["workspace"]: w for w in report["workspaces"]}
    assert (
        list(figures)
        == [w["workspace"] for w in simulated["workspaces"]]
        == ["acme-treasury", "acme-trading"]
    )
    assert sum(w["transactions"] for w in figures.values()) == report["transactions"]["total"] > 20
    for name, own, other in (
        ("acme-treasury", "gcp-treasury", "gcp-trading"),
        ("acme-trading", "gcp-trading", "gcp-treasury"),
    ):
        signers = set(figures[name]["signed_by"])
        assert own in signers and other not in signers, (name, signers)
        assert signers <= {"sgx-shared", "nitro-shared", own}
        assert set(figures[name]["by_status"]) == {"COMPLETED"}
    assert [(e["index"], e["code"]) for e in report["fault_errors"]] == [(1, "GCP_SINGLE_WORKSPACE")]
    assert [(e["index"], e["code"]) for e in simulated["fault_errors"]] == [(1, "GCP_SINGLE_WORKSPACE")]
