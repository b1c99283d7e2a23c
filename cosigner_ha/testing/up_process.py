"""`cosigner-ha up` as a child process, for a user's integration suite: the scenario's cluster as real
processes (SaaS, owner device, proxies, co-signer nodes) behind the local Fireblocks REST API.

    with fireblocks_up("scenarios/rest.toml") as up:
        fireblocks = Fireblocks(ClientConfiguration(**up.sdk_config("ops")))

Leaving the block sends Ctrl-C to `up`, which stops every process it started; `up` runs in its own process
group, so a stuck shutdown is ended by killing the group, never by leaving it behind. The in-process form
(`local_fireblocks`) starts faster and reaches into the SaaS's state; this one is the cluster as a user runs
it, with nothing shared but the network.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ..exits import EXIT_INTERRUPTED

#: How long start-up (processes, key generation, pairing) may take before the harness gives up.
START_TIMEOUT = 240.0
#: How long `up` may take to stop its processes after Ctrl-C before its process group is killed.
STOP_TIMEOUT = 60.0
#: `up`'s ready line (cluster/commands_up.py): the base URL, and the file that holds the credentials.
READY = re.compile(
    r"local Fireblocks API ready at (?P<url>\S+) for API users: .*; credentials in (?P<file>.+)$"
)


class UpFailed(RuntimeError):
    """`up` ended before it was ready, or did not stop cleanly; carries what it said on stderr."""


@dataclasses.dataclass(frozen=True)
class ApiUser:
    name: str
    role: str
    api_key: str
    #: The PEM secret key `up` generated, or None when the scenario brought the user's own public key.
    secret_key: str | None


@dataclasses.dataclass(frozen=True)
class UpProcess:
    """A running `up`: its base URL, each API user's credentials, its work directory and pid."""

    base_url: str
    users: dict[str, ApiUser]
    workdir: Path
    pid: int

    def sdk_config(self, api_user: str) -> dict[str, Any]:
        """`ClientConfiguration(**up.sdk_config(name))` for the official SDK."""
        user = self.users[api_user]
        if user.secret_key is None:
            raise KeyError(f"API user {api_user!r} brought its own public key; its secret key is not here")
        return {"api_key": user.api_key, "secret_key": user.secret_key, "base_path": self.base_url}


def _ctrl_c_default() -> None:
    """In the child before exec: a suite run as a shell's background job has SIGINT ignored, which `up`
    would inherit and the harness's Ctrl-C would never stop it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _users(credentials: Path) -> dict[str, ApiUser]:
    table = json.loads(credentials.read_text())
    return {
        entry["name"]: ApiUser(
            entry["name"],
            entry["role"],
            entry["api_key"],
            Path(entry["secret_key_file"]).read_text() if "secret_key_file" in entry else None,
        )
        for entry in table
    }


@contextlib.contextmanager
def fireblocks_up(
    scenario: str | Path,
    *,
    workdir: Path | None = None,
    time_scale: float | None = None,
    timeline: bool = False,
    webhooks: Sequence[str] = (),
    extra: Sequence[str] = (),
    start_timeout: float = START_TIMEOUT,
) -> Iterator[UpProcess]:
    """Run `cosigner-ha up SCENARIO` on a free loopback port until the block ends."""
    own = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="cosigner-ha-up-fixture-")) if workdir is None else workdir
    command = [sys.executable, "-m", "cosigner_ha.cli", "up", str(scenario), "--api", "127.0.0.1:0"]
    command += ["--workdir", str(folder)]
    if time_scale is not None:
        command += ["--time-scale", str(time_scale)]
    if timeline:
        command.append("--timeline")
    for url in webhooks:
        command += ["--webhook", url]
    command += list(extra)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the harness can always end all of it
        preexec_fn=_ctrl_c_default,
    )
    assert process.stdout is not None and process.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    errors: queue.Queue[str | None] = queue.Queue()
    pumps = [
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, errors), daemon=True),
    ]
    for pump in pumps:
        pump.start()

    def said() -> str:
        out = []
        while not errors.empty():
            line = errors.get()
            if line is not None:
                out.append(line)
        return "".join(out).strip()

    try:
        match = None
        while match is None:
            try:
                line = lines.get(timeout=start_timeout)
            except queue.Empty:
                raise UpFailed(f"`up` was not ready within {start_timeout:g} s: {said()}") from None
            if line is None:
                process.wait(timeout=STOP_TIMEOUT)
                raise UpFailed(f"`up` exited with status {process.returncode} before it was ready: {said()}")
            match = READY.search(line.strip())
        yield UpProcess(match["url"], _users(Path(match["file"])), folder, process.pid)
        status = stop_up(process)
        if status != EXIT_INTERRUPTED:
            raise UpFailed(
                f"`up` ended with status {status} instead of {EXIT_INTERRUPTED} on Ctrl-C: {said()}"
            )
    finally:
        stop_up(process)
        for pump in pumps:
            pump.join(timeout=5)
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def stop_up(process: subprocess.Popen[str]) -> int:
    """Ctrl-C, as a user stops `up`; then SIGTERM, which `up` also answers by stopping every process it
    started; its process group killed only if neither worked in time."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        if process.poll() is None:
            process.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT)
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:  # not started in a session of its own
            process.kill()
        process.wait()
    return process.returncode
