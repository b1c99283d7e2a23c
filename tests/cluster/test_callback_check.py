"""`cosigner-ha callback check TARGET` (issue 17 item 5): the battery against a customer's FastAPI
handler in process, the reference handler over HTTP (`callback serve` in a child process), and handlers
that break Fireblocks' rules; exit 0 when all hold, 1 otherwise, 2 for a target that cannot be used."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.cli import main
from tests.cluster.test_fastapi_handler import deploy

CHECKS = {
    "answers within the deadline",
    "echoes requestId",
    "signs its JWT with the configured key",
    "answers a retried identical request the same way",
    "rejects a request signed by another key",
    "survives a malformed body",
    "handles a configuration-change request",
    "uses only APPROVE/REJECT/RETRY (IGNORE only for approvals)",
}


def key_files(folder: Path, name: str) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = folder / f"{name}_private.pem", folder / f"{name}_public.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def check(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, bool], str]:
    code = main(["callback", "check", *args, "--json"])
    captured = capsys.readouterr()
    if code == 2:
        return code, {}, captured.err
    report = json.loads(captured.out)
    return code, {c["check"]: c["passed"] for c in report["checks"]}, captured.err


def test_a_fastapi_handler_passes_the_battery_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = deploy(tmp_path)
    cosigner_private, cosigner_public = key_files(tmp_path, "checker")
    (tmp_path / "cosigner-keys" / "checker.pem").write_bytes(cosigner_public.read_bytes())
    code, results, _ = check(
        [
            f"{module}:app",
            "--path",
            str(tmp_path),
            "--handler-public-key",
            str(tmp_path / "handler_public.pem"),
            "--cosigner-key",
            str(cosigner_private),
        ],
        capsys,
    )
    assert set(results) == CHECKS
    assert code == 0 and all(results.values()), results
    log = (tmp_path / "events.log").read_text().splitlines()
    assert log[0] == "startup" and log[-1] == "shutdown"


def test_a_handler_answering_with_another_key_fails_the_signature_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = deploy(tmp_path)
    cosigner_private, cosigner_public = key_files(tmp_path, "checker")
    (tmp_path / "cosigner-keys" / "checker.pem").write_bytes(cosigner_public.read_bytes())
    _, other_public = key_files(tmp_path, "other")
    code, results, _ = check(
        [
            f"{module}:app",
            "--path",
            str(tmp_path),
            "--handler-public-key",
            str(other_public),
            "--cosigner-key",
            str(cosigner_private),
        ],
        capsys,
    )
    assert code == 1
    assert results["signs its JWT with the configured key"] is False


def test_a_function_that_echoes_the_wrong_id_fails_the_echo_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, results, _ = check(["tests.cluster.handlers.plain:wrong_echo"], capsys)
    assert code == 1 and results["echoes requestId"] is False
    code, results, _ = check(["tests.cluster.handlers.plain:approve"], capsys)
    assert code == 0 and all(results.values()), results


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("no_such_module:app", "cannot import it"),
        ("tests.cluster.handlers.plain:NOT_CALLABLE", "is a dict"),
        ("tests.cluster.handlers.plain:failing_startup", "the lifespan startup raised RuntimeError"),
        ("tests.cluster.handlers.plain:failing_app", "--handler-public-key"),
    ],
)
def test_a_target_that_cannot_be_checked_exits_2(
    target: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = check([target], capsys)
    assert code == 2 and err.startswith("error: ") and words in err, err
    assert "Traceback" not in err


def test_the_reference_handler_passes_the_battery_over_http(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler_private, handler_public = key_files(tmp_path, "handler")
    cosigner_private, cosigner_public = key_files(tmp_path, "checker")
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cosigner_ha.cli",
            "callback",
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--jwt-key",
            str(handler_private),
            "--cosigner-key",
            str(cosigner_public),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert serve.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(serve.stdout, selectors.EVENT_READ)
        assert selector.select(timeout=30), "callback serve did not start within 30 s"
        line = serve.stdout.readline()
        assert "listening on" in line, line
        url = line.split("listening on ")[1].split(",")[0].strip()
        code, results, _ = check(
            [url, "--handler-public-key", str(handler_public), "--cosigner-key", str(cosigner_private)],
            capsys,
        )
        assert set(results) == CHECKS
        assert code == 0 and all(results.values()), results
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=10)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
