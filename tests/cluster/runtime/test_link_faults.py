"""Link faults on real proxies (`run --runtime`): a `link` between a node and the SaaS is that node's link
proxy, latency with jitter delays it (each chunk `amount` plus a uniform draw in [0, `jitter`], in order),
and a `link` between two nodes changes nothing, as in simulation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LINKS = Path(__file__).parent / "scenarios" / "links.toml"
COMMAND = [sys.executable, "-m", "cosigner_ha.cli", "run", str(LINKS)]


def _run(tmp_path: Path, *options: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out, trace = tmp_path / "r.json", tmp_path / "t.jsonl"
    done = subprocess.run(
        [*COMMAND, *options, "--json", str(out), "--trace", str(trace)],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "120"},
        timeout=200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    events = [json.loads(line) for line in trace.read_text().splitlines()[1:]]
    return json.loads(out.read_text()), events


def _signed_by_a_while_slow(events: list[dict[str, Any]]) -> tuple[list[float], list[float], list[float]]:
    """sgx-a's signatures before the latency fault, while it holds (after the attempts it had in flight),
    and after it ends."""
    faults = {(e["kind"], e["target"]): e["t"] for e in events if e["kind"] in ("fault", "fault_end")}
    began, ended = faults[("fault", "sgx-a<->saas")], faults[("fault_end", "sgx-a<->saas")]
    signed = [e["t"] for e in events if e["kind"] == "signed" and e["node"] == "sgx-a"]
    return (
        [t for t in signed if t < began],
        [t for t in signed if began + 15 < t < ended],
        [t for t in signed if t > ended],
    )


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_latency_with_jitter_on_a_named_link_plays_on_its_proxy_as_in_simulation(tmp_path: Path) -> None:
    (tmp_path / "sim").mkdir()
    _, sim_events = _run(tmp_path / "sim")
    report, events = _run(tmp_path, "--runtime", "--time-scale", "60")
    assert report["mode"] == "runtime" and report["passed"], report["expectations"]
    assert report["invariants"]["signatures_verify"]["ok"]
    assert set(report["transactions"]["by_status"]) == {"COMPLETED"}
    targets = [(e["target"], e["nodes"]) for e in events if e["kind"] == "fault"]
    assert targets == [(e["target"], e["nodes"]) for e in sim_events if e["kind"] == "fault"]
    assert targets == [("sgx-a<->saas", ["sgx-a"]), ("sgx-b<->sgx-c", ["sgx-b", "sgx-c"])]
    for name, trace in (("simulation", sim_events), ("runtime", events)):
        before, slow, after = _signed_by_a_while_slow(trace)
        assert before and after, f"{name}: sgx-a signs before and after its link is slow"
        assert not slow, f"{name}: a 10-20 s probe round trip misses the 6 s window: {slow}"
    signers = {e["node"] for e in events if e["kind"] == "signed"}
    assert signers == {"sgx-a", "sgx-b", "sgx-c"}, "the partition between two nodes stopped nobody"
