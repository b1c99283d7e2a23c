"""Ctrl-C and SIGTERM end a run with one line, exit 130 / 143, no traceback, no output and no temporary file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

COMMAND = [sys.executable, "-m", "cosigner_ha.cli"]


@pytest.mark.parametrize(
    ("sig", "code", "name"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_an_interrupted_run_leaves_nothing_and_says_so(
    sig: signal.Signals, code: int, name: str, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [
            *COMMAND,
            "run",
            "active-active-passive",
            "--trace",
            "t.jsonl",
            "--json",
            "r.json",
            "--html",
            "r.html",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background job ignores Ctrl-C
    )
    try:
        deadline = time.monotonic() + 60
        while not any(tmp_path.iterdir()) and time.monotonic() < deadline:  # the trace's temporary file
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert f"interrupted by {name}: cosigner-ha run stopped" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no trace, report, page or temporary file


def _run_with_a_planted_run_command(tmp_path: Path, sitecustomize: str) -> subprocess.CompletedProcess[str]:
    """`python -m cosigner_ha.cli run` (as the runtime starts its children) with `run` replaced by the
    module that `sitecustomize` plants before the CLI imports it."""
    (tmp_path / "sitecustomize.py").write_text(sitecustomize)
    return subprocess.run(
        [*COMMAND, "run"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


STOPPED_IN_EXEC = """
import sys, types

command = types.ModuleType("cosigner_ha.cluster.commands_run")
command.register = lambda sub: sub.add_parser("run")


def run(args):
    # Ctrl-C landing while a dataclass builds its methods: the KeyboardInterrupt escapes an exec of source
    exec("import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\nunreached = 1")
    return 0


command.run = run
sys.modules[command.__name__] = command
"""


def test_ctrl_c_escaping_an_exec_of_source_text_still_exits_130(tmp_path: Path) -> None:
    """`python -m` (how the runtime starts its children) kills itself by SIGINT after exiting when a
    KeyboardInterrupt escaped an `exec` of source text, even one the CLI caught; it must exit 130 instead."""
    proc = _run_with_a_planted_run_command(tmp_path, STOPPED_IN_EXEC)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == "interrupted by Ctrl-C: cosigner-ha run stopped; nothing was written"


STOPPED_IN_A_FINALIZER = """
import os, signal, sys, time, types

command = types.ModuleType("cosigner_ha.cluster.commands_run")
command.register = lambda sub: sub.add_parser("run")


class Collected:
    def __del__(self):
        # the stop lands inside a finalizer (as inside the import system's module-lock callbacks)
        os.kill(os.getpid(), signal.SIGNUM)
        for _ in range(1000):
            pass


def run(args):
    Collected()
    for _ in range(300):  # three seconds of work that the stop must end
        time.sleep(0.01)
    return 0


command.run = run
sys.modules[command.__name__] = command
"""


@pytest.mark.parametrize(
    ("sig", "code", "name"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_a_stop_landing_in_a_finalizer_still_stops_the_command(
    sig: signal.Signals, code: int, name: str, tmp_path: Path
) -> None:
    """Python prints and drops an exception raised in a finalizer or weakref callback; a signal handled
    there must not let the command run on to the end and exit 0."""
    proc = _run_with_a_planted_run_command(tmp_path, STOPPED_IN_A_FINALIZER.replace("SIGNUM", sig.name))
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.strip() == f"interrupted by {name}: cosigner-ha run stopped; nothing was written"
