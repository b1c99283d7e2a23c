"""`cosigner-ha callback serve SCENARIO --handler NAME`: a node process consults a scenario's scripted handler
served by its own process over HTTPS with the certificate pinned; a callback fault set through the control
endpoint changes the outcome (REJECT, then healthy again); bad invocations are clear errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cosigner_ha.cluster.bundled import find_scenario
from tests.cluster.runtime.processes import Processes, wait_for_file
from tests.cluster.runtime.test_saas_serve import _hardware, _serve
from tests.net.conftest import self_signed_certificate

HANDLER = """
[callbacks.risk]
latency = "60ms"
action = "APPROVE"
"""


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "with-handler.toml"
    path.write_text(find_scenario("single-cosigner").read_text() + HANDLER)
    return path


def _sign(control: httpx.Client) -> dict[str, Any]:
    body = {
        "initiator": "ops",
        "asset": "ETH",
        "amount": "1",
        "source": "vault:hot",
        "destination": "wallet:partner-a",
    }
    tx: dict[str, Any] = control.post("/workspaces/acme/transactions", json=body).json()
    deadline = time.monotonic() + 60
    while not tx["terminal"] and time.monotonic() < deadline:
        time.sleep(0.1)
        tx = control.get(f"/transactions/{tx['id']}").json()
    return tx


@pytest.mark.timeout(180)
def test_a_node_consults_a_callback_serve_process_over_pinned_https(tmp_path: Path) -> None:
    home = tmp_path / "node"
    cb = tmp_path / "cb"
    cb.mkdir()
    cert, key, _ = self_signed_certificate(cb)
    with Processes(tmp_path) as procs:
        handler_child = procs.start(
            "callback",
            *(
                "callback",
                "serve",
                str(_scenario(tmp_path)),
                "--handler",
                "risk",
                "--state",
                str(cb / "state"),
            ),
            *("--listen", "127.0.0.1:0", "--cert", str(cert), "--tls-key", str(key), "--time-scale", "60"),
        )
        handler = wait_for_file(cb / "state" / "ready.json", handler_child)
        assert handler["url"].startswith("https://") and handler["public_key"] is None  # certificate mode
        vendor, measurement = _hardware(procs, home)
        ready = _serve(procs, tmp_path, "--vendor-key", vendor, "--measurement", measurement)
        control = httpx.Client(base_url=ready["control"], timeout=10)
        token = control.post("/workspaces/acme/pairing-tokens", json={"api_user": "signer-a"}).json()["token"]
        common = ["--home", str(home), "--saas", ready["gateway"], "--saas-cert", str(tmp_path / "cert.pem")]
        callback = ["--callback-url", handler["url"], "--callback-cert", str(cert)]
        setup = procs.run("setup", "node", "setup", *common, "--token", token, *callback)
        assert setup.returncode == 0, setup.stderr
        assert "(certificate)" in setup.stdout
        procs.start("node", "node", "start", *common)

        assert _sign(control)["status"] == "COMPLETED"
        requests = httpx.get(f"{handler['control']}/health").json()["requests"]
        assert requests >= 1  # the node asked the handler

        assert httpx.post(f"{handler['control']}/fault", json={"mode": "reject"}).status_code == 200
        rejected = _sign(control)
        assert rejected["status"] == "REJECTED", rejected
        assert httpx.post(f"{handler['control']}/fault", json={"mode": None}).status_code == 200
        assert _sign(control)["status"] == "COMPLETED"
        bad = httpx.post(f"{handler['control']}/fault", json={"mode": "melt"})
        assert bad.status_code == 400 and "body.mode" in bad.json()["message"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--handler", "nope"], "--handler 'nope'"),
        (["--handler", "risk", "--listen", "0.0.0.0:0"], "plain HTTP only on a loopback address"),
        (["--handler", "risk", "--cert", "missing.pem", "--tls-key", "missing.key"], "missing.pem"),
        ([], "--handler NAME is required"),
    ],
)
def test_bad_callback_serve_invocations_are_clear_errors(
    tmp_path: Path, extra: list[str], expected: str
) -> None:
    with Processes(tmp_path) as procs:
        done = procs.run(
            "callback", "callback", "serve", str(_scenario(tmp_path)), "--state", str(tmp_path / "s"), *extra
        )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
