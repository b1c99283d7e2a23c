"""The runtime's set-up errors are clear and exit 2: a node pointed at a SaaS that does not answer, a
certificate that does not exist."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

COMMAND = [sys.executable, "-m", "cosigner_ha.cli", "node"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_node_pointed_at_a_saas_that_does_not_answer_exits_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert subprocess.run([*COMMAND, "hardware", "--home", str(home)], capture_output=True).returncode == 0
    port = _closed_port()
    done = subprocess.run(
        [*COMMAND, "setup", "--home", str(home), "--saas", f"127.0.0.1:{port}", "--token", "t"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"cannot connect to the SaaS at 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_saas_certificate_exits_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert subprocess.run([*COMMAND, "hardware", "--home", str(home)], capture_output=True).returncode == 0
    missing = tmp_path / "saas-cert.pem"
    done = subprocess.run(
        [*COMMAND, "start", "--home", str(home), "--saas", "127.0.0.1:1", "--saas-cert", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{missing}: cannot read the --saas-cert file: No such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_node_home_too_deep_for_a_unix_socket_address_still_answers_admin_commands(tmp_path: Path) -> None:
    """A launcher's temp directory can put `HOME/admin.sock` past the 108 bytes of a socket address."""
    import anyio

    from cosigner_ha.cluster import admin_socket

    home = tmp_path / ("deep" * 20) / ("er" * 20)
    home.mkdir(parents=True)
    assert len(str(home / admin_socket.SOCKET)) > 108

    async def run(request: dict[str, object]) -> tuple[int, list[str], str | None]:
        return 0, [f"did {request['command']}"], None

    async def main() -> object:
        async with anyio.create_task_group() as tasks:
            await tasks.start(admin_socket.serve, home, run)
            answer = await admin_socket.ask_running(home, {"command": "list-users"})
            tasks.cancel_scope.cancel()
        return answer

    assert anyio.run(main) == (0, ["did list-users"], None)
    assert not (home / admin_socket.SOCKET).exists()
