"""A GCP co-signer on processes (`run --runtime`): paired at its first boot with its deployment's token
(`node start --pairing-token`), its second API user from the console, as the simulator pairs it; both sign."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GCP = Path(__file__).parent / "scenarios" / "gcp.toml"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_gcp_node_is_paired_at_boot_and_from_the_console_and_signs_for_both(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cosigner_ha.cli",
            "run",
            str(GCP),
            "--runtime",
            "--time-scale",
            "60",
            *("--trace", str(trace)),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "120"},
        timeout=250,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    events = [json.loads(line) for line in trace.read_text().splitlines()[1:]]
    signers = {(e["node"], e["api_user"]) for e in events if e["kind"] == "signed"}
    assert {("gcp-c", "signer-c"), ("gcp-c", "signer-d")} <= signers
    started = [e for e in events if e["kind"] == "process_started" and e["process"] == "gcp-c"]
    assert len(started) == 1, "paired by `node start` itself: no `node setup` process for it"
