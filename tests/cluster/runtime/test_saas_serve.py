"""`cosigner-ha saas serve` as a real process: a `node start` process pairs with it over TLS (certificate
pinned) and signs a transaction submitted through the control API; the signature verifies."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha.cluster.bundled import find_scenario
from tests.cluster.runtime.processes import Processes, wait_for_file
from tests.net.conftest import self_signed_certificate

SCENARIO = find_scenario("single-cosigner")


def _hardware(procs: Processes, home: Path) -> tuple[str, str]:
    done = procs.run("hardware", "node", "hardware", "--home", str(home), "--host", "dc1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    return lines[0].rsplit(" ", 1)[1], lines[1].rsplit(" ", 1)[1]


def _serve(procs: Processes, tmp_path: Path, *extra: str, loop: str = "trio") -> dict[str, Any]:
    cert, key, _ = self_signed_certificate(tmp_path)
    state = tmp_path / "saas"
    child = procs.start(
        "saas",
        *("saas", "serve", "--state", str(state), "--cert", str(cert), "--key", str(key)),
        *("--scenario", str(SCENARIO), "--loop", loop, "--time-scale", "60", *extra),
    )
    return wait_for_file(state / "ready.json", child)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("loop", ["trio", "asyncio"])
def test_a_node_process_pairs_and_signs_through_saas_serve(tmp_path: Path, loop: str) -> None:
    home = tmp_path / "node"
    with Processes(tmp_path) as procs:
        vendor, measurement = _hardware(procs, home)
        ready = _serve(procs, tmp_path, "--vendor-key", vendor, "--measurement", measurement, loop=loop)
        control = httpx.Client(base_url=ready["control"], timeout=10)
        aged = control.post("/workspaces/acme/pairing-tokens", json={"api_user": "signer-a", "age": 3000})
        claims = jwt.decode(aged.json()["token"], options={"verify_signature": False})
        assert 590 <= claims["exp"] - time.time() <= 600, "what a token 3000 s old has left of its hour"
        token = control.post("/workspaces/acme/pairing-tokens", json={"api_user": "signer-a"})
        assert token.status_code == 201, token.text
        common = ["--home", str(home), "--saas", ready["gateway"], "--saas-cert", str(tmp_path / "cert.pem")]
        setup = procs.run("setup", "node", "setup", *common, "--token", token.json()["token"], "--loop", loop)
        assert setup.returncode == 0, setup.stderr + procs.log("saas")
        procs.start("node", "node", "start", *common, "--loop", loop)
        submitted = control.post(
            "/workspaces/acme/transactions",
            json={
                "initiator": "ops",
                "asset": "ETH",
                "amount": "2",
                "source": "vault:hot",
                "destination": "wallet:partner-a",
            },
        )
        assert submitted.status_code == 201, submitted.text
        tx = submitted.json()
        deadline = time.monotonic() + 60
        while not tx["terminal"] and time.monotonic() < deadline:
            time.sleep(0.2)
            tx = control.get(f"/transactions/{tx['id']}").json()
        assert tx["status"] == "COMPLETED", (tx, procs.log("node"))
        assert tx["signedBy"] == "dc1"
        assert [t["id"] for t in control.get("/transactions").json()] == [tx["id"]]
        cosigners = control.get("/cosigners").json()
        assert [c["api_users"] for c in cosigners] == [["signer-a"]]
        _refusals(control, tmp_path)
        key = bytes.fromhex(control.get("/workspaces/acme").json()["public_key"])
        Ed25519PublicKey.from_public_bytes(key).verify(
            bytes.fromhex(tx["signature"]), bytes.fromhex(tx["message"])
        )
        saas = procs.children["saas"]
        os.kill(saas.pid, signal.SIGTERM)
        assert saas.wait(timeout=20) == 0


def _refusals(control: httpx.Client, tmp_path: Path) -> None:
    """Bad control requests are JSON errors that name what was wrong; the state is untouched."""
    before = control.get("/transactions").json()
    missing = control.post("/workspace", json={"scenario": str(tmp_path / "missing.toml")})
    assert missing.status_code == 400 and "missing.toml" in missing.json()["message"]
    unknown = control.post("/workspaces/acme/transactions", json={"initiator": "ops", "colour": "red"})
    assert unknown.status_code == 400 and "body.colour" in unknown.json()["message"]
    garbage = control.post("/workspaces/acme/pairing-tokens", content=b"{not json")
    assert garbage.status_code == 400 and "not JSON" in garbage.json()["message"]
    no_user = control.post("/workspaces/acme/pairing-tokens", json={})
    assert no_user.status_code == 400 and "body.api_user" in no_user.json()["message"]
    for age in ("-1", '"old"', "true", "Infinity"):
        body = '{"api_user": "signer-a", "age": ' + age + "}"
        aged = control.post("/workspaces/acme/pairing-tokens", content=body)
        assert aged.status_code == 400 and "body.age" in aged.json()["message"], aged.text
    assert control.get("/transactions/tx-nope").status_code == 404
    assert control.get("/transactions").json() == before


def test_a_missing_certificate_is_a_clear_error(tmp_path: Path) -> None:
    with Processes(tmp_path) as procs:
        done = procs.run(
            "saas",
            *("saas", "serve", "--state", str(tmp_path / "s"), "--cert", str(tmp_path / "no.pem")),
            *("--key", str(tmp_path / "no.key")),
        )
    assert done.returncode == 2
    assert "--cert" in done.stderr and "no.pem" in done.stderr and "Traceback" not in done.stderr


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    cert, key, _ = self_signed_certificate(tmp_path)
    with socket.socket() as taken, Processes(tmp_path) as procs:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = procs.run(
            "saas",
            *("saas", "serve", "--state", str(tmp_path / "s"), "--cert", str(cert), "--key", str(key)),
            *("--gateway", f"127.0.0.1:{port}"),
        )
    assert done.returncode == 2, done.stderr
    assert str(port) in done.stderr and "Traceback" not in done.stderr


def test_a_state_directory_whose_file_is_not_a_saas_state_is_a_clear_error(tmp_path: Path) -> None:
    cert, key, _ = self_signed_certificate(tmp_path)
    state = tmp_path / "s"
    state.mkdir()
    (state / "saas.sqlite").write_bytes(b"not a database " * 200)
    with Processes(tmp_path) as procs:
        done = procs.run(
            "saas",
            *("saas", "serve", "--state", str(state), "--cert", str(cert), "--key", str(key)),
        )
    assert done.returncode == 2, done.stderr
    assert "saas.sqlite" in done.stderr and "Traceback" not in done.stderr
    assert (state / "saas.sqlite").read_bytes() == b"not a database " * 200  # left as it was


def test_an_owner_device_that_does_not_answer_is_a_clear_error(tmp_path: Path) -> None:
    cert, key, _ = self_signed_certificate(tmp_path)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        with Processes(tmp_path) as procs:
            done = procs.run(
                "saas",
                *("saas", "serve", "--state", str(tmp_path / "s"), "--cert", str(cert), "--key", str(key)),
                *("--owner", f"http://127.0.0.1:{port}"),
            )
    assert done.returncode == 2, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr and "owner device" in done.stderr
    assert "Traceback" not in done.stderr
