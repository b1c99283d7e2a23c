"""`saas serve --state DIR` killed with SIGKILL mid-run and started again on the same directory: it loses
nothing (workspace, pairing, the cloud shares, every transaction) and what was under way completes,
signed once, under the same workspace key; the nodes carry on without being paired again."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha.cluster.bundled import find_scenario
from cosigner_ha.cluster.runtime.cluster import RuntimeCluster
from cosigner_ha.cluster.runtime.processes import ProcessFailed

TX = {
    "initiator": "ops",
    "asset": "ETH",
    "amount": "1",
    "source": "vault:hot",
    "destination": "wallet:partner-a",
}


def _submit(cluster: RuntimeCluster) -> str:
    response = cluster.control.post(f"/workspaces/{cluster.workspace}/transactions", json=TX)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _settled(cluster: RuntimeCluster, tx_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            tx: dict[str, Any] = cluster.control.get(f"/transactions/{tx_id}").json()
        except httpx.TransportError:  # the SaaS is still coming back
            time.sleep(0.1)
            continue
        if tx["terminal"]:
            return tx
        time.sleep(0.1)
    raise AssertionError(f"{tx_id} did not finish within {timeout} s")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("loop", ["trio", "asyncio"])
def test_a_saas_killed_mid_run_restarts_on_its_state_and_every_transaction_completes(
    tmp_path: Path, loop: str
) -> None:
    """A short drill on each event loop: every process of the cluster (SaaS, owner device, cloud, proxies,
    node) runs on `loop`."""
    with RuntimeCluster(find_scenario("single-cosigner"), tmp_path, time_scale=60, loop=loop) as cluster:
        cluster.start()
        key = cluster.control.get(f"/workspaces/{cluster.workspace}").json()["public_key"]
        first = _settled(cluster, _submit(cluster))
        assert first["status"] == "COMPLETED"
        pending = [_submit(cluster) for _ in range(3)]
        old = cluster.processes.children["saas"]
        os.killpg(old.pid, signal.SIGKILL)
        old.popen.wait(timeout=30)  # dead: on a loaded machine, not at once
        with pytest.raises(ProcessFailed, match=r"saas .* signal 9"):
            cluster.processes.check()
        assert cluster.restart_saas().pid != old.pid
        assert cluster.ready["restored"] is True
        # the same workspace key, the first transaction as it was, the node still paired
        assert cluster.control.get(f"/workspaces/{cluster.workspace}").json()["public_key"] == key
        assert cluster.control.get(f"/transactions/{first['id']}").json()["signature"] == first["signature"]
        done = [_settled(cluster, tx_id) for tx_id in pending]
        assert [tx["status"] for tx in done] == ["COMPLETED"] * 3, done
        for tx in [first, *done]:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(key)).verify(
                bytes.fromhex(tx["signature"]), bytes.fromhex(tx["message"])
            )
        # new transactions get new ids and sign as before
        later = _settled(cluster, _submit(cluster))
        assert later["status"] == "COMPLETED" and later["id"] not in (first["id"], *pending)
        cluster.close()
        trace = cluster.merged_trace()
    signed = [e for e in trace if e["kind"] == "signed"]
    assert sorted(e["tx"] for e in signed) == sorted([first["id"], *pending, later["id"]])  # once each
    for event in signed:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(event["public_key"])).verify(
            bytes.fromhex(event["signature"]), bytes.fromhex(event["message"])
        )
    saas_starts = [e for e in trace if e["kind"] == "process_started" and e["process"] == "saas"]
    assert len(saas_starts) == 2
    assert any(e["kind"] == "process_exited" and e["process"] == "saas" and e["status"] == -9 for e in trace)
    (restored,) = [e for e in trace if e["kind"] == "saas_restored"]
    assert restored["transactions"] == 4 and restored["unfinished"] >= 1  # killed mid-run
    print("unfinished at the kill:", restored["unfinished"])
    assert [e["t"] for e in trace] == sorted(e["t"] for e in trace)
