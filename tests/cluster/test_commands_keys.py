"""`cosigner-ha keys SCENARIO --out DIR`: the nodes' callback public keys, the ones a run then uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from cosigner_ha.cli import main
from cosigner_ha.cluster import world as world_module
from cosigner_ha.cluster.bundled import SCENARIOS, load
from cosigner_ha.cluster.runner import node_callback_keys, run_scenario


def test_the_keys_written_are_the_ones_a_run_with_that_seed_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, str] = {}
    real = world_module.trust_nodes

    def recording(world: Any) -> None:
        seen.update({name: rt.node.callback_public_key for name, rt in world.nodes.items()})
        real(world)

    monkeypatch.setattr(world_module, "trust_nodes", recording)
    short = load(SCENARIOS / "single-cosigner.toml")
    run_scenario(short, seed=7)
    assert seen == node_callback_keys(short, seed=7)


def test_keys_writes_one_pem_per_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "active-active-passive", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"{n}-cosigner-public.pem" for n in ("nitro-a", "nitro-b", "sgx-dc1")]
    keys = [load_pem_public_key((tmp_path / n).read_bytes()) for n in names]
    assert all(isinstance(k, rsa.RSAPublicKey) for k in keys)
    assert len({k.public_numbers().n for k in keys if isinstance(k, rsa.RSAPublicKey)}) == 3
    assert str(tmp_path / names[0]) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["keys", "no-such-scenario", "--out", "{tmp}"], "no such scenario file"),
        (["keys", "single-cosigner", "--out", "{tmp}/missing"], "not a folder"),
        (["keys", "single-cosigner", "--out", "{tmp}", "--seed", "-1"], "--seed must be between"),
    ],
)
def test_bad_input_is_exit_2_and_writes_nothing(
    argv: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
