"""Faults the runtime plays through a service rather than a signal or a link: a callback fault through
`callback serve`'s control API (the handler answers REJECT, the transactions of that minute are
rejected as in simulation), a clock skew through the node's admin socket (an hour ahead, every token
looks expired to the node, which refreshes before every request until the skew ends), a disk loss on the
node's home (restored from its backup, or empty), an attestation fault (the node restarted on a tampered
image, refused by the loader, then on the signed one); and what stays refused, with the key path, before
anything starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.cluster.runtime.fault_play import refusals
from cosigner_ha.cluster.scenario import load_scenario

SCENARIOS = Path(__file__).parent / "scenarios"
CALLBACK_SKEW = SCENARIOS / "callback_skew.toml"
DISK_LOSS = SCENARIOS / "disk_loss.toml"
ATTESTATION = SCENARIOS / "attestation.toml"
DRILL = SCENARIOS / "drill.toml"
COMMAND = [sys.executable, "-m", "cosigner_ha.cli", "run"]


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def _report(
    tmp_path: Path, *runtime: str, scenario: Path = CALLBACK_SKEW
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out, trace = tmp_path / "r.json", tmp_path / "t.jsonl"
    done = subprocess.run(
        [*COMMAND, str(scenario), *runtime, "--json", str(out), "--trace", str(trace)],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "120"},
        timeout=200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    return json.loads(out.read_text()), _events(trace)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_callback_fault_and_a_clock_skew_play_on_processes_as_in_simulation(tmp_path: Path) -> None:
    (tmp_path / "sim").mkdir()
    simulated, _ = _report(tmp_path / "sim")
    report, events = _report(tmp_path, "--runtime", "--time-scale", "60")
    assert report["mode"] == "runtime" and report["passed"]
    assert report["invariants"]["signatures_verify"]["ok"]
    statuses = report["transactions"]["by_status"]
    assert statuses.get("REJECTED", 0) > 0 and statuses.get("COMPLETED", 0) > 0
    expected = simulated["transactions"]["by_status"]["REJECTED"]
    assert abs(statuses["REJECTED"] - expected) <= 3, "about the same minute of rejections (real timing)"

    def at(kind: str, **fields: Any) -> list[float]:
        return [e["t"] for e in events if e["kind"] == kind and all(e.get(k) == v for k, v in fields.items())]

    modes = [(e["process"], e["mode"]) for e in events if e["kind"] == "callback_fault_set"]
    assert modes == [("callback-risk", "reject"), ("callback-risk", None)]
    skews = [(e["process"], e["seconds"]) for e in events if e["kind"] == "clock_skew"]
    assert skews == [("sgx-b", 3600.0), ("sgx-b", 0.0)]
    (began,), (ended,) = at("fault", action="clock-skew"), at("fault_end", action="clock-skew")
    refreshed = at("token_refreshed", node="sgx-b")
    inside = [t for t in refreshed if began <= t <= ended + 5]
    assert len(inside) > 5, "an hour ahead, the node refreshes its access token before every request"
    assert len(refreshed) - len(inside) <= 2, "before and after the skew, one token lasts"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_disk_loss_wipes_the_home_and_a_backup_brings_the_node_back(tmp_path: Path) -> None:
    report, events = _report(tmp_path, "--runtime", "--time-scale", "60", scenario=DISK_LOSS)
    assert report["passed"] and report["invariants"]["signatures_verify"]["ok"]
    assert set(report["transactions"]["by_status"]) == {"COMPLETED"}

    def after(kind: str, node: str, since: float = 0.0) -> list[dict[str, Any]]:
        return [e for e in events if e["kind"] == kind and e.get("node") == node and e["t"] > since]

    (lost_a,), (lost_c,) = after("disk_lost", "sgx-a"), after("disk_lost", "sgx-c")
    assert lost_a["backup"] and not lost_c["backup"]
    (back_a,), (back_c,) = after("disk_replaced", "sgx-a"), after("disk_replaced", "sgx-c")
    assert back_a["restored"] and not back_c["restored"]
    exits = [(e["process"], e["status"]) for e in events if e["kind"] == "process_exited"]
    assert ("sgx-a", -9) in exits and ("sgx-c", -9) in exits
    assert after("signed", "sgx-a", back_a["t"]), "its database restored from the backup, it signs again"
    running = [e for e in after("node_state", "sgx-c", back_c["t"]) if e["state"] == "running"]
    assert running, "an empty disk boots: a node without its users"
    assert not after("signed", "sgx-c", lost_c["t"]), "with no backup its key shares are gone"


def _refused_then_signed(report: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """sgx-a refused by the loader between the two swaps, never running nor signing from its SIGKILL
    (the process on the signed image may finish a signature between the swap and the kill), and
    running again on the signed image."""
    assert report["passed"] and report["invariants"]["attestation_gates_secrets"]["ok"]
    assert set(report["transactions"]["by_status"]) == {"COMPLETED"}
    swaps = [(e["t"], e["image"]) for e in events if e["kind"] == "image_swapped"]
    assert [image for _, image in swaps] == ["tampered", "signed"]
    (tampered, _), (signed, _) = swaps
    states = [
        (e["t"], e["state"], e["reason"])
        for e in events
        if e["kind"] == "node_state" and e.get("node") == "sgx-a"
    ]
    refused = [r for t, state, r in states if tampered < t < signed and state == "failed"]
    assert refused and all(r.startswith("ImageRejected:") for r in refused), "the loader refuses it"
    assert not [t for t, state, _ in states if tampered < t < signed and state == "running"]
    assert [t for t, state, _ in states if t > signed and state == "running"], "back on the signed image"
    killed = min(
        e["t"]
        for e in events
        if e["kind"] == "process_exited" and e["process"] == "sgx-a" and e["t"] > tampered
    )
    signed_by_a = [e["t"] for e in events if e["kind"] == "signed" and e["node"] == "sgx-a"]
    assert not [t for t in signed_by_a if killed < t < signed], "its secrets stayed shut"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_attestation_fault_restarts_the_node_on_a_tampered_image_then_on_the_signed_one(
    tmp_path: Path,
) -> None:
    _refused_then_signed(*_report(tmp_path, "--runtime", "--time-scale", "60", scenario=ATTESTATION))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_attestation_fault_shorter_than_a_process_start_is_still_refused_before_it_ends(
    tmp_path: Path,
) -> None:
    """Two seconds of scenario time are 33 ms at 60x, far less than a node's start: the signed image goes
    back only once the node has tried to boot on the tampered one (its loader's refusal)."""
    scenario = tmp_path / "short.toml"
    scenario.write_text(
        ATTESTATION.read_text().replace('node = "sgx-a"\nfor = "4m"', 'node = "sgx-a"\nfor = "2s"')
    )
    assert '"2s"' in scenario.read_text()
    _refused_then_signed(*_report(tmp_path, "--runtime", "--time-scale", "60", scenario=scenario))


def _cloud_attestation(tmp_path: Path) -> Path:
    """attestation.toml with sgx-a on Nitro and sgx-b on GCP (a second API user paired through the SaaS,
    as a GCP node has no local administration), each under an attestation fault (sgx-b's from 2m to 6m)."""
    text = ATTESTATION.read_text()
    text = text.replace('name = "sgx-a"\nenclave = "sgx"', 'name = "sgx-a"\nenclave = "nitro"')
    text = text.replace(
        'name = "sgx-b"\nenclave = "sgx"\nsite = "dc/b"\napi_users = ["signer-b"]',
        'name = "sgx-b"\nenclave = "gcp"\nsite = "dc/b"\napi_users = ["signer-b", "signer-d"]',
    )
    text = text.replace(
        "[[groups]]", '[[api_users]]\nname = "signer-d"\nrole = "SIGNER"\ncallback = "risk"\n\n[[groups]]'
    )
    text += '\n[[faults]]\nat = "2m"\naction = "attestation"\nnode = "sgx-b"\nfor = "4m"\n'
    path = tmp_path / "cloud-attestation.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_attestation_fault_on_nitro_and_gcp_nodes_gets_no_key_until_the_signed_image_is_back(
    tmp_path: Path,
) -> None:
    scenario = _cloud_attestation(tmp_path)
    report, events = _report(tmp_path, "--runtime", "--time-scale", "60", scenario=scenario)
    assert report["passed"] and report["invariants"]["attestation_gates_secrets"]["ok"]
    assert set(report["transactions"]["by_status"]) == {"COMPLETED"}
    impacts = {i["fault"]: i["nodes"] for i in report["fault_impacts"]}
    assert impacts == {"attestation sgx-a": ["sgx-a"], "attestation sgx-b": ["sgx-b"]}
    paired = {e["api_user"] for e in events if e["kind"] == "paired" and e.get("cosigner") == "sgx-b"}
    assert paired == {"signer-b", "signer-d"}  # the first from its deployment, the second through the SaaS

    def swaps(node: str) -> tuple[float, float]:
        (tampered, signed) = [
            (e["t"], e["image"]) for e in events if e["kind"] == "image_swapped" and e["node"] == node
        ]
        assert (tampered[1], signed[1]) == ("tampered", "signed")
        return tampered[0], signed[0]

    def states(node: str, since: float, until: float) -> list[tuple[str, str]]:
        return [
            (e["state"], e["reason"])
            for e in events
            if e["kind"] == "node_state" and e.get("node") == node and since < e["t"] < until
        ]

    refused_by = {  # who refused the tampered image
        "sgx-a": "ImageRejected: nitro enclave",  # nitro-cli: the EIF signature does not match the image
        "sgx-b": "AttestationError: gcp-kms: key 'cmk-sgx-b' is bound to image",  # the KMS at cloud serve
    }
    for node, refusal in refused_by.items():
        tampered, signed = swaps(node)
        during = states(node, tampered, signed)
        failed = [reason for state, reason in during if state == "failed"]
        assert failed and all(reason.startswith(refusal) for reason in failed), (node, during)
        assert "running" not in {state for state, _ in during}, node
        assert "running" in {state for state, _ in states(node, signed, float("inf"))}, (
            "back on the signed image"
        )
        shares = [e["t"] for e in events if e["kind"] == "share_released" and e["node"] == node]
        crashed = min(
            t
            for t in (e["t"] for e in events if e["kind"] == "process_exited" and e["process"] == node)
            if t > tampered
        )
        assert not [t for t in shares if crashed < t < signed], f"{node}: its secrets stayed shut"
    tampered, signed = swaps("sgx-b")
    refused = [
        e
        for e in events
        if e["kind"] == "cloud_refused" and e["process"] == "cloud" and tampered < e["t"] < signed
    ]
    assert refused and {e["code"] for e in refused} == {"ATTESTATION"}
    assert all(e["path"].startswith("/kms/gcp/") for e in refused)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_nitro_node_that_loses_its_host_disk_reopens_its_bucket_even_on_a_new_host(tmp_path: Path) -> None:
    text = DISK_LOSS.read_text().replace('enclave = "sgx"', 'enclave = "nitro"')
    text = text.replace('backup = true\nfor = "1m"', 'new_host = true\nfor = "1m"')
    scenario = tmp_path / "nitro.toml"
    scenario.write_text(text)
    report, events = _report(tmp_path, "--runtime", "--time-scale", "60", scenario=scenario)
    assert report["passed"] and set(report["transactions"]["by_status"]) == {"COMPLETED"}
    for node in ("sgx-a", "sgx-c"):  # the database is in the bucket at cloud serve, which the loss spares
        (back,) = [e["t"] for e in events if e["kind"] == "disk_replaced" and e["node"] == node]
        assert [e for e in events if e["kind"] == "signed" and e["node"] == node and e["t"] > back], node


def test_a_swapped_image_is_the_machine_s_until_it_is_put_back(tmp_path: Path) -> None:
    from cosigner_ha.cluster.node_hardware import Hardware
    from cosigner_ha.cluster.runtime.cluster import RuntimeCluster

    cluster = RuntimeCluster(ATTESTATION, tmp_path)
    home = cluster.home("sgx-a")
    hardware = Hardware.load(home, create=True, host="sgx-a")
    measurement = hardware.backend().image.measurement
    cluster.swap_image("sgx-a", tampered=True)
    assert Hardware.load(home).backend().image.measurement != measurement
    cluster.swap_image("sgx-a", tampered=False)
    assert Hardware.load(home).backend().image.measurement == measurement


def test_a_lost_disk_is_wiped_kept_in_its_backup_and_put_back_on_a_new_host(tmp_path: Path) -> None:
    from cosigner_ha.cluster.runtime.cluster import RuntimeCluster

    cluster = RuntimeCluster(DISK_LOSS, tmp_path)  # nothing started: the disk operations alone
    home = cluster.home("sgx-a")
    (home / "disk" / "db").mkdir(parents=True)
    (home / "disk" / "db" / "sealed").write_bytes(b"sealed state")
    (home / "hardware.json").write_text(json.dumps({"host": "sgx-a", "cpu_secret": "00" * 32}))
    backup = cluster.lose_disk("sgx-a", backup=True)
    assert backup is not None and (backup / "db" / "sealed").read_bytes() == b"sealed state"
    assert list((home / "disk").iterdir()) == []
    cluster.replace_disk("sgx-a", backup, new_host=True)
    assert (home / "disk" / "db" / "sealed").read_bytes() == b"sealed state"
    profile = json.loads((home / "hardware.json").read_text())
    assert profile["host"] == "sgx-a" and profile["cpu_secret"] != "00" * 32, "a new machine, same role"
    assert cluster.lose_disk("sgx-a", backup=False) is None
    cluster.replace_disk("sgx-a", None, new_host=False)
    assert list((home / "disk").iterdir()) == [], "without a backup it comes back empty"


def test_every_fault_of_these_scenarios_is_played_not_refused() -> None:
    for path in (CALLBACK_SKEW, DISK_LOSS, ATTESTATION):
        assert refusals(load_scenario(path)) == [], path


def test_link_faults_and_jitter_are_played_not_refused(tmp_path: Path) -> None:
    faults = [
        'action = "partition"\nlink = ["sgx-a", "sgx-b"]\nfor = "1m"\n',
        'action = "latency"\nlink = ["saas", "sgx-c"]\namount = "1s"\njitter = "2s"\nfor = "1m"\n',
        'action = "loss"\nlink = ["sgx-b", "saas"]\nratio = 0.1\nfor = "1m"\n',
    ]
    text = DRILL.read_text() + "".join(f'\n[[faults]]\nat = "2m"\n{fault}' for fault in faults)
    (tmp_path / "s.toml").write_text(text)
    assert refusals(load_scenario(tmp_path / "s.toml")) == []
