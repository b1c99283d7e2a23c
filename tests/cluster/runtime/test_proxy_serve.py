"""`cosigner-ha proxy serve`: a link's fault proxy as a process; it forwards, partitions and heals on its
control API, and refuses bad values and bad addresses clearly."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.cluster.runtime.processes import Processes, wait_for_file


def _echo_server() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def _round_trip(address: str, server: socket.socket) -> bytes:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as client:
        accepted, _ = server.accept()
        with accepted:
            client.sendall(b"ping")
            accepted.settimeout(5)
            return accepted.recv(4)


@pytest.mark.timeout(60)
def test_forwards_partitions_and_heals(tmp_path: Path) -> None:
    with _echo_server() as server, Processes(tmp_path) as procs:
        target = f"127.0.0.1:{server.getsockname()[1]}"
        ready_file = tmp_path / "link.json"
        child = procs.start("link", "proxy", "serve", "--target", target, "--ready", str(ready_file))
        ready = wait_for_file(ready_file, child)
        control = httpx.Client(base_url=ready["control"], timeout=5)
        assert _round_trip(ready["listen"], server) == b"ping"
        assert control.post("/partition").status_code == 200
        host, _, port = ready["listen"].rpartition(":")
        with socket.create_connection((host, int(port)), timeout=5) as client:
            client.settimeout(5)
            assert client.recv(4) == b""  # closed at once while partitioned
        assert control.post("/heal").status_code == 200
        assert _round_trip(ready["listen"], server) == b"ping"
        bad = control.post("/latency", json={"seconds": "soon"})
        assert bad.status_code == 400 and "body.seconds" in bad.json()["message"]
        assert control.post("/loss", json={"probability": 2}).status_code == 400
        bad = control.post("/latency", json={"seconds": 0.01, "jitter": "a bit"})
        assert bad.status_code == 400 and "body.jitter" in bad.json()["message"]
        bad = control.post("/latency", json={"seconds": 0.01, "jitter": -1})
        assert bad.status_code == 400 and "jitter must be" in bad.json()["message"]
        assert control.post("/latency", json={"seconds": 0.05, "jitter": 0.05}).status_code == 200
        began = time.monotonic()
        assert _round_trip(ready["listen"], server) == b"ping"
        assert time.monotonic() - began >= 0.05, "delayed by the latency, plus the jitter's draw"


def test_a_bad_target_is_a_clear_error(tmp_path: Path) -> None:
    with Processes(tmp_path) as procs:
        done = procs.run("link", "proxy", "serve", "--target", "nowhere", "--ready", str(tmp_path / "r"))
    assert done.returncode == 2
    assert "--target" in done.stderr and "Traceback" not in done.stderr
