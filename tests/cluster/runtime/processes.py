"""Real processes for runtime tests, each in its own process group, always killed.

    with Processes(tmp_path) as procs:
        saas = procs.start("saas", "saas", "serve", ...)

On leaving the block (a failure included) every group gets SIGKILL and is reaped, so no test leaves an
orphan behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

COMMAND = [sys.executable, "-m", "cosigner_ha.cli"]


class Processes:
    def __init__(self, tmp_path: Path) -> None:
        self.logs = tmp_path / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for child in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        for child in self.children.values():
            child.wait(timeout=10)

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        child = subprocess.Popen(
            [*COMMAND, *argv], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children[name] = child
        return child

    def run(self, name: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A short command (setup, hardware), to completion, in its own group; its output returned."""
        child = subprocess.Popen(
            [*COMMAND, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = child.communicate(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        return subprocess.CompletedProcess(child.args, child.returncode, out, err)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def wait_for_file(path: Path, child: subprocess.Popen[bytes], *, timeout: float = 30) -> dict[str, Any]:
    """The JSON a process writes once ready; fails early if the process died instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            value: dict[str, Any] = json.loads(path.read_text())
            return value
        if child.poll() is not None:
            raise AssertionError(f"the process exited with {child.returncode} before writing {path}")
        time.sleep(0.05)
    raise AssertionError(f"no {path} within {timeout} s")
