"""Ctrl-C and SIGTERM end a command with one line, exit 130 / 143, no traceback, no output or temporary
file left (issue 14, item 5). A real process and real signals: the handling lives in `cli.main`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("sig", "code", "name"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_an_interrupted_run_leaves_nothing(tmp_path: Path, sig: int, code: int, name: str) -> None:
    argv = [sys.executable, "-m", "cosigner_ha.cli", "run"]  # the default scenario: several seconds
    argv += ["--json", "r.json", "--trace", "r.jsonl", "--html", "r.html"]
    process = subprocess.Popen(
        argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(2.0)
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == code, err
    assert err == f"interrupted: cosigner-ha run stopped by {name}\n"
    assert list(tmp_path.iterdir()) == []
