"""Rows of JSON text in one SQLite file: where a durable SaaS (`saas serve --state DIR`) keeps its state.

Each `save` writes only the rows that changed, and removes the ones that went away, in one SQLite
transaction, so the file holds either the state before a save or the state after it, never a mix, even
when the process is killed in the middle. The journal is write-ahead with `synchronous=NORMAL`: a
committed save survives the process being killed (SIGKILL), as the runtime's faults do; after a power
loss the last saves may be missing, but the file is never torn.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FILE_NAME = "saas.sqlite"


class StateStoreError(ValueError):
    """The state file cannot be used: names the file and what is wrong."""


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        except sqlite3.DatabaseError as exc:
            raise StateStoreError(f"{path}: not a SaaS state file ({exc})") from None
        self._written: dict[str, str] = {}

    def load(self) -> dict[str, Any]:
        """Every row, decoded; empty for a new directory."""
        try:
            found = self._db.execute("SELECT key, value FROM rows").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StateStoreError(f"{self.path}: cannot be read ({exc})") from None
        out: dict[str, Any] = {}
        for key, value in found:
            try:
                out[key] = json.loads(value)
            except ValueError:
                raise StateStoreError(f"{self.path}: row {key!r} is not JSON") from None
            self._written[key] = value
        return out

    def save(self, rows: Mapping[str, str]) -> int:
        """Make the file hold exactly `rows` (JSON text by key); the number of rows written or removed."""
        changed = [(k, v) for k, v in rows.items() if self._written.get(k) != v]
        gone = [k for k in self._written if k not in rows]
        if not changed and not gone:
            return 0
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR REPLACE INTO rows (key, value) VALUES (?, ?)", changed)
            db.executemany("DELETE FROM rows WHERE key = ?", [(k,) for k in gone])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for key, value in changed:
            self._written[key] = value
        for key in gone:
            del self._written[key]
        return len(changed) + len(gone)

    def close(self) -> None:
        self._db.close()
