"""`[callbacks.X] private_key`: a scripted handler signs with the key file the user gives it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.cli import main
from cosigner_ha.cluster.bundled import SCENARIOS
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import ScenarioError, load_scenario


def _scenario(tmp_path: Path, key_line: str) -> Path:
    text = (SCENARIOS / "active-active-passive.toml").read_text()
    text = text.replace('duration = "6h"', 'duration = "20m"').split("[[faults]]")[0]
    text = text.replace("[callbacks.risk]", f"[callbacks.risk]\n{key_line}")
    path = tmp_path / "keyed.toml"
    path.write_text(text)
    return path


def _write_key(path: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    return key


def test_a_scripted_handler_signs_with_the_given_key_and_the_run_passes(tmp_path: Path) -> None:
    key = _write_key(tmp_path / "handler.pem")
    path = _scenario(tmp_path, 'private_key = "handler.pem"')
    scenario = load_scenario(path)
    (callback,) = scenario.callbacks
    expected = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert callback.private_key.public_pem == expected.decode()
    report = run_scenario(scenario).report
    assert report.passed, report.failed_checks()
    assert report.by_status.get("COMPLETED", 0) > 0  # the nodes accepted answers signed with that key


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "cannot read"), (b"not a key", "holds no unencrypted PEM private key")],
)
def test_a_bad_key_file_is_refused_at_load_with_where(
    content: bytes | None, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if content is not None:
        (tmp_path / "handler.pem").write_bytes(content)
    path = _scenario(tmp_path, 'private_key = "handler.pem"')
    with pytest.raises(ScenarioError, match="private_key"):
        load_scenario(path)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "callbacks.risk" in err and words in err and "Traceback" not in err
