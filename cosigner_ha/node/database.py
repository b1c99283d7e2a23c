"""The co-signer's sealed database: secrets, the nonce ledger, and (SGX) backup snapshots.

Two files, each sealed under the data key the enclave backend produced and each replaced atomically:

- `secrets.db`: the `Secrets` record (key shares, configuration-change keys, refresh tokens, callback
  settings, pending requests). Every change writes a new generation and, where backups are kept (SGX),
  a snapshot `backup/%Y%m%d%H%M%S.db` with the same bytes.
- `nonces.db` and its journal `nonces.log`: the `NonceLedger`, *never* part of a snapshot. Restoring a snapshot rolls `secrets.db`
  back, but never the record of which nonces were spent: a restored node cannot be talked into using a
  nonce pair a second time, because the fact that it was consumed lives on. The ledger also carries the
  boot epoch, bumped and made durable at every open, which the MPC party mixes into fresh nonces so that
  a restarted or restored node never even draws the same nonce twice. Consuming a nonce appends one
  sealed record to the journal (constant cost, durable before the share leaves); every open, and every
  `FOLD_EVERY` consumptions, folds the journal into `nonces.db` (atomically) and empties it, so that a
  node that runs for days keeps 32 bytes an id in its ledger, not a sealed object an id in its journal.

If the ledger is gone while `secrets.db` exists (copied without it, deleted), the node cannot know what
it consumed: it writes a fresh ledger that marks every API user then present as *tainted*, and refuses
to sign for them until they are re-paired (a new share, never used with any nonce). That is the
"refuse until resynchronised" rule, for the one case where the ledger cannot be kept.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import posixpath
from collections.abc import Callable

from cosigner_ha.mpc import ConsumedNonces
from cosigner_ha.node.errors import DatabaseCorrupt, DatabaseMissing, NonceError
from cosigner_ha.node.records import NonceLedger, Secrets, decode_record, encode_record
from cosigner_ha.node.sealing import seal, unseal
from cosigner_ha.node.storage import BlobStore

SECRETS_KIND = "secrets"
LEDGER_KIND = "nonce-ledger"
NONCE_KIND = "consumed-nonce"


@dataclasses.dataclass(frozen=True, slots=True)
class Layout:
    """File names inside a backend's store."""

    secrets: str = "secrets.db"
    ledger: str = "nonces.db"
    journal: str = "nonces.log"
    backups: str | None = None  # directory for snapshots; None: no backups (object-store backends)


class Database:
    """An open database: `secrets` (None before the first pairing), `ledger`, `generation`.

    Open it with `Database.open(...)`; change it only through `commit` and `consume`, which write before
    they return.
    """

    def __init__(
        self,
        store: BlobStore,
        key: bytes,
        *,
        randbytes: Callable[[int], bytes],
        wall: Callable[[], float],
        layout: Layout,
        keep_backups: int | None = None,
    ) -> None:
        self.store = store
        self._key = key
        self._rand = randbytes
        self._wall = wall
        self.layout = layout
        self.keep_backups = keep_backups
        self.secrets: Secrets | None = None
        self.generation = 0
        # the ledger's epoch, owner and tainted users; its spent ids are not kept here (`consumed` stays
        # empty in memory) but in `_consumed`, which also holds the journal's: see `consumed_ids`
        self.ledger = NonceLedger(cosigner_id="")
        # every spent id, compact (32 bytes an id, one sorted blob: a node signs for as long as it runs)
        self._consumed = ConsumedNonces()
        self._unfolded = 0  # records in the journal since the last fold
        self.recovered_ledger = False

    # -- opening --

    @classmethod
    def open(
        cls,
        store: BlobStore,
        key: bytes,
        *,
        randbytes: Callable[[int], bytes],
        wall: Callable[[], float],
        layout: Layout,
        keep_backups: int | None = None,
    ) -> Database:
        """Read and check both files, then start a new boot epoch (durably) before returning."""
        db = cls(store, key, randbytes=randbytes, wall=wall, layout=layout, keep_backups=keep_backups)
        raw = store.read(layout.secrets)
        if raw is not None:
            db.secrets, db.generation = db._unseal_secrets(raw, store.describe(layout.secrets))
        raw_ledger = store.read(layout.ledger)
        if raw_ledger is not None:
            where = store.describe(layout.ledger)
            _, plain = unseal(key, raw_ledger, where=where, kind=LEDGER_KIND)
            db.ledger = decode_record(NonceLedger, plain, where=where)
            if db.secrets is not None and db.ledger.cosigner_id != db.secrets.cosigner_id:
                raise DatabaseCorrupt(
                    f"{where}: the nonce ledger belongs to co-signer {db.ledger.cosigner_id!r}, the database "
                    f"to {db.secrets.cosigner_id!r}"
                )
        elif db.secrets is not None:
            # Consumption history unknown: every share present is tainted until re-paired.
            db.recovered_ledger = True
            db.ledger = NonceLedger(
                cosigner_id=db.secrets.cosigner_id, tainted=tuple(u.api_user for u in db.secrets.users)
            )
        journal = db._read_journal()
        folded = list(dict.fromkeys([*db.ledger.consumed, *journal]))
        db._consumed = ConsumedNonces(folded)
        db.ledger = dataclasses.replace(db.ledger, consumed=())
        db._unfolded = len(journal)
        if db.secrets is not None or raw_ledger is not None:
            # a new boot epoch, and the journal folded in (`_fold`)
            db._fold(dataclasses.replace(db.ledger, epoch=db.ledger.epoch + 1))
        if hasattr(store, "clean_temporaries"):  # what a crash left of atomic writes never counted
            store.clean_temporaries(posixpath.dirname(layout.secrets))
            if layout.backups is not None:
                store.clean_temporaries(layout.backups)
        if raw is not None and layout.backups is not None:
            db._complete_snapshots(raw)
        return db

    def _complete_snapshots(self, raw: bytes) -> None:
        """Finish what a crash interrupted after `secrets.db` was written: its snapshot, then the pruning.

        A commit writes `secrets.db`, then a snapshot of the same bytes, then removes the oldest; a crash
        in between leaves the newest generation without a snapshot, or more snapshots than kept. A
        restored snapshot is a byte-for-byte copy, so it is never copied again."""
        assert self.layout.backups is not None
        if not any(self.store.read(f"{self.layout.backups}/{name}") == raw for name in self.backups()):
            self._snapshot(raw)
        else:
            self._prune()

    def _unseal_secrets(self, raw: bytes, where: str) -> tuple[Secrets, int]:
        header, plain = unseal(self._key, raw, where=where, kind=SECRETS_KIND)
        secrets = decode_record(Secrets, plain, where=where)
        generation = header.get("generation")
        if not isinstance(generation, int) or header.get("cosigner_id") != secrets.cosigner_id:
            raise DatabaseCorrupt(f"{where}: the header does not match the contents")
        return secrets, generation

    # -- writing --

    def commit(self, secrets: Secrets) -> None:
        """Write `secrets` as the next generation (and a snapshot where backups are kept)."""
        generation = self.generation + 1
        data = seal(
            self._key,
            {
                "kind": SECRETS_KIND,
                "cosigner_id": secrets.cosigner_id,
                "generation": generation,
                "written_at": self._wall(),
            },
            encode_record(secrets),
            self._rand,
        )
        if self.secrets is None and self.ledger.cosigner_id != secrets.cosigner_id:
            # the first commit: the ledger before the secrets, so that a crash between the two leaves no
            # secrets (the old state), never secrets without a ledger (which taints every share in them)
            self._write_ledger(
                dataclasses.replace(
                    self.ledger, cosigner_id=secrets.cosigner_id, epoch=max(1, self.ledger.epoch)
                )
            )
        self.store.write(self.layout.secrets, data)
        self.secrets, self.generation = secrets, generation
        if self.layout.backups is not None:
            self._snapshot(data)

    def _write_ledger(self, ledger: NonceLedger) -> None:
        """Write `ledger` with every id spent so far (the journal's too: an id in both is folded once)."""
        spent = self.consumed_ids()
        data = seal(
            self._key,
            {"kind": LEDGER_KIND, "cosigner_id": ledger.cosigner_id, "generation": len(spent)},
            encode_record(dataclasses.replace(ledger, consumed=spent)),
            self._rand,
        )
        del spent
        self.store.write(self.layout.ledger, data)
        self.ledger = dataclasses.replace(ledger, consumed=())

    def _fold(self, ledger: NonceLedger) -> None:
        """Compaction: the journal folded into the ledger (atomically), then emptied. A crash in between
        leaves ids in both, which the next open folds again; a failure here leaves the journal to fold."""
        self._write_ledger(ledger)
        self.store.truncate(self.layout.journal)
        self._unfolded = 0

    #: Consumptions between two folds of the journal into the ledger while the node runs: bounds the
    #: journal (a sealed object an id in a bucket) at the cost of rewriting the ledger, 34 bytes an id, that
    #: often (a day at one signature a second: 84 rewrites, the last of 2.9 MB).
    FOLD_EVERY = 1024

    def consume(self, nonce_id: bytes) -> None:
        """Record, durably, that the nonce pair `nonce_id` is spent. Refuses one spent already."""
        if nonce_id in self._consumed:
            raise NonceError(
                f"nonce pair {nonce_id.hex()[:16]}... was consumed already: refusing to reuse it"
            )
        header = {"kind": NONCE_KIND, "cosigner_id": self.ledger.cosigner_id, "epoch": self.ledger.epoch}
        self.store.append(self.layout.journal, seal(self._key, header, nonce_id, self._rand))
        self._consumed.mark(nonce_id)
        self._unfolded += 1
        if self._unfolded >= self.FOLD_EVERY:
            self._fold(self.ledger)

    def _read_journal(self) -> list[bytes]:
        where = self.store.describe(self.layout.journal)
        ids = []
        for n, record in enumerate(self.store.records(self.layout.journal)):
            header, nonce_id = unseal(self._key, record, where=f"{where} record {n}", kind=NONCE_KIND)
            if self.ledger.cosigner_id and header.get("cosigner_id") != self.ledger.cosigner_id:
                raise DatabaseCorrupt(
                    f"{where} record {n} belongs to co-signer {header.get('cosigner_id')!r}"
                )
            ids.append(nonce_id)
        return ids

    def consumed_ids(self) -> tuple[bytes, ...]:
        """Every spent nonce id (the ledger's and the journal's), sorted: the ledger file's order."""
        return tuple(self._consumed)

    def is_consumed(self, nonce_id: bytes) -> bool:
        return nonce_id in self._consumed

    def untaint(self, api_user: str) -> None:
        """A fresh share for `api_user` arrived: it may sign again."""
        if api_user in self.ledger.tainted:
            self._write_ledger(
                dataclasses.replace(
                    self.ledger, tainted=tuple(u for u in self.ledger.tainted if u != api_user)
                )
            )

    # -- backups --

    def _snapshot(self, data: bytes) -> None:
        assert self.layout.backups is not None
        stamp = _dt.datetime.fromtimestamp(self._wall(), tz=_dt.UTC).strftime("%Y%m%d%H%M%S")
        existing = self.backups()
        if existing:  # a clock set back still names the newest snapshot last: pruning keeps the newest
            stamp = max(stamp, existing[-1].split(".")[0].split("_")[0])
        name, n = f"{stamp}.db", 1
        while name in existing:
            n += 1
            name = f"{stamp}_{n}.db"
        self.store.write(f"{self.layout.backups}/{name}", data)
        self._prune()

    def _prune(self) -> None:
        """Remove the oldest snapshots beyond `keep_backups`, oldest first."""
        if self.keep_backups is not None and self.layout.backups is not None:
            for old in self.backups()[: -self.keep_backups]:
                self.store.remove(f"{self.layout.backups}/{old}")

    def backups(self) -> list[str]:
        """Snapshot names, oldest first."""
        if self.layout.backups is None:
            return []
        names = [n for n in self.store.list(self.layout.backups) if n.endswith(".db")]
        return sorted(
            names, key=lambda n: (n.split(".")[0].split("_")[0], int(n[:-3].partition("_")[2] or 1))
        )

    def read_backup(self, name: str) -> tuple[Secrets, int]:
        if self.layout.backups is None:
            raise DatabaseMissing("this enclave backend keeps no backups (its database lives in a bucket)")
        path = f"{self.layout.backups}/{name}"
        raw = self.store.read(path)
        if raw is None:
            raise DatabaseMissing(
                f"{self.store.describe(path)}: no such backup (have: {', '.join(self.backups()) or 'none'})"
            )
        return self._unseal_secrets(raw, self.store.describe(path))

    def restore(self, name: str) -> None:
        """Put snapshot `name` back as `secrets.db`. The nonce ledger is left as it is, on purpose."""
        secrets, generation = self.read_backup(name)
        if self.secrets is not None and secrets.cosigner_id != self.secrets.cosigner_id:
            raise DatabaseCorrupt(
                f"backup {name} belongs to co-signer {secrets.cosigner_id!r}, not {self.secrets.cosigner_id!r}"
            )
        raw = self.store.read(f"{self.layout.backups}/{name}")
        assert raw is not None
        self.store.write(self.layout.secrets, raw)
        self.secrets, self.generation = secrets, generation
