"""`cosigner-ha up` on runtime processes: the official SDK creates a transaction that a co-signer PROCESS
signs (the SaaS, the proxies and the nodes are separate processes, none of them the launcher), the
signature verifies with a standard Ed25519 library, and Ctrl-C stops every process and removes the
temporary work directory (exit 130)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fireblocks.client import Fireblocks
from fireblocks.client_configuration import ClientConfiguration
from fireblocks.models import (
    CreateTransactionResponse,
    DestinationTransferPeerPath,
    SourceTransferPeerPath,
    TransactionRequest,
    TransactionRequestAmount,
    TransactionResponse,
)

from cosigner_ha.testing.up_process import stop_up
from tests.cluster.runtime.test_run_runtime import _left_behind, _processes
from tests.cluster.test_cli_up import READY, _read_line

SCENARIO = Path(__file__).resolve().parents[2] / "saas_sim" / "rest" / "local.toml"


@pytest.mark.slow  # tests/cluster/test_cli_up.py runs `up` (on processes) with the SDK and Ctrl-C by default
@pytest.mark.timeout(240)
def test_up_on_processes_signs_through_the_sdk_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "cosigner_ha.cli", "up", str(SCENARIO), "--api", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    try:
        line = _read_line(process, 180).strip()
        match = READY.search(line)
        assert match, (line, process.poll())
        base_url, credentials = match.group(1), Path(match.group(2))
        (workdir,) = tmp.glob("cosigner-ha-up-*")
        running = {pid: cmd for pid, cmd in _processes().items() if str(workdir) in cmd}
        commands = [" ".join(cmd.split("cosigner_ha.cli ")[1].split()[:2]) for cmd in running.values()]
        assert commands.count("saas serve") == 1 and commands.count("node start") == 2
        assert commands.count("owner serve") == 1 and commands.count("cloud serve") == 1  # Nitro nodes
        assert commands.count("proxy serve") == 5  # a link per node, the owner's, each Nitro node's to KMS
        assert process.pid not in running
        ops = next(u for u in json.loads(credentials.read_text()) if u["name"] == "ops")
        config = ClientConfiguration(
            api_key=ops["api_key"], secret_key=Path(ops["secret_key_file"]).read_text(), base_path=base_url
        )
        with Fireblocks(config) as client:
            request = TransactionRequest(
                asset_id="ETH",
                amount=TransactionRequestAmount("1.5"),
                source=SourceTransferPeerPath(type="VAULT_ACCOUNT", id="hot"),
                destination=DestinationTransferPeerPath(type="EXTERNAL_WALLET", id="partner-a"),
            )
            created = client.transactions.create_transaction(transaction_request=request).result().data
            assert isinstance(created, CreateTransactionResponse) and created.id
            deadline = time.monotonic() + 60
            while True:
                tx = client.transactions.get_transaction(created.id).result().data
                assert isinstance(tx, TransactionResponse)
                if tx.status in ("COMPLETED", "FAILED", "BLOCKED", "REJECTED", "CANCELLED"):
                    break
                assert time.monotonic() < deadline, tx.status
                time.sleep(0.2)
        assert tx.status == "COMPLETED", (tx.status, tx.sub_status)
        (signed,) = tx.signed_messages or []
        assert signed.signature is not None and signed.signature.full_sig and signed.public_key
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(signed.public_key)).verify(
            bytes.fromhex(signed.signature.full_sig), bytes.fromhex(signed.content or "")
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
        err = process.stderr.read() if process.stderr else ""
        assert "stopped: every process of the local cluster is down" in err and "Traceback" not in err
    finally:
        stop_up(process)  # after a failed assertion too: Ctrl-C stops `up`'s processes, a kill would not
    assert not _left_behind(tmp)
    assert not workdir.exists()


def _with_handler(tmp_path: Path, handler: str) -> Path:
    text = SCENARIO.read_text().replace(
        'name = "signer-a"\nrole = "SIGNER"\n', 'name = "signer-a"\nrole = "SIGNER"\ncallback = "risk"\n', 1
    )
    scenario = tmp_path / "handler.toml"
    scenario.write_text(text + f"\n[callbacks.risk]\n{handler}")
    return scenario


def _with_keyless_asgi_handler(tmp_path: Path) -> Path:
    """An asgi handler without `public_key`: what the runtime cannot run (nothing verifies its answers)."""
    return _with_handler(tmp_path, 'asgi = "tests.cluster.handlers.fastapi_handler:app"\n')


def test_up_refuses_what_the_runtime_cannot_run_and_names_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cosigner_ha.cli import main

    scenario = _with_keyless_asgi_handler(tmp_path)
    assert main(["up", str(scenario), "--api", "127.0.0.1:0", "--workdir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "the runtime cannot run this scenario as written (--in-process can)" in err
    assert "callbacks.risk.public_key: missing; an asgi handler in the runtime needs the key" in err


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_up_in_process_serves_a_scenario_with_a_callback_handler(tmp_path: Path) -> None:
    scenario = _with_handler(tmp_path, 'python = "tests.cluster.handlers.plain:approve"\n')
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "cosigner_ha.cli", "up", str(scenario)),
            *("--api", "127.0.0.1:0", "--in-process", "--workdir", str(tmp_path / "w")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _read_line(process, 90).strip()
        assert READY.search(line), (line, process.poll())
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    finally:
        stop_up(process)  # after a failed assertion too: Ctrl-C stops `up`'s processes, a kill would not


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_up_with_the_timeline_plays_the_workloads_and_faults_while_the_api_serves(tmp_path: Path) -> None:
    drill = Path(__file__).parent / "scenarios" / "drill.toml"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "cosigner_ha.cli", "up", str(drill), "--api", "127.0.0.1:0"),
            *("--timeline", "--time-scale", "60", "--workdir", str(tmp_path / "w")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        match = READY.search(_read_line(process, 180).strip())
        assert match, process.poll()
        base_url, credentials = match.group(1), Path(match.group(2))
        ops = next(u for u in json.loads(credentials.read_text()) if u["name"] == "ops")
        config = ClientConfiguration(
            api_key=ops["api_key"], secret_key=Path(ops["secret_key_file"]).read_text(), base_path=base_url
        )
        deadline = time.monotonic() + 120
        with Fireblocks(config) as client:
            while True:  # the workload's transactions, submitted by the launcher, seen through the API
                listed = client.transactions.get_transactions(limit=500).result().data or []
                done = [tx for tx in listed if tx.status == "COMPLETED"]
                if len(done) >= 20:
                    break
                assert time.monotonic() < deadline, len(done)
                time.sleep(0.5)
        assert {tx.external_tx_id.split("-")[0] for tx in done if tx.external_tx_id} == {"withdrawals"}
        trace = tmp_path / "w" / "runtime" / "traces" / "sgx-a.jsonl"
        while trace.read_text().count('"kind":"process_started"') < 2:  # the timeline's crash, for 2 minutes
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    finally:
        stop_up(process)  # after a failed assertion too: Ctrl-C stops `up`'s processes, a kill would not
    assert not _left_behind(tmp_path / "w")
