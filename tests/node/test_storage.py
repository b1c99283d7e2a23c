"""Atomic replacement survives a power loss at every write step; a naive writer does not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.cluster.infra import Bucket, SimDisk
from cosigner_ha.cluster.infra.disk import Contents
from cosigner_ha.node.errors import AccessDenied, BucketFault, DiskFault
from cosigner_ha.node.storage import BucketBlobStore, DiskBlobStore, LocalDisk


def steps_of(disk: SimDisk, action: object) -> int:
    probe = disk.clone()
    before = probe.steps
    action(probe)  # type: ignore[operator]
    return probe.steps - before


def test_sim_disk_keeps_only_what_was_synced() -> None:
    disk = SimDisk()
    disk.create("/d/a")
    disk.append("/d/a", b"hello")
    disk.power_loss()
    assert disk.read("/d/a") is None  # the directory entry was never synced
    disk.create("/d/a")
    disk.append("/d/a", b"hello")
    disk.fsync_dir("/d")
    disk.power_loss()
    assert disk.read("/d/a") == b""  # the name survived, the unsynced contents did not
    disk.append("/d/a", b"hello")
    disk.fsync("/d/a")
    disk.rename("/d/a", "/d/b")
    disk.power_loss()
    assert disk.read("/d/a") == b"hello" and disk.read("/d/b") is None  # the rename was not synced


def test_an_armed_fault_raises_at_that_step_and_loses_the_cache() -> None:
    disk = SimDisk("host-1")
    disk.create("/x")
    disk.fsync_dir("/")
    disk.fail_at(1)
    disk.append("/x", b"a")  # step 0 is fine
    with pytest.raises(DiskFault, match=r"host-1.*step .*append to /x"):
        disk.append("/x", b"b")
    assert disk.read("/x") == b""


@settings(max_examples=25, deadline=None)
@given(old=st.binary(max_size=9000), new=st.binary(max_size=9000), writeback=st.booleans())
def test_disk_blob_store_is_old_or_new_after_a_crash_at_every_step(
    old: bytes, new: bytes, writeback: bool
) -> None:
    base = SimDisk(writeback=writeback)
    DiskBlobStore(base, "/db").write("secrets.db", old)
    total = steps_of(base, lambda d: DiskBlobStore(d, "/db").write("secrets.db", new))
    assert total >= 5  # create, append blocks, fsync, rename, fsync-dir
    for step in range(total):
        disk = base.clone()
        disk.fail_at(step)
        with pytest.raises(DiskFault):
            DiskBlobStore(disk, "/db").write("secrets.db", new)
        after = DiskBlobStore(disk, "/db").read("secrets.db")
        assert after in (old, new), f"torn state after a crash at step {step}/{total}"
    # and a completed write is durable
    disk = base.clone()
    DiskBlobStore(disk, "/db").write("secrets.db", new)
    disk.power_loss()
    assert DiskBlobStore(disk, "/db").read("secrets.db") == new


def test_a_naive_in_place_writer_tears_the_file_the_same_test_would_catch_it() -> None:
    base = SimDisk(writeback=True)
    DiskBlobStore(base, "/db").write("f", b"A" * 10000)
    new = b"B" * 10000

    def naive(d: SimDisk) -> None:
        d.create("/db/f")
        d.append("/db/f", new)
        d.fsync("/db/f")

    outcomes = set()
    for step in range(steps_of(base, naive)):
        disk = base.clone()
        disk.fail_at(step)
        with pytest.raises(DiskFault):
            naive(disk)
        outcomes.add(disk.read("/db/f"))
    assert any(o not in (b"A" * 10000, new) for o in outcomes)


def test_renaming_before_the_contents_are_synced_loses_them_the_same_test_would_catch_it() -> None:
    base = SimDisk()
    DiskBlobStore(base, "/db").write("f", b"old")

    def unsynced(d: SimDisk) -> None:
        d.create("/db/.f.tmp")
        d.append("/db/.f.tmp", b"new")
        d.rename("/db/.f.tmp", "/db/f")
        d.fsync_dir("/db")
        d.create("/db/other")  # a later step, where the crash hits

    disk = base.clone()
    disk.fail_at(steps_of(base, unsynced) - 1)
    with pytest.raises(DiskFault):
        unsynced(disk)
    assert disk.read("/db/f") == b""  # neither old nor new


def test_temporaries_are_hidden_and_cleaned() -> None:
    disk = SimDisk()
    store = DiskBlobStore(disk, "/db")
    store.write("backup/1.db", b"x")
    disk.fail_at(3)
    with pytest.raises(DiskFault):
        store.write("backup/2.db", b"y" * 10)
    disk.create("/db/backup/.2.db.tmp")
    assert store.list("backup") == ["1.db"]
    store.clean_temporaries("backup")
    assert disk.listdir("/db/backup") == ["1.db"]


def test_bucket_puts_are_whole_and_access_is_by_role() -> None:
    bucket = Bucket("b", roles=("node",))
    store = BucketBlobStore(bucket, "cosigner", role="node")
    store.write("secrets.db", b"old")
    bucket.fail_at(0)
    with pytest.raises(BucketFault, match=r"put cosigner/secrets.db"):
        store.write("secrets.db", b"new")
    assert store.read("secrets.db") == b"old"
    with pytest.raises(AccessDenied, match=r"role 'intruder' may not read object 'cosigner/secrets.db'"):
        BucketBlobStore(bucket, "cosigner", role="intruder").read("secrets.db")
    assert store.describe("x") == "bucket://b/cosigner/x"


@settings(max_examples=50, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.integers(0, 1), st.binary(min_size=1, max_size=8)),
            st.tuples(st.just("failed-append"), st.integers(0, 1), st.just(b"")),
            st.tuples(st.just("other-object"), st.integers(0, 1), st.just(b"x")),
            st.tuples(st.just("truncate"), st.integers(0, 1), st.just(b"")),
            st.tuples(st.just("lose"), st.just(0), st.just(b"")),
        ),
        max_size=40,
    )
)
def test_bucket_journal_appends_follow_every_writer_of_the_bucket(
    steps: list[tuple[str, int, bytes]],
) -> None:
    """A store remembers where its journal ends, and must notice anyone else's change to the bucket."""
    bucket = Bucket("b", roles=("node",))
    stores = [BucketBlobStore(bucket, "cosigner", role="node") for _ in range(2)]  # a node and its successor
    expected: list[bytes] = []
    for action, who, record in steps:
        store = stores[who]
        if action == "append":
            store.append("nonces.log", record)
            expected.append(record)
        elif action == "failed-append":
            bucket.fail_at(0)
            with pytest.raises(BucketFault):
                store.append("nonces.log", b"never")
        elif action == "other-object":
            store.write("secrets.db", record)
        elif action == "truncate":
            store.truncate("nonces.log")
            expected.clear()
        else:
            bucket.lose()
            expected.clear()
        assert stores[0].records("nonces.log") == expected
        assert stores[1].records("nonces.log") == expected
        # numbered from 1 after every truncation or loss, one more per append, whoever appended
        assert bucket.list("cosigner/nonces.log/", role="node") == [
            f"cosigner/nonces.log/{n:012d}" for n in range(1, len(expected) + 1)
        ]


def test_local_disk_replaces_files_atomically(tmp_path: object) -> None:
    disk = LocalDisk(str(tmp_path))
    store = DiskBlobStore(disk, "/databases/cosigner")
    store.write("db/secrets.db", b"one")
    store.write("db/secrets.db", b"two")
    assert store.read("db/secrets.db") == b"two"
    assert store.list("db") == ["secrets.db"]
    store.remove("db/secrets.db")
    assert store.read("db/secrets.db") is None


@given(
    st.lists(st.binary(max_size=50), max_size=30),
    st.integers(0, 600),
)
def test_file_contents_read_back_as_the_bytes_appended(pieces: list[bytes], start: int) -> None:
    """Contents compressed chunk by chunk (a tiny chunk here, so that every path is taken) read, measure,
    copy and slice as the plain bytes."""

    class Tiny(Contents):
        __slots__ = ()
        CHUNK = 16

    contents, plain = Tiny(), bytearray()
    for piece in pieces:
        contents += piece
        plain += piece
        assert len(contents) == len(plain)
    copy = contents.copy()
    contents += b"more"
    assert bytes(copy) == bytes(plain) and bytes(contents) == bytes(plain) + b"more"
    assert copy.after(start) == bytes(plain)[start:]


def test_a_removed_file_comes_back_after_a_power_loss_until_its_directory_is_synced() -> None:
    """Freeing a removed file's bytes keeps POSIX durability: the durable copy lives while a durable name
    still reaches it, and goes with the name."""
    disk = SimDisk()
    disk.create("/d/a")
    disk.append("/d/a", b"kept")
    disk.fsync("/d/a")
    disk.fsync_dir("/d")
    disk.remove("/d/a")
    assert disk.read("/d/a") is None
    disk.power_loss()
    assert disk.read("/d/a") == b"kept"
    disk.remove("/d/a")
    disk.fsync_dir("/d")
    disk.power_loss()
    assert disk.read("/d/a") is None and not disk._data and not disk._durable_data
