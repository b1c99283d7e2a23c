"""The co-signer's log, in the product's line format, rotated like the product's files.

`${AppName}:${Line} ${LogLevel} ${dd/MM/yyyy} ${HH:mm:ss,fff} ${ClassName} ::${MethodName} - ${LogMessage}`

Lines go to `customer_cosigner.log` on the host disk, rotated over 10 files of 4.1 MB
(`customer_cosigner.log`, `.1` ... `.9`, oldest dropped). Timestamps come from the node's wall clock
(simulated time, skew included, in simulation). Every line is also a `log` trace event (without the
source line number, so that editing code does not change a run's trace).
"""

from __future__ import annotations

import datetime as _dt
import posixpath
import sys

from cosigner_ha.env import Environment
from cosigner_ha.node.storage import Disk

LEVELS = {"DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40}
LOG_DIRECTORY = "/databases/cosigner/log"
LOG_FILE = "customer_cosigner.log"
MAX_BYTES = 4_100_000
FILES = 10


def format_line(app: str, line: int, level: str, wall: float, cls: str, method: str, message: str) -> str:
    moment = _dt.datetime.fromtimestamp(wall, tz=_dt.UTC)
    stamp = _seconds_text(wall, moment) + f",{moment.microsecond // 1000:03d}"
    return f"{app}:{line} {level} {stamp} {cls} ::{method} - {message}"


#: `dd/MM/yyyy HH:mm:ss` by second: a busy node writes several lines a second, and `strftime` costs more
#: than the rest of a line. Keyed by the whole seconds of `wall` and the moment's second, which tell apart
#: the one case where the two differ (microseconds rounded up into the next second).
_SECONDS_TEXT: dict[tuple[int, int], str] = {}


def _seconds_text(wall: float, moment: _dt.datetime) -> str:
    key = (int(wall), moment.second)
    text = _SECONDS_TEXT.get(key)
    if text is None:
        if len(_SECONDS_TEXT) >= 64:
            _SECONDS_TEXT.clear()
        text = _SECONDS_TEXT[key] = moment.strftime("%d/%m/%Y %H:%M:%S")
    return text


class NodeLog:
    """One node's log. `for_class(name)` gives the per-class logger the node's parts write through."""

    def __init__(
        self,
        env: Environment,
        *,
        node: str,
        disk: Disk | None,
        directory: str = LOG_DIRECTORY,
        filename: str = LOG_FILE,
        app: str = "cosigner",
        level: str = "INFO",
        max_bytes: int = MAX_BYTES,
        files: int = FILES,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
        if files < 1 or max_bytes < 1:
            raise ValueError("a log needs at least one file of at least one byte")
        self.env = env
        self.node = node
        self.disk = disk
        self.path = posixpath.join(directory, filename)
        self.app = app
        self.threshold = LEVELS[level]
        self.max_bytes = max_bytes
        self.files = files

    def for_class(self, cls: str) -> ClassLog:
        return ClassLog(self, cls)

    def write(self, level: str, cls: str, method: str, message: str, *, depth: int = 1) -> None:
        if LEVELS[level] < self.threshold:
            return
        line_no = sys._getframe(depth).f_lineno
        self.env.trace.record("log", node=self.node, level=level, cls=cls, method=method, message=message)
        if self.disk is None:
            return
        text = format_line(self.app, line_no, level, self.env.clock.wall(), cls, method, message) + "\n"
        data = text.encode()
        if not self.disk.exists(self.path):
            self.disk.create(self.path)
        elif self.disk.size(self.path) + len(data) > self.max_bytes:
            self._rotate()
        self.disk.append(self.path, data)

    def _rotate(self) -> None:
        assert self.disk is not None
        oldest = f"{self.path}.{self.files - 1}"
        if self.files == 1:
            self.disk.remove(self.path)
        else:
            self.disk.remove(oldest)
            for n in range(self.files - 2, 0, -1):
                if self.disk.exists(f"{self.path}.{n}"):
                    self.disk.rename(f"{self.path}.{n}", f"{self.path}.{n + 1}")
            self.disk.rename(self.path, f"{self.path}.1")
        self.disk.create(self.path)

    def tail(self, n: int = 100) -> list[str]:
        """The last `n` lines across the rotated files (the `logs [N]` command)."""
        if self.disk is None:
            return []
        names = [f"{self.path}.{k}" for k in range(self.files - 1, 0, -1)] + [self.path]
        lines: list[str] = []
        for name in names:
            data = self.disk.read(name)
            if data:
                lines.extend(data.decode(errors="replace").splitlines())
        return lines[-n:] if n > 0 else []


class ClassLog:
    """Writes lines under one class name; the source line is the caller's."""

    __slots__ = ("cls", "log")

    def __init__(self, log: NodeLog, cls: str) -> None:
        self.log = log
        self.cls = cls

    def __call__(self, level: str, method: str, message: str) -> None:
        self.log.write(level, self.cls, method, message, depth=2)

    def debug(self, method: str, message: str) -> None:
        self.log.write("DEBUG", self.cls, method, message, depth=2)

    def info(self, method: str, message: str) -> None:
        self.log.write("INFO", self.cls, method, message, depth=2)

    def warn(self, method: str, message: str) -> None:
        self.log.write("WARN", self.cls, method, message, depth=2)

    def error(self, method: str, message: str) -> None:
        self.log.write("ERROR", self.cls, method, message, depth=2)
