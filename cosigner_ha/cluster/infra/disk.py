"""A simulated host disk: the durability rules of a POSIX file system, and a power loss at any write step.

It implements the node's `Disk` protocol (node/platform.py); the runtime gives the node a real directory."""

from __future__ import annotations

import copy
import posixpath

from cosigner_ha.node.errors import (
    DiskFault,
    InfraError,
)


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
        self._data: dict[int, bytearray] = {}
        self._durable_names: dict[str, int] = {}
        self._durable_data: dict[int, bytearray] = {}
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
            self._durable_data = {
                ino: bytearray(self._data[ino]) for ino in sorted(set(self._names.values()))
            }
        self._names = dict(self._durable_names)
        self._data = {
            ino: bytearray(self._durable_data.get(ino, b"")) for ino in sorted(set(self._names.values()))
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
        self._data[ino] = bytearray()
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
            self._durable_data[ino] = bytearray(self._data[ino])
            self._truncated.discard(ino)
        else:  # only appended to since the last sync: the durable copy grows by the new tail
            durable += self._data[ino][len(durable) :]

    def rename(self, source: str, target: str) -> None:
        """Atomically replace `target` with `source` (POSIX `rename`)."""
        if source not in self._names:
            raise InfraError(f"disk {self.name!r}: rename of {source}, which does not exist")
        self._step(f"rename {source} -> {target}")
        self._names[target] = self._names.pop(source)

    def remove(self, path: str) -> None:
        if path not in self._names:
            return
        self._step(f"remove {path}")
        del self._names[path]

    def fsync_dir(self, directory: str) -> None:
        """Make the entries of `directory` durable as they are now."""
        directory = directory.rstrip("/") or "/"
        self._step(f"fsync directory {directory}")
        for path in [p for p in self._durable_names if posixpath.dirname(p) == directory]:
            if path not in self._names:
                del self._durable_names[path]
        for path, ino in self._names.items():
            if posixpath.dirname(path) == directory:
                self._durable_names[path] = ino
