"""With `timeline`, the scenario's workloads run on the real clock while the API is up (and only then)."""

from __future__ import annotations

import time
from pathlib import Path

from cosigner_ha.testing.local_api import local_fireblocks
from tests.saas_sim.rest.conftest import SCENARIO, sdk, wait_for

WORKLOAD = """
[[workload]]
name = "withdrawals"
rate = "300/min"
initiator = "ops"
asset = "ETH"
amount = { min = 0.01, max = 0.02 }
source = "vault:hot"
destination = "wallet:partner-a"
"""


def test_the_timeline_plays_only_when_asked(tmp_path: Path) -> None:
    scenario = tmp_path / "busy.toml"
    scenario.write_text(SCENARIO.read_text() + WORKLOAD)
    with local_fireblocks(scenario) as quiet:
        time.sleep(1.0)
        assert sdk(quiet, "auditor").transactions.get_transactions().result().data == []
    with local_fireblocks(scenario, timeline=True) as busy:
        client = sdk(busy, "auditor")
        completed = wait_for(
            lambda: (
                [t for t in client.transactions.get_transactions(status="COMPLETED").result().data] or None
            ),
            timeout=30,
        )
        assert all(t.created_by == busy.users["ops"].api_key for t in completed)
