"""A user's own FastAPI handler (tests/cluster/handlers/fastapi_handler.py, unmodified) in a runtime drill:
`callback serve` imports it from the scenario's `path` and serves it under hypercorn on asyncio, lifespan
included, behind the node->handler link; the nodes verify its JWT answers with the scenario's
`public_key`, it checks theirs with the keys the launcher writes to its `cosigner-keys` folder. Its
decisions are applied: what it rejects is rejected, what it approves is signed, every invariant holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.cluster.bundled import find_scenario
from cosigner_ha.cluster.runtime.fault_play import refusals
from cosigner_ha.cluster.scenario import load_scenario
from cosigner_ha.node.rsa_keys import public_key_pem
from tests.cluster.handlers import plain
from tests.cluster.runtime.processes import Processes, wait_for_file
from tests.cluster.test_fastapi_handler import deploy

COMMAND = [sys.executable, "-m", "cosigner_ha.cli", "run"]

SCENARIO = """
[scenario]
name = "runtime-user-handler"
seed = 3
duration = "2m"

[saas]
probe_window = "6s"

[workspace]
name = "acme"
env = "mainnet"
prices_usd = {{ ETH = 3000 }}
vaults = ["hot"]
wallets = ["partner-a"]

[[users]]
name = "tywin"
role = "OWNER"

[[api_users]]
name = "ops"
role = "EDITOR"
[[api_users]]
name = "signer-a"
role = "SIGNER"
callback = "risk"
[[api_users]]
name = "signer-b"
role = "SIGNER"
callback = "risk"

[[groups]]
name = "cosigners"
members = ["signer-a", "signer-b"]

[[nodes]]
name = "sgx-a"
enclave = "sgx"
site = "dc/a"
api_users = ["signer-a"]
[[nodes]]
name = "sgx-b"
enclave = "sgx"
site = "dc/b"
api_users = ["signer-b"]

[[policy.rules]]
operation = "TRANSFER"
source = "vault:*"
action = "ALLOW"
designated_signers = {{ groups = ["cosigners"] }}

[[workload]]
name = "withdrawals"
rate = "6/min"
initiator = "ops"
asset = "ETH"
amount = {{ min = 0.5, max = 10 }}
source = "vault:hot"
destination = "wallet:partner-a"

[callbacks.risk]
asgi = "{module}:app"
path = "."
public_key = "handler_public.pem"
latency = "1s"

[expect]
all_terminal = true
no_double_sign = true
no_nonce_reuse = true
min_completed_ratio = 0.1  # the handler rejects what is above 5 ETH, about half
"""


def _deployed(folder: Path, workdir: Path) -> Path:
    """The handler's folder as a user lays it out, with its scenario; its `cosigner-keys` folder is the one
    the runtime fills with the nodes' keys (as a user would point the handler at it)."""
    module = deploy(folder)
    (folder / "cosigner-keys").rmdir()
    (folder / "cosigner-keys").symlink_to(workdir / "callbacks" / "risk" / "cosigner-keys")
    path = folder / "scenario.toml"
    path.write_text(SCENARIO.format(module=module))
    return path


def test_the_runtime_refuses_no_asgi_handler_and_names_one_without_its_public_key(tmp_path: Path) -> None:
    path = _deployed(tmp_path, tmp_path / "work")
    assert refusals(load_scenario(path)) == []
    path.write_text(path.read_text().replace('public_key = "handler_public.pem"\n', ""))
    assert refusals(load_scenario(path)) == [
        "callbacks.risk.public_key: missing; an asgi handler in the runtime needs the key the nodes "
        "verify its answers with"
    ]


@pytest.mark.slow  # ~22 s: start-up, pairing and 6 s of drill at time scale 20
@pytest.mark.timeout(240)
def test_a_users_fastapi_handler_decides_a_runtime_drill(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    scenario = _deployed(tmp_path, workdir)
    report_file, trace_file = tmp_path / "r.json", tmp_path / "t.jsonl"
    done = subprocess.run(
        [
            *(*COMMAND, str(scenario), "--runtime", "--time-scale", "20", "--workdir", str(workdir)),
            *("--json", str(report_file), "--trace", str(trace_file)),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
        timeout=200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    report: dict[str, Any] = json.loads(report_file.read_text())
    assert report["passed"] and all(c["ok"] for c in report["invariants"].values())
    events = [json.loads(line) for line in trace_file.read_text().splitlines()[1:]]
    started = {(e["process"], e["role"]) for e in events if e["kind"] == "process_started"}
    assert ("callback-risk", "callback") in started  # the handler ran as its own process
    answers = [e for e in events if e["kind"] == "callback_response"]
    rejected = {e["tx"] for e in answers if e["action"] == "REJECT"}
    approved = {e["tx"] for e in answers if e["action"] == "APPROVE"}
    assert rejected and approved
    assert {e["reason"] for e in answers if e["action"] == "REJECT"} == {"above 5 ETH"}
    final = {e["tx"]: e["status"] for e in events if e["kind"] == "tx_status" and "tx" in e}
    signed = {e["tx"] for e in events if e["kind"] == "signed"}
    assert signed and signed <= approved and not signed & rejected  # a rejection rejects
    assert all(final.get(tx) != "COMPLETED" for tx in rejected)
    assert not [e for e in events if e["kind"] == "callback_error"]
    log = (tmp_path / "events.log").read_text().splitlines()
    assert log[0] == "startup" and log[-1] == "shutdown"  # its lifespan ran, shutdown when it stopped
    assert sum(line.startswith("REJECT ") for line in log) >= len(rejected)
    keys = sorted(p.name for p in (workdir / "callbacks" / "risk" / "cosigner-keys").iterdir())
    assert keys == ["sgx-a-cosigner-public.pem", "sgx-b-cosigner-public.pem"]


ROOT = Path(__file__).resolve().parents[3]


def _start(procs: Processes, tmp_path: Path, target: str) -> tuple[Path, subprocess.Popen[bytes]]:
    scenario = tmp_path / "handler.toml"
    scenario.write_text(
        find_scenario("single-cosigner").read_text() + f'\n[callbacks.risk]\n{target}\npath = "{ROOT}"\n'
    )
    state = tmp_path / "state"
    argv = ("callback", "serve", str(scenario), "--handler", "risk", "--state", str(state))
    return state, procs.start("callback", *(*argv, "--listen", "127.0.0.1:0", "--time-scale", "60"))


@pytest.mark.timeout(60)
def test_a_python_function_is_served_as_a_process_in_public_key_mode(tmp_path: Path) -> None:
    node_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    node_pem = public_key_pem(node_key)
    with Processes(tmp_path) as procs:
        state, child = _start(procs, tmp_path, 'python = "tests.cluster.handlers.plain:approve"')
        ready = wait_for_file(state / "ready.json", child)
        trusted = httpx.post(f"{ready['control']}/trust", json={"public_key": node_pem, "node": "sgx-a"})
        assert trusted.status_code == 200, trusted.text
        assert (state / "cosigner-keys" / "sgx-a-cosigner-public.pem").read_text() == node_pem
        body = {"txId": "tx-1", "requestId": "r-1", "amountStr": "2"}
        url = f"{ready['url']}/v2/tx_sign_request"
        answer = httpx.post(url, content=jwt.encode(body, node_key, algorithm="RS256"))
        assert answer.status_code == 200, answer.text
        claims = jwt.decode(answer.text, ready["public_key"], algorithms=["RS256"])
        assert claims["action"] == "APPROVE" and claims["requestId"] == "r-1"
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        refused = httpx.post(url, content=jwt.encode(body, stranger, algorithm="RS256"))
        assert refused.status_code == 401  # a request no trusted node signed
        fault = httpx.post(f"{ready['control']}/fault", json={"mode": "reject"})
        assert fault.status_code == 400 and "takes no injected fault" in fault.json()["message"]


@pytest.mark.timeout(60)
def test_an_asgi_handler_whose_lifespan_startup_fails_is_exit_2_naming_it(tmp_path: Path) -> None:
    public = tmp_path / "handler_public.pem"
    public.write_text(plain.PUBLIC_PEM)
    target = (
        f'asgi = "tests.cluster.handlers.plain:failing_startup"\npublic_key = "{public}"\nloop = "asyncio"'
    )
    with Processes(tmp_path) as procs:
        state, child = _start(procs, tmp_path, target)
        assert child.wait(timeout=40) == 2
        log = procs.log("callback")
    assert "error: callback risk: its lifespan startup failed" in log, log
    assert "cannot load plugins from /etc/handler/plugins" in log
    assert "Traceback" not in log and not (state / "ready.json").exists()


@pytest.mark.slow  # ~20 s, as the FastAPI drill
@pytest.mark.timeout(240)
def test_a_python_function_handler_approves_a_runtime_drill(tmp_path: Path) -> None:
    """`python = "module:function"` behind `callback serve`'s HTTP front: every request it approves is
    signed, nothing fails."""
    workdir = tmp_path / "work"
    text = SCENARIO.format(module="unused")
    start = text.index("[callbacks.risk]")
    handler = f'[callbacks.risk]\npython = "tests.cluster.handlers.plain:approve"\npath = "{ROOT}"\n'
    scenario = tmp_path / "python-handler.toml"
    scenario.write_text(text[:start] + handler + text[text.index("[expect]") :])
    report_file, trace_file = tmp_path / "r.json", tmp_path / "t.jsonl"
    done = subprocess.run(
        [
            *(*COMMAND, str(scenario), "--runtime", "--time-scale", "20", "--workdir", str(workdir)),
            *("--json", str(report_file), "--trace", str(trace_file)),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
        timeout=200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    report: dict[str, Any] = json.loads(report_file.read_text())
    assert report["passed"] and report["transactions"]["by_status"] == {
        "COMPLETED": report["transactions"]["total"]
    }
    events = [json.loads(line) for line in trace_file.read_text().splitlines()[1:]]
    approved = {e["tx"] for e in events if e["kind"] == "callback_response" and e["action"] == "APPROVE"}
    signed = {e["tx"] for e in events if e["kind"] == "signed"}
    assert signed and signed == approved
    assert not [e for e in events if e["kind"] == "callback_error"]
