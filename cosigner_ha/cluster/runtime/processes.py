"""The runtime's child processes: each in its own process group (session), so a signal reaches it and
whatever it started, and `close` leaves nothing behind (SIGTERM, then SIGKILL, then reaped). Each child
also dies with the launcher when the launcher is SIGKILLed (Linux, `parent_death`)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from cosigner_ha.cluster.runtime.parent_death import child_environment
from cosigner_ha.cluster.runtime.trace_merge import Exit

#: How every child runs the product: the same interpreter, the same package.
COMMAND = (sys.executable, "-m", "cosigner_ha.cli")
#: Lines of a dead process's log shown in its report.
LOG_TAIL = 20
#: Real seconds between two looks at a child a task waits for.
POLL = 0.02
#: Real seconds a service gets to write its ready file (the SaaS to answer on its control API), and nodes
#: to come online.
READY_LIMIT = 60.0


class ProcessFailed(RuntimeError):
    """A child that exited when it should not have; the message carries its status and its log's tail."""


@dataclasses.dataclass
class Child:
    name: str
    role: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = LOG_TAIL) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self) -> ProcessFailed:
        status = self.popen.returncode
        how = f"signal {-status}" if status is not None and status < 0 else f"status {status}"
        return ProcessFailed(
            f"{self.role} {self.name} (pid {self.pid}) exited with {how}; log:\n{self.tail()}"
        )


class ProcessGroup:
    """Children started with `start`, commands run to completion with `finish`; `close` ends them all."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, Child] = {}
        #: Every child seen to end (status, or None when it could not be reaped), for the merged trace.
        self.exits: list[Exit] = []
        self._noted: set[int] = set()

    def _note_exit(self, child: Child) -> None:
        if child.popen.returncode is not None and child.pid not in self._noted:
            self._noted.add(child.pid)
            self.exits.append(Exit(child.name, child.pid, child.popen.returncode, time.time()))

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self, name: str, role: str, *argv: str) -> Child:
        """Start `name` (again, after it died: a restart on the same files)."""
        previous = self.children.get(name)
        if previous is not None:
            previous.popen.poll()
            self._note_exit(previous)
        child = self._spawn(name, role, argv)
        self.children[name] = child
        return child

    def _spawn(self, name: str, role: str, argv: tuple[str, ...]) -> Child:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [*COMMAND, *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=child_environment(),
            )
        return Child(name, role, popen, log)

    async def finish(self, name: str, role: str, *argv: str, timeout: float = 120) -> str:
        """A command to completion in its own group, its output; `ProcessFailed` with its log when it
        fails or takes longer than `timeout`. The other tasks go on meanwhile; cancelled, it is killed."""
        child = self._spawn(name, role, argv)
        try:
            with anyio.move_on_after(timeout):
                while child.popen.poll() is None:
                    await anyio.sleep(POLL)
            if child.popen.returncode is None:
                raise ProcessFailed(f"{name}: no answer within {timeout:g} s; log:\n{child.tail()}")
        finally:
            _kill(child.popen)
        return _output(child)

    def check(self, expected_down: Collection[str] = ()) -> None:
        """`ProcessFailed` for the first child that died, other than those `expected_down` (killed on
        purpose: a crash fault)."""
        for child in self.children.values():
            if child.popen.poll() is not None:
                self._note_exit(child)
                if child.name not in expected_down:
                    raise child.failure()

    def send(self, name: str, signum: int) -> None:
        """Send `signum` to the child's process group (a child already gone is left alone)."""
        _signal(self.children[name].popen, signum)

    def kill(self, name: str, *, signum: int = signal.SIGKILL, grace: float = 10.0) -> None:
        """`signum` to the child's group, then wait for it (SIGKILL after `grace`) and note its exit."""
        child = self.children[name]
        _signal(child.popen, signum)
        _signal(child.popen, signal.SIGCONT)  # a paused child must run to act on a SIGTERM
        try:
            child.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _kill(child.popen)
        self._note_exit(child)

    def close(self, grace: float = 5.0) -> None:
        for child in self.children.values():
            _signal(child.popen, signal.SIGTERM)
            _signal(child.popen, signal.SIGCONT)  # a paused child must run to see SIGTERM
        deadline = time.monotonic() + grace
        for child in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        for child in self.children.values():
            _kill(child.popen)
            self._note_exit(child)


async def ready_file(path: Path, child: Child) -> dict[str, Any]:
    """The service's ready file once it is written; `ProcessFailed` if it dies first or takes too long."""
    with anyio.move_on_after(READY_LIMIT):
        while not path.exists():
            if child.popen.poll() is not None:
                raise child.failure()
            await anyio.sleep(POLL)
        ready: dict[str, Any] = json.loads(path.read_text())
        return ready
    raise ProcessFailed(
        f"{child.role} {child.name} did not become ready within {READY_LIMIT:g} s; log:\n{child.tail()}"
    )


def _signal(popen: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signum)


def _kill(popen: subprocess.Popen[bytes]) -> None:
    _signal(popen, signal.SIGKILL)
    popen.wait()


def _output(child: Child) -> str:
    """A finished command's output, or `ProcessFailed` with its log's tail when it did not exit 0."""
    if child.popen.returncode != 0:
        raise child.failure()
    return child.log.read_text(errors="replace")
