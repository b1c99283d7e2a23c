"""Where a node's bytes live, and the one way they are replaced: atomically.

A `Disk` is a file system seen through the steps that matter for crash safety (create, append, fsync,
rename, fsync of the directory); `SimDisk` (in `cosigner_ha.cluster.infra`) implements it in memory with a fault at any step,
`LocalDisk` on the machine's file system for the runtime. A `BlobStore` is what the database writes to:
`DiskBlobStore` replaces a file by write-to-temporary, fsync, rename, fsync-directory, so that after a
crash at any step a reader finds the old bytes or the new ones, never a mixture; `BucketBlobStore` relies
on the object store's whole-object puts.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import posixpath
import struct
from pathlib import Path
from typing import Protocol

from cosigner_ha.node.platform import Disk, ObjectStore

__all__ = ["BlobStore", "BucketBlobStore", "Disk", "DiskBlobStore", "LocalDisk"]


class LocalDisk:
    """The machine's file system, with every path placed under `root` (runtime mode)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.name = str(self.root)

    def _path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def read(self, path: str) -> bytes | None:
        try:
            return self._path(path).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        return self._path(path).exists()

    def size(self, path: str) -> int:
        try:
            return self._path(path).stat().st_size
        except FileNotFoundError:
            return 0

    def listdir(self, directory: str) -> list[str]:
        try:
            return sorted(p.name for p in self._path(directory).iterdir() if p.is_file())
        except FileNotFoundError:
            return []

    def create(self, path: str) -> None:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")

    def append(self, path: str, data: bytes) -> None:
        with self._path(path).open("ab") as f:
            f.write(data)

    def fsync(self, path: str) -> None:
        with self._path(path).open("ab") as f:
            os.fsync(f.fileno())

    def rename(self, source: str, target: str) -> None:
        os.replace(self._path(source), self._path(target))

    def remove(self, path: str) -> None:
        self._path(path).unlink(missing_ok=True)

    def fsync_dir(self, directory: str) -> None:
        fd = os.open(self._path(directory), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class BlobStore(Protocol):
    """Named byte strings, each replaced atomically."""

    def describe(self, name: str) -> str:
        """Where `name` lives, for messages (a path, or `s3://bucket/key`)."""
        ...

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes) -> None:
        """After a crash at any point of this call, `read(name)` is the old bytes or the new bytes."""
        ...

    def remove(self, name: str) -> None: ...

    def list(self, directory: str) -> list[str]:
        """Names directly under `directory` (relative to the store), sorted."""
        ...

    def append(self, journal: str, record: bytes) -> None:
        """Durably add one record to `journal`: after a crash it is there whole, or not at all."""
        ...

    def records(self, journal: str) -> builtins.list[bytes]:
        """The journal's whole records, oldest first (a record a crash cut short is not one)."""
        ...

    def truncate(self, journal: str) -> None:
        """Empty the journal (after its records were folded into a compacted file)."""
        ...


TEMP_SUFFIX = ".tmp"
_RECORD_LENGTH = struct.Struct(">I")


class DiskBlobStore:
    """Files under one directory of a `Disk`, replaced by temporary file + fsync + rename + fsync-dir."""

    def __init__(self, disk: Disk, root: str) -> None:
        self.disk = disk
        self.root = root.rstrip("/")

    def _path(self, name: str) -> str:
        return posixpath.join(self.root, name)

    def describe(self, name: str) -> str:
        return f"{getattr(self.disk, 'name', 'disk')}:{self._path(name)}"

    def read(self, name: str) -> bytes | None:
        return self.disk.read(self._path(name))

    def write(self, name: str, data: bytes) -> None:
        final = self._path(name)
        directory, base = posixpath.split(final)
        temp = posixpath.join(directory, f".{base}{TEMP_SUFFIX}")
        self.disk.create(temp)
        self.disk.append(temp, data)
        self.disk.fsync(temp)  # the contents are durable before the name points at them ...
        self.disk.rename(temp, final)
        self.disk.fsync_dir(directory)  # ... and the new name is durable before we report success

    def remove(self, name: str) -> None:
        path = self._path(name)
        if self.disk.exists(path):
            self.disk.remove(path)
            self.disk.fsync_dir(posixpath.dirname(path))

    def list(self, directory: str) -> list[str]:
        return [
            n
            for n in self.disk.listdir(self._path(directory))
            if not (n.startswith(".") and n.endswith(TEMP_SUFFIX))
        ]

    def append(self, journal: str, record: bytes) -> None:
        path = self._path(journal)
        if not self.disk.exists(path):
            self.disk.create(path)
            self.disk.fsync_dir(posixpath.dirname(path))
        self.disk.append(path, _RECORD_LENGTH.pack(len(record)) + record)
        self.disk.fsync(path)  # durable before the caller acts on it

    def records(self, journal: str) -> builtins.list[bytes]:
        data = self.disk.read(self._path(journal)) or b""
        out: builtins.list[bytes] = []
        at = 0
        while at + _RECORD_LENGTH.size <= len(data):
            (length,) = _RECORD_LENGTH.unpack_from(data, at)
            end = at + _RECORD_LENGTH.size + length
            if end > len(data):
                break  # the tail a crash cut short: that append never completed
            out.append(data[at + _RECORD_LENGTH.size : end])
            at = end
        return out

    def truncate(self, journal: str) -> None:
        path = self._path(journal)
        if self.disk.exists(path):
            self.disk.create(path)
            self.disk.fsync(path)

    def clean_temporaries(self, directory: str) -> None:
        """Remove temporary files a crash left behind (their contents never counted)."""
        path = self._path(directory)
        for name in self.disk.listdir(path):
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                # a file the system will not let go is left (it never counts); a crash is not swallowed
                with contextlib.suppress(OSError):
                    self.disk.remove(posixpath.join(path, name))


class BucketBlobStore:
    """Objects under a prefix of a bucket, read and written as the host's role."""

    def __init__(self, bucket: ObjectStore, prefix: str, *, role: str | None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.role = role
        # journal key -> (bucket version right after this store's last append to it, that record's number)
        self._tails: dict[str, tuple[int, int]] = {}

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def describe(self, name: str) -> str:
        return f"bucket://{self.bucket.name}/{self._key(name)}"

    def read(self, name: str) -> bytes | None:
        return self.bucket.get(self._key(name), role=self.role)

    def write(self, name: str, data: bytes) -> None:
        self.bucket.put(self._key(name), data, role=self.role)  # whole-object puts are atomic

    def remove(self, name: str) -> None:
        self.bucket.delete(self._key(name), role=self.role)

    def append(self, journal: str, record: bytes) -> None:
        key = self._key(journal)
        tail = self._tails.get(key)
        if tail is not None and tail[0] == self.bucket.version:
            last = tail[1]  # nothing changed in the bucket since our last append: no listing (O(records))
        else:
            existing = self.bucket.list(key + "/", role=self.role)
            last = int(existing[-1].rsplit("/", 1)[1]) if existing else 0
        self.bucket.put(f"{key}/{last + 1:012d}", record, role=self.role)
        self._tails[key] = (self.bucket.version, last + 1)

    def records(self, journal: str) -> builtins.list[bytes]:
        keys = self.bucket.list(self._key(journal) + "/", role=self.role)
        return [data for data in (self.bucket.get(k, role=self.role) for k in keys) if data is not None]

    def truncate(self, journal: str) -> None:
        for key in self.bucket.list(self._key(journal) + "/", role=self.role):
            self.bucket.delete(key, role=self.role)

    def list(self, directory: str) -> list[str]:
        prefix = self._key(directory).rstrip("/") + "/"
        return sorted(
            k[len(prefix) :] for k in self.bucket.list(prefix, role=self.role) if "/" not in k[len(prefix) :]
        )
