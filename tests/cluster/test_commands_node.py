"""The runtime commands over real TCP, against the SaaS double, with the real clock and OS randomness."""

from __future__ import annotations

import argparse
from pathlib import Path

import anyio
import pytest

from cosigner_ha.cli import build_parser
from cosigner_ha.cluster.commands_node import node_command
from cosigner_ha.cluster.node_hardware import Hardware
from cosigner_ha.env import Environment
from cosigner_ha.net import TcpNetwork
from cosigner_ha.node.errors import NodeError
from tests.node.saas_double import SaasDouble


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.timeout(60)
async def test_setup_list_users_print_public_key_and_logs(tmp_path: Path) -> None:
    home = tmp_path / "node"
    printed: list[str] = []
    assert (
        await node_command(
            parse("node", "hardware", "--home", str(home), "--host", "dc1"), out=printed.append
        )
        == 0
    )
    hardware = Hardware.load(home)
    assert hardware.vendor.public_key.hex() in printed[0] and hardware.image.measurement.hex() in printed[1]
    env = Environment.runtime()
    saas = SaasDouble(
        env,
        TcpNetwork(),
        address="127.0.0.1:0",
        vendor_key=hardware.vendor.public_key,
        measurements=(hardware.image.measurement,),
        approval_latency=0.05,
    )
    async with anyio.create_task_group() as tasks:
        await tasks.start(saas.run)
        common = ["--home", str(home), "--saas", saas.address]
        out: list[str] = []
        assert (
            await node_command(
                parse("node", "setup", *common, "--token", saas.pairing_token("signer-a")), out=out.append
            )
            == 0
        )
        assert await node_command(parse("node", "list-users", *common), out=out.append) == 0
        assert await node_command(parse("node", "print-public-key", *common), out=out.append) == 0
        with pytest.raises(NodeError, match="set up already"):
            await node_command(parse("node", "setup", *common, "--token", saas.pairing_token("signer-b")))
        tasks.cancel_scope.cancel()
    assert out[0].startswith("signer-a\tworkspace ws-1\tcallback - (none)\tcan sign")
    assert out[1] == out[0]
    assert out[2].startswith("-----BEGIN PUBLIC KEY-----")
    assert (home / "disk/databases/cosigner/db/secrets.db").exists()
    assert len(list((home / "disk/databases/cosigner/backup").iterdir())) >= 1
    logs: list[str] = []
    await node_command(parse("node", "logs", "--home", str(home), "5"), out=logs.append)
    assert len(logs) == 5 and all(line.startswith("cosigner:") for line in logs)


async def test_commands_need_a_hardware_profile(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="no hardware profile"):
        await node_command(parse("node", "list-users", "--home", str(tmp_path), "--saas", "127.0.0.1:1"))
