"""A pair fault with `token_age` on real processes (`run --runtime`): the operator's token comes from the
console at `at` and is used `token_age` later on the running node, through its admin socket, without the
launcher waiting for the answer (`admin_socket.Posted`); past `pairing_token_validity` the node refuses it
(TOKEN_EXPIRED, a `fault_error`), as in simulation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from cosigner_ha.cluster import admin_socket
from cosigner_ha.cluster.runtime.fault_play import refusals
from cosigner_ha.cluster.scenario import load_scenario
from cosigner_ha.node.errors import PairingError

TOKEN_AGE = Path(__file__).parent / "scenarios" / "token_age.toml"


def test_a_posted_request_is_answered_later_with_the_refusal_s_code(tmp_path: Path) -> None:
    async def run(request: dict[str, Any]) -> tuple[int, list[str], str | None]:
        await anyio.sleep(0.3)  # a pairing waits for the owner's approval
        if request["token"] == "stale":
            raise PairingError("the pairing token expired", code="TOKEN_EXPIRED")
        return 0, ["signer-d paired"], None

    async def main() -> list[Any]:
        answers: list[Any] = []
        async with anyio.create_task_group() as tasks:
            await tasks.start(admin_socket.serve, tmp_path, run)
            for token in ("fresh", "stale"):
                posted = admin_socket.Posted(tmp_path, {"command": "pair", "token": token})
                assert posted.poll() is None, "sent, not waited for"
                with anyio.fail_after(5):
                    while (answer := posted.poll()) is None:
                        await anyio.sleep(0.01)
                answers.append(answer)
            tasks.cancel_scope.cancel()
        return answers

    fresh, stale = anyio.run(main)
    assert fresh == {"exit": 0, "lines": ["signer-d paired"], "error": None, "code": None}
    assert stale["exit"] == 1 and stale["code"] == "TOKEN_EXPIRED" and "expired" in stale["error"]
    with pytest.raises(OSError):
        admin_socket.Posted(tmp_path, {"command": "pair"})  # no node runs there any more


def test_a_pair_with_a_token_age_is_played_not_refused() -> None:
    assert refusals(load_scenario(TOKEN_AGE)) == []


def _run(tmp_path: Path, *options: str) -> list[dict[str, Any]]:
    trace = tmp_path / "t.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "cosigner_ha.cli", "run", str(TOKEN_AGE), *options, "--trace", str(trace)],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "120"},
        timeout=200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    return [json.loads(line) for line in trace.read_text().splitlines()[1:]]


def _pairings(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the two pair faults came to, times from the faults (scenario seconds)."""
    (start,) = [e["t"] for e in events if e["kind"] == "fault" and e["index"] == 0]
    return {
        "errors": [
            (e["index"], e["api_user"], e["code"], round(e["t"] - start))
            for e in events
            if e["kind"] == "fault_error"
        ],
        "requested": [
            (e["api_user"], round(e["t"] - start))
            for e in events
            if e["kind"] == "pairing_requested" and e.get("api_user") in ("signer-d", "signer-e")
        ],
        "signers": {e["api_user"] for e in events if e["kind"] == "signed"},
    }


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_aged_token_pairs_and_one_past_its_validity_is_refused_as_in_simulation(tmp_path: Path) -> None:
    (tmp_path / "sim").mkdir()
    simulated = _pairings(_run(tmp_path / "sim"))
    played = _pairings(_run(tmp_path, "--runtime", "--time-scale", "60"))
    for outcome in (simulated, played):
        ((index, user, code, at),) = outcome["errors"]
        assert (index, user, code) == (1, "signer-e", "TOKEN_EXPIRED")
        assert 355 <= at <= 380, "refused when used, six minutes after it was issued"
        ((user, at),) = outcome["requested"]
        assert user == "signer-d" and 115 <= at <= 150, "used two minutes after it was issued"
        assert "signer-d" in outcome["signers"] and "signer-e" not in outcome["signers"]
