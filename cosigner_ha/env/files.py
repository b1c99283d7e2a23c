"""The one way the product writes a file a person or program will read: whole or not at all.

A report, a trace, a shrunk scenario: a reader (or a crash) sees the old file or the whole new one, never
half of either, and no temporary file is left behind on any failure path.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

#: An ordinary file: the owner writes, everybody reads (whatever the temporary file was created with).
FILE_MODE = 0o644


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, encoding: str = "utf-8") -> Iterator[TextIO]:
    """Yield a text handle on a temporary file in `path`'s folder; when the block ends without an error,
    flush and fsync it, give it mode 0644 and rename it over `path`. On any error (in the block, in the
    write, the fsync or the rename) the temporary file is removed and `path` is left as it was."""
    target = Path(path)
    temp = _temp_name(target)  # named before it exists: an interrupt at any point below finds it to remove
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding=encoding, newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), FILE_MODE)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(target.parent)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` through `atomic_writer`; returns the path written."""
    with atomic_writer(path, encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; a file system that cannot fsync a folder keeps it in its cache."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_name(target: Path) -> Path:
    """A fresh name for a temporary file beside `target` (hidden, ending in .tmp)."""
    return target.parent / f".{target.name}.{os.urandom(6).hex()}.tmp"


class OutputSet:
    """The outputs of one command, written all or nothing: each is written to a temporary file beside its
    target (`path`), and only `commit` renames them all into place. Leaving the block by an exception
    (a failure, Ctrl-C, SIGTERM) or without `commit` removes every temporary file and touches no target:
    never a new trace beside an old report."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def path(self, target: str | os.PathLike[str] | None) -> Path | None:
        """A new temporary file (mode 0644) in `target`'s folder to write `target`'s content to."""
        if target is None:
            return None
        target = Path(target)
        temp = _temp_name(target)
        self._staged.append((temp, target))  # before it exists, so that `discard` always finds it
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        os.chmod(temp, FILE_MODE)  # whatever the umask
        return temp

    def commit(self) -> None:
        """Rename every staged file over its target (each fsynced first), in the order they were staged."""
        for temp, _ in self._staged:
            fd = os.open(temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for temp, target in self._staged:
            os.replace(temp, target)
            _fsync_folder(target.parent)
        self._staged.clear()

    def discard(self) -> None:
        for temp, _ in self._staged:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        self._staged.clear()

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


__all__ = ["FILE_MODE", "OutputSet", "atomic_writer", "write_text_atomic"]


class OutputPathError(ValueError):
    """An output path that would destroy something or cannot be written: refused before any work."""


def check_outputs(
    outputs: Sequence[tuple[str, str | os.PathLike[str] | None]],
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> None:
    """Refuse, before a command does any work, an output (`(option, path)`; None: not asked for) that is one
    of `inputs`, a folder, a FIFO or a device (or a symlink to one), in a folder that does not exist or cannot
    be written, or the same file as another output."""
    taken: dict[Path, str] = {Path(p).resolve(): "the input" for p in inputs}
    for option, given in outputs:
        if given is None:
            continue
        path = Path(given)
        resolved = path.resolve()
        name = f"{option} {given}"
        if resolved in taken:
            other = taken[resolved]
            if other == "the input":
                raise OutputPathError(
                    f"{name}: would overwrite an input of the command; expected a path of its own"
                )
            raise OutputPathError(f"{name}: the same file as {other}; expected a path of its own")
        if resolved.exists():
            mode = resolved.stat().st_mode
            if stat.S_ISDIR(mode):
                raise OutputPathError(f"{name}: is a folder; expected a file name")
            if not stat.S_ISREG(mode):
                raise OutputPathError(
                    f"{name}: is not a regular file (a FIFO or a device); expected a file name"
                )
        folder = resolved.parent
        if not folder.is_dir():
            raise OutputPathError(f"{name}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputPathError(f"{name}: the folder {folder} cannot be written")
        taken[resolved] = option
