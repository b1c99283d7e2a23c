"""Storage is crash-safe on every path (issue 14, item 7): a crash at every write step of every operation
that writes (the first commit, later commits with their snapshots and pruning, opening the database with
its ledger rewrite and journal truncation, restore, untaint, consuming a nonce), and a second crash at
every step of the recovery after it, leaves the old state or the new one, never a third.

The simulated disk loses its cache at a crash (or, `writeback`, keeps every completed step) and tears an
append inside a block, so that a record smaller than a block can be cut anywhere; the bucket store
fails at every put and delete.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from cosigner_ha.cluster.infra import Bucket, SimDisk
from cosigner_ha.node.database import Database, Layout
from cosigner_ha.node.errors import BucketFault, DiskFault, NonceError
from cosigner_ha.node.records import Secrets
from cosigner_ha.node.storage import TEMP_SUFFIX, BucketBlobStore, DiskBlobStore
from tests.node.helpers import Wall, drbg
from tests.node.test_database import KEY, SGX_LAYOUT, secrets, user

ROOT = "/databases/cosigner"
BUCKET_LAYOUT = Layout(secrets="secrets.db", ledger="nonces.db", journal="nonces.log", backups=None)
KEEP = 2
#: (secrets, tainted API users, spent nonce ids): what a reader of the database relies on.
State = tuple[Secrets | None, tuple[str, ...], frozenset[bytes]]
Medium = TypeVar("Medium", SimDisk, Bucket)


def nonce(n: int) -> bytes:
    return bytes([n]) * 32


def open_disk(disk: SimDisk, wall: Wall | None = None) -> Database:
    return Database.open(
        DiskBlobStore(disk, ROOT),
        KEY,
        randbytes=drbg().randbytes,
        wall=wall or Wall(),
        layout=SGX_LAYOUT,
        keep_backups=KEEP,
    )


def open_bucket(bucket: Bucket) -> Database:
    return Database.open(
        BucketBlobStore(bucket, "cosigner", role="node"),
        KEY,
        randbytes=drbg().randbytes,
        wall=Wall(),
        layout=BUCKET_LAYOUT,
    )


def state_of(db: Database) -> State:
    return db.secrets, db.ledger.tainted, frozenset(db.consumed_ids())


def steps_of(medium: Medium, action: Callable[[Medium], object]) -> int:
    probe = copy.deepcopy(medium)
    before = probe.steps
    action(probe)
    return probe.steps - before


def check_disk(disk: SimDisk, allowed: Sequence[State], where: str) -> None:
    """Reboot: the database opens, holds one of the allowed states, and is tidy (no temporary file, every
    snapshot readable, the newest one the secrets in force, no more than kept)."""
    db = open_disk(disk)
    assert state_of(db) in allowed, f"{where}: neither old nor new: {state_of(db)}"
    for directory in (f"{ROOT}/db", f"{ROOT}/backup"):
        assert not [n for n in disk.listdir(directory) if n.endswith(TEMP_SUFFIX)], where
    names = db.backups()
    assert len(names) <= KEEP, f"{where}: {names}"
    snapshots = [db.read_backup(name)[0] for name in names]
    if db.secrets is not None:
        assert db.secrets in snapshots, f"{where}: the secrets in force have no snapshot"


def crash_everywhere(
    base: SimDisk,
    action: Callable[[SimDisk], object],
    allowed: Sequence[State],
    *,
    torn: Sequence[int] = (0, 1, 33),
) -> int:
    """Crash `action` at each of its steps (tearing appends by `torn` bytes), then crash the reboot at
    each of its steps; every time the rebooted database is old or new. Returns the crash points tried."""
    total = steps_of(base, action)
    assert total > 0
    tried = 0
    for step in range(total):
        for cut in torn:
            disk = base.clone()
            disk.fail_at(step, torn=cut)
            with pytest.raises(DiskFault):
                action(disk)
            where = f"crash at step {step}/{total} (torn {cut})"
            recovery = steps_of(disk, open_disk)
            for second in range(recovery):  # the power goes again while the node recovers
                again = disk.clone()
                again.fail_at(second, torn=cut)
                with pytest.raises(DiskFault):
                    open_disk(again)
                check_disk(again, allowed, f"{where}, then at recovery step {second}/{recovery}")
                tried += 1
            check_disk(disk, allowed, where)
            tried += 1
    return tried


@pytest.fixture(params=[False, True], ids=["cache-lost", "writeback"])
def writeback(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_the_first_commit_is_old_or_new(writeback: bool) -> None:
    # before the fix a crash after secrets.db was written left no ledger: every share came back tainted
    base = SimDisk(writeback=writeback)
    new = secrets(user("alice"))
    tried = crash_everywhere(
        base, lambda d: open_disk(d).commit(new), [(None, (), frozenset()), (new, (), frozenset())]
    )
    assert tried > 20


def test_the_first_commit_after_a_crash_in_it_does_not_taint(writeback: bool) -> None:
    disk = SimDisk(writeback=writeback)
    new = secrets(user("alice"))
    for step in range(steps_of(disk, lambda d: open_disk(d).commit(new))):
        crashed = disk.clone()
        crashed.fail_at(step)
        with pytest.raises(DiskFault):
            open_disk(crashed).commit(new)
        db = open_disk(crashed)
        if db.secrets is None:  # the pairing is retried
            db.commit(new)
        assert state_of(open_disk(crashed)) == (new, (), frozenset())
        assert not open_disk(crashed).recovered_ledger


def test_a_commit_with_its_snapshot_and_pruning_is_old_or_new(writeback: bool) -> None:
    base, wall = SimDisk(writeback=writeback), Wall()
    db = open_disk(base, wall)
    for n in range(3):  # three generations: the next commit prunes one snapshot
        wall.t += 1
        db.commit(secrets(user("alice", n)))
    db.consume(nonce(1))
    old = secrets(user("alice", 2))
    new = secrets(user("alice", 2), user("bob", 3))

    def commit(disk: SimDisk) -> None:
        later = Wall(wall.t + 1)
        open_disk(disk, later).commit(new)

    crash_everywhere(
        base, commit, [(old, (), frozenset({nonce(1)})), (new, (), frozenset({nonce(1)}))], torn=(0, 100)
    )


def test_opening_with_a_journal_to_fold_is_old_or_new(writeback: bool) -> None:
    """Database.open rewrites the ledger with the journal folded in, then truncates the journal."""
    base = SimDisk(writeback=writeback)
    db = open_disk(base)
    db.commit(secrets(user("alice")))
    for n in range(3):
        db.consume(nonce(n))
    same = (secrets(user("alice")), (), frozenset(nonce(n) for n in range(3)))
    crash_everywhere(base, open_disk, [same])


def test_opening_without_a_ledger_keeps_every_share_tainted(writeback: bool) -> None:
    base = SimDisk(writeback=writeback)
    open_disk(base).commit(secrets(user("alice"), user("bob")))
    base.remove(f"{ROOT}/db/nonces.db")
    base.fsync_dir(f"{ROOT}/db")
    tainted: State = (secrets(user("alice"), user("bob")), ("alice", "bob"), frozenset())
    crash_everywhere(base, open_disk, [tainted])


def test_restoring_a_snapshot_is_old_or_new(writeback: bool) -> None:
    base, wall = SimDisk(writeback=writeback), Wall()
    db = open_disk(base, wall)
    db.commit(secrets(user("alice", 1)))
    snapshot = db.backups()[-1]
    wall.t += 60
    db.commit(secrets(user("alice", 2)))
    db.consume(nonce(9))
    spent = frozenset({nonce(9)})
    crash_everywhere(
        base,
        lambda d: open_disk(d).restore(snapshot),
        [(secrets(user("alice", 2)), (), spent), (secrets(user("alice", 1)), (), spent)],
    )


def test_untainting_is_old_or_new(writeback: bool) -> None:
    base = SimDisk(writeback=writeback)
    both = secrets(user("alice"), user("bob"))
    open_disk(base).commit(both)
    base.remove(f"{ROOT}/db/nonces.db")
    base.fsync_dir(f"{ROOT}/db")
    open_disk(base)  # the ledger comes back with both tainted
    crash_everywhere(
        base,
        lambda d: open_disk(d).untaint("bob"),
        [(both, ("alice", "bob"), frozenset()), (both, ("alice",), frozenset())],
    )


def test_consuming_a_nonce_is_old_or_new_even_torn_inside_a_record(writeback: bool) -> None:
    base = SimDisk(writeback=writeback)
    db = open_disk(base)
    db.commit(secrets(user("alice")))
    db.consume(nonce(1))
    record = len(base.read(f"{ROOT}/db/nonces.log") or b"")
    assert record < SimDisk.BLOCK  # a record smaller than a block: torn inside it below
    alice = secrets(user("alice"))
    crash_everywhere(
        base,
        lambda d: open_disk(d).consume(nonce(2)),
        [(alice, (), frozenset({nonce(1)})), (alice, (), frozenset({nonce(1), nonce(2)}))],
        torn=(0, 1, 3, 4, 5, record // 2, record - 1),
    )


# -- the disk and the journal, below the database ---------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 2, 4, 5, 17, 39])
def test_the_disk_tears_a_record_smaller_than_a_block(cut: int) -> None:
    disk = SimDisk(writeback=True)
    store = DiskBlobStore(disk, "/j")
    store.append("log", b"first record")
    disk.fail_at(0, torn=cut)
    with pytest.raises(DiskFault):
        store.append("log", b"a second record, forty bytes long......")
    raw = disk.read("/j/log") or b""
    assert len(raw) == 4 + len(b"first record") + cut  # the torn prefix is on the disk ...
    assert store.records("log") == [b"first record"]  # ... and is not a record


@pytest.mark.parametrize("writeback", [False, True])
def test_journal_append_and_truncate_are_old_or_new(writeback: bool) -> None:
    base = SimDisk(writeback=writeback)
    store = DiskBlobStore(base, "/j")
    old = [b"one", b"two" * 2000]  # the second spans a block boundary
    for record in old:
        store.append("log", record)
    cases: list[tuple[Callable[[DiskBlobStore], None], list[list[bytes]]]] = [
        (lambda s: s.append("log", b"three" * 1000), [old, [*old, b"three" * 1000]]),
        (lambda s: s.truncate("log"), [old, []]),
    ]
    for action, allowed in cases:
        total = steps_of(base, lambda d, act=action: act(DiskBlobStore(d, "/j")))  # type: ignore[misc]
        for step in range(total):
            for cut in (0, 1, 7, 4000):
                disk = base.clone()
                disk.fail_at(step, torn=cut)
                with pytest.raises(DiskFault):
                    action(DiskBlobStore(disk, "/j"))
                assert DiskBlobStore(disk, "/j").records("log") in allowed, (step, cut)


# -- the bucket store, faulted at every put and delete -------------------------------------------------


def bucket_everywhere(base: Bucket, action: Callable[[Bucket], object], allowed: Sequence[State]) -> None:
    """The bucket refuses each put or delete of `action` in turn (the node then crashes and reboots),
    and each of the reboot's in turn after it; the rebooted database is old or new."""
    total = steps_of(base, action)
    assert total > 0
    for step in range(total):
        bucket = copy.deepcopy(base)
        bucket.fail_at(step)
        with pytest.raises(BucketFault):
            action(bucket)
        for second in range(steps_of(bucket, open_bucket)):
            again = copy.deepcopy(bucket)
            again.fail_at(second)
            with pytest.raises(BucketFault):
                open_bucket(again)
            assert state_of(open_bucket(again)) in allowed, (step, second)
        assert state_of(open_bucket(bucket)) in allowed, step


def test_the_bucket_store_is_old_or_new_at_every_step() -> None:
    empty = Bucket("b", roles=("node",))
    alice, both = secrets(user("alice")), secrets(user("alice"), user("bob"))
    none: frozenset[bytes] = frozenset()
    bucket_everywhere(empty, lambda b: open_bucket(b).commit(alice), [(None, (), none), (alice, (), none)])

    paired = copy.deepcopy(empty)
    db = open_bucket(paired)
    db.commit(alice)
    db.consume(nonce(1))
    one = frozenset({nonce(1)})
    bucket_everywhere(paired, lambda b: open_bucket(b).commit(both), [(alice, (), one), (both, (), one)])
    bucket_everywhere(
        paired,
        lambda b: open_bucket(b).consume(nonce(2)),
        [(alice, (), one), (alice, (), one | {nonce(2)})],
    )
    for n in range(3, 6):
        db.consume(nonce(n))
    folded = (alice, (), one | {nonce(n) for n in range(3, 6)})
    bucket_everywhere(paired, open_bucket, [folded])  # ledger rewrite, then one delete per journal record

    lost = copy.deepcopy(paired)
    lost.delete("cosigner/nonces.db", role="node")
    open_bucket(lost)  # tainted
    tainted = open_bucket(lost).ledger.tainted
    assert tainted == ("alice",)
    spent = state_of(open_bucket(copy.deepcopy(lost)))[2]
    bucket_everywhere(
        lost, lambda b: open_bucket(b).untaint("alice"), [(alice, ("alice",), spent), (alice, (), spent)]
    )


# -- the journal folded while the node runs ---------------------------------------------------------------


@pytest.fixture
def fold_every_three(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(Database, "FOLD_EVERY", 3)
    return 3


def test_every_few_consumptions_the_journal_is_folded_into_the_ledger(fold_every_three: int) -> None:
    """A long-running node keeps a bounded journal: the third consumption folds it into `nonces.db`."""
    disk = SimDisk()
    db = open_disk(disk)
    db.commit(secrets(user("alice")))
    for n in range(1, 3):
        db.consume(nonce(n))
    assert len(DiskBlobStore(disk, ROOT).records("db/nonces.log")) == 2
    db.consume(nonce(3))
    assert DiskBlobStore(disk, ROOT).records("db/nonces.log") == []
    db.consume(nonce(4))
    assert db.consumed_ids() == tuple(nonce(n) for n in range(1, 5))  # sorted, as the ledger file
    with pytest.raises(NonceError, match="consumed already"):
        db.consume(nonce(2))  # folded ids are refused as before
    reopened = open_disk(disk)
    assert reopened.consumed_ids() == tuple(nonce(n) for n in range(1, 5))
    assert reopened.ledger.epoch == db.ledger.epoch + 1


def consume_three(db: Database) -> None:
    for n in range(1, 4):  # the third folds the journal (the open before them found it empty)
        db.consume(nonce(n))


def spent_prefixes(alice: Secrets) -> list[State]:
    """Crashed after k of the three consumptions: the first k ids, whichever step the crash hit."""
    return [(alice, (), frozenset(nonce(n) for n in range(1, k + 1))) for k in range(4)]


def test_a_consumption_that_folds_the_journal_is_old_or_new(writeback: bool, fold_every_three: int) -> None:
    base = SimDisk(writeback=writeback)
    open_disk(base).commit(alice := secrets(user("alice")))
    crash_everywhere(base, lambda d: consume_three(open_disk(d)), spent_prefixes(alice), torn=(0, 33))


def test_a_consumption_that_folds_the_bucket_journal_is_old_or_new(fold_every_three: int) -> None:
    paired = Bucket("b", roles=("node",))
    open_bucket(paired).commit(alice := secrets(user("alice")))
    probe = copy.deepcopy(paired)
    consume_three(open_bucket(probe))
    assert probe.list("cosigner/nonces.log/", role="node") == []  # folded: the journal's records deleted
    bucket_everywhere(paired, lambda b: consume_three(open_bucket(b)), spent_prefixes(alice))
