"""A simulated host disk: the durability rules of a POSIX file system, and a power loss at any write step.

It implements the node's `Disk` protocol (node/platform.py); the runtime gives the node a real directory."""

from __future__ import annotations

import copy
import posixpath
import zlib
from typing import Self

from cosigner_ha.node.errors import (
    DiskFault,
    InfraError,
)


class Contents:
    """A file's bytes, held compressed but for the tail being appended to: a node writes its log for as
    long as it runs (rotated only at 10 files of 4.1 MB), and a day of log lines kept plain would be tens of
    megabytes a node in the simulator's memory. Every `CHUNK` bytes appended are compressed (zlib, fastest
    level) into an immutable chunk; reads, sizes and copies see the plain bytes."""

    __slots__ = ("_chunks", "_sealed", "_tail")

    CHUNK = 64 * 1024

    def __init__(self, data: bytes | bytearray = b"") -> None:
        self._chunks: list[bytes] = []
        self._sealed = 0  # plain bytes in the chunks
        self._tail = bytearray()
        self += data

    def __iadd__(self, data: bytes | bytearray) -> Self:
        self._tail += data
        if len(self._tail) >= self.CHUNK:
            self._chunks.append(zlib.compress(self._tail, 1))
            self._sealed += len(self._tail)
            self._tail = bytearray()
        return self

    def __len__(self) -> int:
        return self._sealed + len(self._tail)

    def __bytes__(self) -> bytes:
        return b"".join([*(zlib.decompress(chunk) for chunk in self._chunks), self._tail])

    def after(self, start: int) -> bytes:
        """The bytes from offset `start` on."""
        if start >= self._sealed:
            return bytes(self._tail[start - self._sealed :])
        return bytes(self)[start:]

    def copy(self) -> Contents:
        new = Contents()
        new._chunks, new._sealed, new._tail = list(self._chunks), self._sealed, bytearray(self._tail)
        return new


class SimDisk:
    """A host disk with the durability rules of a POSIX file system, and a fault at any write step.

    Writes land in a volatile cache; `fsync(path)` makes a file's contents durable and `fsync_dir(dir)`
    makes that directory's entries (creations, renames, removals) durable. A power loss (an injected
    `DiskFault`, or `power_loss()`) keeps only what was durable: a file whose contents were never synced
    comes back empty, a rename that was never synced is undone. Appends are written block by block, each
    block a step, so a crash can leave any prefix of an append in the cache.

    With `writeback=True` the opposite worst case holds: the cache was written back just before the
    crash, so every completed step survives (a writer that updates a file in place is caught torn).

    Every mutating call is one or more numbered *steps*; `fail_at(n)` makes step `n` (counted from now)
    raise `DiskFault` before it happens, after which the disk is as after a power loss. `fail_at(n,
    torn=k)` tears that step when it is an append: the first `k` bytes of its block reach the cache
    before the power goes (a sector written, the next not), so a record smaller than a block can be cut
    anywhere; in writeback mode the torn prefix survives.
    """

    BLOCK = 4096

    def __init__(self, name: str = "disk", *, writeback: bool = False) -> None:
        self.name = name
        self.writeback = writeback
        self._names: dict[str, int] = {}
        self._data: dict[int, Contents] = {}
        self._durable_names: dict[str, int] = {}
        self._durable_data: dict[int, Contents] = {}
        self._truncated: set[int] = set()  # inodes truncated since their last fsync (else: only appended to)
        self._next_inode = 1
        self.steps = 0
        self._fail_at: int | None = None
        self._torn = 0
        self.lost = False

    # -- faults --

    def fail_at(self, step: int | None, *, torn: int = 0) -> None:
        """Arm a fault: the `step`-th write step from now (0 = the next one) raises `DiskFault`; an append
        torn there writes its first `torn` bytes first."""
        self._fail_at = None if step is None else self.steps + step
        self._torn = torn

    def _failing(self) -> bool:
        return self._fail_at is not None and self.steps >= self._fail_at

    def power_loss(self) -> None:
        """Drop everything that was not durable, as a crash of the host does."""
        if self.writeback:
            self._durable_names = dict(self._names)
            self._durable_data = {ino: self._data[ino].copy() for ino in sorted(set(self._names.values()))}
        self._names = dict(self._durable_names)
        self._data = {
            ino: self._durable_data[ino].copy() if ino in self._durable_data else Contents()
            for ino in sorted(set(self._names.values()))
        }
        self._truncated = set()

    def lose(self) -> None:
        """The disk is gone (disk-loss fault): a blank replacement disk takes its place."""
        self._names, self._data, self._durable_names, self._durable_data = {}, {}, {}, {}
        self.lost = True

    def clone(self) -> SimDisk:
        """An independent copy (for tests that replay a write against every crash point)."""
        return copy.deepcopy(self)

    def _step(self, what: str) -> None:
        if self._failing():
            self._fail_at = None
            self.power_loss()
            raise DiskFault(
                f"disk {self.name!r}: I/O failure (power loss) at write step {self.steps}: {what}"
            )
        self.steps += 1

    # -- reads (no steps) --

    def read(self, path: str) -> bytes | None:
        ino = self._names.get(path)
        return None if ino is None else bytes(self._data[ino])

    def exists(self, path: str) -> bool:
        return path in self._names

    def size(self, path: str) -> int:
        ino = self._names.get(path)
        return 0 if ino is None else len(self._data[ino])

    def listdir(self, directory: str) -> list[str]:
        """Names directly under `directory`, sorted."""
        directory = directory.rstrip("/") or "/"
        return sorted(posixpath.basename(p) for p in self._names if posixpath.dirname(p) == directory)

    # -- write steps --

    def create(self, path: str) -> None:
        """Create `path`, or truncate it in place (`O_CREAT | O_TRUNC`)."""
        self._step(f"create {path}")
        ino = self._names.get(path)
        if ino is None:
            ino = self._next_inode
            self._next_inode += 1
            self._names[path] = ino
        self._data[ino] = Contents()
        self._truncated.add(ino)

    def append(self, path: str, data: bytes) -> None:
        ino = self._names.get(path)
        if ino is None:
            raise InfraError(f"disk {self.name!r}: append to {path}, which does not exist")
        for start in range(0, max(len(data), 1), self.BLOCK):
            block = data[start : start + self.BLOCK]
            if self._failing() and self._torn:  # the power goes while this block is being written
                self._data[ino] += block[: self._torn]
            self._step(f"append to {path} at byte {start}")
            self._data[ino] += block

    def fsync(self, path: str) -> None:
        ino = self._names.get(path)
        if ino is None:
            raise InfraError(f"disk {self.name!r}: fsync of {path}, which does not exist")
        self._step(f"fsync {path}")
        durable = self._durable_data.get(ino)
        if durable is None or ino in self._truncated or len(durable) > len(self._data[ino]):
            self._durable_data[ino] = self._data[ino].copy()
            self._truncated.discard(ino)
        else:  # only appended to since the last sync: the durable copy grows by the new tail
            durable += self._data[ino].after(len(durable))

    def rename(self, source: str, target: str) -> None:
        """Atomically replace `target` with `source` (POSIX `rename`)."""
        if source not in self._names:
            raise InfraError(f"disk {self.name!r}: rename of {source}, which does not exist")
        self._step(f"rename {source} -> {target}")
        replaced = self._names.get(target)
        self._names[target] = self._names.pop(source)
        self._forget(replaced)

    def remove(self, path: str) -> None:
        if path not in self._names:
            return
        self._step(f"remove {path}")
        self._forget(self._names.pop(path))

    def _forget(self, ino: int | None) -> None:
        """Free the contents of an inode no name reaches any more (a removed or replaced file): its volatile
        bytes at once, its durable ones once no durable name reaches them either (a power loss before the
        directory's fsync brings the old name back, with those bytes)."""
        if ino is None or ino in self._names.values():
            return
        self._data.pop(ino, None)
        self._truncated.discard(ino)
        if ino not in self._durable_names.values():
            self._durable_data.pop(ino, None)

    def fsync_dir(self, directory: str) -> None:
        """Make the entries of `directory` durable as they are now."""
        directory = directory.rstrip("/") or "/"
        self._step(f"fsync directory {directory}")
        dropped = set()
        for path in [p for p in self._durable_names if posixpath.dirname(p) == directory]:
            if path not in self._names:
                dropped.add(self._durable_names.pop(path))
        for path, ino in self._names.items():
            if posixpath.dirname(path) == directory:
                replaced = self._durable_names.get(path)
                if replaced is not None and replaced != ino:
                    dropped.add(replaced)
                self._durable_names[path] = ino
        for ino in dropped:
            if ino not in self._durable_names.values() and ino not in self._names.values():
                self._durable_data.pop(ino, None)
