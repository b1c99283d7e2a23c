"""`cosigner-ha up` as a user runs it: one ready line, the official SDK against the printed URL with the
written credentials, Ctrl-C stops it with exit 130 and nothing left running; bad input exits 2."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fireblocks.client import Fireblocks
from fireblocks.client_configuration import ClientConfiguration
from fireblocks.models import VaultAccountsPagedResponse

from cosigner_ha.cli import main
from cosigner_ha.testing.up_process import stop_up

SCENARIO = Path(__file__).resolve().parents[1] / "saas_sim" / "rest" / "local.toml"
READY = re.compile(r"local Fireblocks API ready at (http://127\.0\.0\.1:\d+/v1) .*; credentials in (\S+)$")


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.append(process.stdout.readline() if process.stdout else "")
    )
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else ""


def test_up_serves_until_ctrl_c(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "cosigner_ha.cli", "up", str(SCENARIO), "--api", "127.0.0.1:0"]
    process = subprocess.Popen(
        [*command, "--workdir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = _read_line(process, 120).strip()
        match = READY.search(line)
        assert match, (line, process.poll())
        base_url, credentials = match.group(1), Path(match.group(2))
        users = {u["name"]: u for u in json.loads(credentials.read_text())}
        assert set(users) == {"ops", "admin", "auditor", "signer-a", "signer-b", "signer-c"}
        ops = users["ops"]
        secret = Path(ops["secret_key_file"])
        assert secret.stat().st_mode & 0o777 == 0o600
        config = ClientConfiguration(
            api_key=ops["api_key"], secret_key=secret.read_text(), base_path=base_url
        )
        with Fireblocks(config) as client:
            page = client.vaults.get_paged_vault_accounts().result().data
        assert isinstance(page, VaultAccountsPagedResponse) and [a.id for a in page.accounts or []] == [
            "hot",
            "treasury",
        ]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
        assert "stopped" in (process.stderr.read() if process.stderr else "")
    finally:
        stop_up(process)  # after a failed assertion too: Ctrl-C stops `up`'s processes, a kill would not


def test_up_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", str(tmp_path / "missing.toml")]) == 2
    assert "no such scenario file" in capsys.readouterr().err
    assert main(["up", str(SCENARIO), "--api", "localhost"]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text(SCENARIO.read_text().replace('name = "ops"\n', 'name = "ops"\napi_key = "k"\n', 1))
    assert main(["up", str(broken), "--workdir", str(tmp_path / "w")]) == 2
    assert "public_key" in capsys.readouterr().err


def test_up_on_a_busy_port_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["up", str(SCENARIO), "--api", f"127.0.0.1:{port}", "--workdir", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err
