"""A scenario's 3-node cluster as processes (`RuntimeCluster`): started and paired over TLS, it signs;
a SIGKILLed node restarts on its home and signs again; while one is paused (SIGSTOP) or partitioned from
the SaaS (its link's fault proxy) another signs; and nothing is left running afterwards."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

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


def _sign(cluster: RuntimeCluster, timeout: float = 60) -> dict[str, Any]:
    response = cluster.control.post(f"/workspaces/{cluster.workspace}/transactions", json=TX)
    assert response.status_code == 201, response.text
    tx: dict[str, Any] = response.json()
    deadline = time.monotonic() + timeout
    while not tx["terminal"] and time.monotonic() < deadline:
        time.sleep(0.1)
        tx = cluster.control.get(f"/transactions/{tx['id']}").json()
    assert tx["status"] == "COMPLETED", tx
    key = bytes.fromhex(cluster.control.get(f"/workspaces/{cluster.workspace}").json()["public_key"])
    Ed25519PublicKey.from_public_bytes(key).verify(
        bytes.fromhex(tx["signature"]), bytes.fromhex(tx["message"])
    )
    return tx


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(180)
def test_three_nodes_start_pair_sign_survive_a_crash_and_a_pause(tmp_path: Path) -> None:
    pids = []
    with RuntimeCluster(find_scenario("active-active-passive"), tmp_path, time_scale=60) as cluster:
        cluster.start()
        pids = [child.pid for child in cluster.processes.children.values()]
        nodes = ["nitro-a", "nitro-b", "sgx-dc1"]
        services = ["saas", "owner", "link-owner", "cloud", "link-cloud-nitro-a", "link-cloud-nitro-b"]
        services += ["callback-risk", "link-callback-risk"]  # the scenario's scripted handler
        assert sorted(cluster.processes.children) == sorted(
            [*nodes, *services, *(f"link-{n}" for n in nodes)]
        )
        first = _sign(cluster)
        signer = first["signedBy"]
        assert signer in ("nitro-a", "nitro-b")  # sgx-dc1 is the passive standby
        os.killpg(cluster.processes.children[signer].pid, signal.SIGKILL)
        cluster.processes.children[signer].popen.wait(timeout=30)  # dead: on a loaded machine, not at once
        with pytest.raises(ProcessFailed, match=rf"{signer} .* signal 9"):
            cluster.processes.check()
        assert _sign(cluster)["signedBy"] != signer
        pids.append(cluster.restart_node(signer).pid)
        other = "nitro-b" if signer == "nitro-a" else "nitro-a"
        os.killpg(cluster.processes.children[other].pid, signal.SIGSTOP)
        assert _sign(cluster)["signedBy"] != other
        os.killpg(cluster.processes.children[other].pid, signal.SIGCONT)
        cluster.link_fault(other, "partition")
        assert _sign(cluster)["signedBy"] != other
        cluster.link_fault(other, "heal")
        # a callback fault on the scripted handler (`callback serve`): every node asks it, so nothing signs
        cluster.callback_fault("risk", "reject")
        tx = cluster.control.post(f"/workspaces/{cluster.workspace}/transactions", json=TX).json()
        deadline = time.monotonic() + 60
        while not tx["terminal"] and time.monotonic() < deadline:
            time.sleep(0.1)
            tx = cluster.control.get(f"/transactions/{tx['id']}").json()
        assert tx["status"] == "REJECTED", tx
        cluster.callback_fault("risk", None)
        assert _sign(cluster)["status"] == "COMPLETED"
        cluster.close()
        trace = cluster.merged_trace()
    assert not [pid for pid in pids if _alive(pid)]
    assert [e["t"] for e in trace] == sorted(e["t"] for e in trace)
    started = [(e["process"], e["role"]) for e in trace if e["kind"] == "process_started"]
    assert started.count((signer, "node")) == 2 and ("saas", "saas") in started
    exited = {(e["process"], e["status"]) for e in trace if e["kind"] == "process_exited"}
    # 3 nodes + 1 restart, their links, saas, owner, cloud, the handler and their links
    assert (signer, -9) in exited and len(exited) == 15
    signed = [e for e in trace if e["kind"] == "signed"]
    assert len(signed) == 5
    for event in signed:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(event["public_key"])).verify(
            bytes.fromhex(event["signature"]), bytes.fromhex(event["message"])
        )
    assert {e["process"] for e in trace} >= {"saas", "owner", "cloud", "nitro-a", "nitro-b", "sgx-dc1"}
    # the Nitro nodes unlocked their databases through KMS, attested; the SGX node on its own directory
    kms = [e for e in trace if e["process"] == "cloud" and e["kind"] in ("kms_data_key", "kms_decrypt")]
    assert {e["role"] for e in kms} == {"role-nitro-a", "role-nitro-b"}
