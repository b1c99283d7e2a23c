"""The owner's device as its own process (`cosigner-ha owner serve`): the SaaS never holds the owner's share
(not in its state file, not in its trace), pairings are approved on the device and over its link, a refusal
on the device refuses the pairing, and a device killed with SIGKILL restarts on its state and still deals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha import mpc
from cosigner_ha.cluster.bundled import find_scenario
from cosigner_ha.cluster.runtime.cluster import RuntimeCluster
from cosigner_ha.mpc.ed25519 import scalar_to_bytes
from tests.cluster.runtime.processes import Processes

EXTRA_SIGNER = """
[[api_users]]
name = "signer-b"
role = "SIGNER"
"""


def _scenario(tmp_path: Path) -> Path:
    """single-cosigner with a second signer API user that no node holds yet (paired during the test)."""
    text = find_scenario("single-cosigner").read_text()
    text = text.replace("[[nodes]]", EXTRA_SIGNER + "\n[[nodes]]", 1)
    path = tmp_path / "two-signers.toml"
    path.write_text(text)
    return path


def _request_final(cluster: RuntimeCluster, request_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = cluster.control.get(f"/requests/{request_id}").json()
        if status["status"] in ("COMPLETED", "REJECTED", "CANCELLED"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"request {request_id} still open after {timeout} s")


def _pair(cluster: RuntimeCluster, api_user: str) -> dict[str, Any]:
    body = {"cosigner": "nitro-a", "api_user": api_user, "requested_by": "owner"}
    answer = cluster.control.post(f"/workspaces/{cluster.workspace}/pair", json=body)
    assert answer.status_code == 202, answer.text
    return _request_final(cluster, answer.json()["request"])


@pytest.mark.slow  # ~50 s of processes; the default run covers the owner device in test_cluster
@pytest.mark.timeout(240)
def test_the_owner_device_holds_its_share_and_approves_over_the_network(tmp_path: Path) -> None:
    with RuntimeCluster(_scenario(tmp_path), tmp_path / "run", time_scale=60) as cluster:
        cluster.start()
        run = tmp_path / "run"
        # the device's share of the workspace key: on the device only
        keys = json.loads((run / "owner" / "owner.json").read_text())
        (share_hex,) = keys["workspace"].values()
        secret = scalar_to_bytes(mpc.KeyPackage.from_bytes(bytes.fromhex(share_hex)).signing_share)
        saas_files = [run / "saas" / "saas.sqlite", run / "saas" / "trace.jsonl"]
        for path in saas_files:
            data = path.read_bytes()
            assert secret not in data and secret.hex().encode() not in data, path
        db = sqlite3.connect(run / "saas" / "saas.sqlite")
        rows = [
            json.loads(v) for k, v in db.execute("SELECT key, value FROM rows") if k.startswith("workspace/")
        ]
        db.close()
        assert [row["owner_device"] for row in rows] == [None]
        owner_events = [json.loads(line) for line in (run / "owner" / "trace.jsonl").read_text().splitlines()]
        kinds = [e["kind"] for e in owner_events]
        assert "owner_key_created" in kinds and "owner_approval" in kinds and "owner_contribution" in kinds

        # it signs under the key the device helped create
        tx = cluster.control.post(
            f"/workspaces/{cluster.workspace}/transactions",
            json={
                "initiator": "ops",
                "asset": "ETH",
                "amount": "1",
                "source": "vault:hot",
                "destination": "wallet:partner-a",
            },
        ).json()
        deadline = time.monotonic() + 60
        while not tx["terminal"] and time.monotonic() < deadline:
            time.sleep(0.1)
            tx = cluster.control.get(f"/transactions/{tx['id']}").json()
        key = cluster.control.get(f"/workspaces/{cluster.workspace}").json()["public_key"]
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key)).verify(
            bytes.fromhex(tx["signature"]), bytes.fromhex(tx["message"])
        )

        # a refusal on the device refuses the pairing
        owner_url = cluster.owner_ready["url"]
        assert httpx.post(f"{owner_url}/behaviour", json={"verdict": "REJECT"}).status_code == 200
        refused = _pair(cluster, "signer-b")
        assert refused["status"] == "REJECTED" and "owner's device" in refused["detail"], refused

        # killed and restarted on its state (same port, its link unchanged), it approves and deals again
        os.killpg(cluster.processes.children["owner"].pid, signal.SIGKILL)
        cluster.processes.children["owner"].popen.wait(timeout=30)  # its port free before the new one binds
        cluster.restart_owner()
        paired = _pair(cluster, "signer-b")
        assert paired["status"] == "COMPLETED", paired
        users = {c["id"]: c["api_users"] for c in cluster.control.get("/cosigners").json()}
        assert users["nitro-a"] == ["signer-a", "signer-b"]


def test_an_owner_state_file_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "owner"
    state.mkdir()
    (state / "owner.json").write_text("{not json")
    with Processes(tmp_path) as procs:
        done = procs.run("owner", "owner", "serve", "--state", str(state))
    assert done.returncode == 2, done.stderr
    assert "owner.json" in done.stderr and "Traceback" not in done.stderr
    assert (state / "owner.json").read_text() == "{not json"
