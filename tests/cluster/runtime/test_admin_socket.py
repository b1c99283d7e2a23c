"""Admin commands reach a running node through its admin socket (`HOME/admin.sock`): `list-users` and
`add-user` against a running `node start` are carried out by it; no second process opens the sealed
database (`HOME/node.lock`), even when the socket is gone; a killed node's stale socket is ignored."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from cosigner_ha.cluster.runtime.cluster import RuntimeCluster
from tests.cluster.runtime.processes import Processes
from tests.cluster.runtime.test_owner_serve import _scenario


@pytest.mark.slow  # ~50 s of processes; the default run covers the owner device in test_cluster
@pytest.mark.timeout(240)
def test_admin_commands_go_through_the_running_node(tmp_path: Path) -> None:
    with (
        RuntimeCluster(_scenario(tmp_path), tmp_path / "run", time_scale=60) as cluster,
        Processes(tmp_path) as procs,
    ):
        cluster.start()
        home = cluster.home("nitro-a")
        assert (home / "admin.sock").exists()
        args = cluster.node_args("nitro-a")

        listed = procs.run("list", "node", "list-users", *args)
        assert listed.returncode == 0, listed.stderr
        (first,) = [line.split("\t")[0] for line in listed.stdout.splitlines()]  # the API user's id

        added = procs.run("add", "node", "add-user", *args, "--token", cluster.token("signer-b"))
        assert added.returncode == 0, added.stderr
        second = added.stdout.split("\t")[0]
        listed = procs.run("list", "node", "list-users", *args)
        both = [first, second]
        assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == both
        users = {c["id"]: c["api_users"] for c in cluster.control.get("/cosigners").json()}
        assert users["nitro-a"] == ["signer-a", "signer-b"]

        # a node killed with SIGKILL leaves its socket behind; the command notices and boots the enclave itself
        os.killpg(cluster.processes.children["nitro-a"].pid, signal.SIGKILL)
        time.sleep(0.3)
        assert (home / "admin.sock").exists()  # stale
        listed = procs.run("after", "node", "list-users", *args)
        assert listed.returncode == 0, listed.stderr
        assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == both

        # restarted, it answers on a new socket; without it, a command would open the database itself:
        # the running node's lock refuses that
        cluster.restart_node("nitro-a")
        assert procs.run("again", "node", "list-users", *args).returncode == 0
        (home / "admin.sock").unlink()
        refused = procs.run("refused", "node", "list-users", *args)
        assert refused.returncode == 1, refused.stderr
        assert "open in another process" in refused.stderr and "Traceback" not in refused.stderr
