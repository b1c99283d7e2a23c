"""The sealed database: old-or-new after a crash at every write step, backups, the nonce ledger, tampering."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.cluster.infra import SimDisk
from cosigner_ha.node.database import Database, Layout
from cosigner_ha.node.errors import DatabaseCorrupt, DatabaseMissing, DatabaseTampered, DiskFault, NonceError
from cosigner_ha.node.records import CallbackSettings, Secrets, UserRecord
from cosigner_ha.node.storage import DiskBlobStore
from tests.node.helpers import Wall, drbg

KEY = bytes(range(32))
SGX_LAYOUT = Layout(secrets="db/secrets.db", ledger="db/nonces.db", journal="db/nonces.log", backups="backup")


def user(name: str, n: int = 0) -> UserRecord:
    return UserRecord(
        api_user=name,
        workspace_id="ws-1",
        identifier=1,
        key_package=bytes([n]) * 40,
        public_package=b"pp",
        group_public_key=b"g" * 32,
        config_key=b"c" * 32,
        refresh_token=f"refresh-{name}-{n}",
        callback=CallbackSettings(url=f"https://cb/{n}" if n else ""),
        paired_at=1.0,
        ledger_epoch=1,
    )


def secrets(*users: UserRecord) -> Secrets:
    return Secrets(
        cosigner_id="cs-1", cosigner_type="SGX", transport_key=b"t" * 32, callback_key=b"r", users=users
    )


def open_db(disk: SimDisk, wall: Wall | None = None, key: bytes = KEY) -> Database:
    return Database.open(
        DiskBlobStore(disk, "/databases/cosigner"),
        key,
        randbytes=drbg().randbytes,
        wall=wall or Wall(),
        layout=SGX_LAYOUT,
    )


def test_a_fresh_database_commits_and_reopens() -> None:
    disk = SimDisk()
    db = open_db(disk)
    assert db.secrets is None and db.generation == 0
    db.commit(secrets(user("alice")))
    again = open_db(disk)
    assert again.secrets == secrets(user("alice"))
    assert again.generation == 1
    assert again.ledger.epoch == 2  # every open starts a new boot epoch, durably


@settings(max_examples=12, deadline=None)
@given(
    before=st.lists(st.sampled_from(["alice", "bob", "carol"]), max_size=3, unique=True),
    after=st.lists(st.sampled_from(["alice", "bob", "dave"]), min_size=1, max_size=3, unique=True),
    writeback=st.booleans(),
)
def test_commit_leaves_the_old_or_the_new_state_after_a_crash_at_every_step(
    before: list[str], after: list[str], writeback: bool
) -> None:
    base = SimDisk(writeback=writeback)
    old = secrets(*(user(n, 1) for n in before))
    new = secrets(*(user(n, 2) for n in after))
    open_db(base).commit(old)
    probe = base.clone()
    db = open_db(probe)
    start = probe.steps
    db.commit(new)
    total = probe.steps - start
    for step in range(total):
        disk = base.clone()
        db = open_db(disk)
        disk.fail_at(step)
        with pytest.raises(DiskFault):
            db.commit(new)
        reopened = open_db(disk)  # the reboot
        assert reopened.secrets in (old, new), f"torn database after a crash at step {step}/{total}"
        assert reopened.generation in (1, 2)


def test_consuming_a_nonce_is_durable_or_not_and_never_torn() -> None:
    base = SimDisk()
    db = open_db(base)
    db.commit(secrets(user("alice")))
    db.consume(b"n1" * 16)
    probe = base.clone()
    pdb = open_db(probe)
    start = probe.steps
    pdb.consume(b"n2" * 16)
    total = probe.steps - start
    for step in range(total):
        disk = base.clone()
        d = open_db(disk)
        disk.fail_at(step)
        with pytest.raises(DiskFault):
            d.consume(b"n2" * 16)
        r = open_db(disk)
        assert r.is_consumed(b"n1" * 16)
        assert r.consumed_ids() in ((b"n1" * 16,), (b"n1" * 16, b"n2" * 16))


def test_a_consumed_nonce_is_refused() -> None:
    db = open_db(SimDisk())
    db.commit(secrets(user("alice")))
    db.consume(b"x" * 32)
    with pytest.raises(NonceError, match=r"consumed already"):
        db.consume(b"x" * 32)


def test_every_change_leaves_a_snapshot_named_by_time() -> None:
    disk, wall = SimDisk(), Wall()
    db = open_db(disk, wall)
    db.commit(secrets(user("alice")))
    wall.t += 1
    db.commit(secrets(user("alice"), user("bob")))
    db.commit(secrets(user("bob")))  # same second: a suffix keeps both
    assert db.backups() == ["20260101000000.db", "20260101000001.db", "20260101000001_2.db"]
    assert db.read_backup("20260101000000.db")[0] == secrets(user("alice"))


def test_restoring_a_snapshot_never_rolls_back_the_nonce_ledger() -> None:
    disk, wall = SimDisk(), Wall()
    db = open_db(disk, wall)
    db.commit(secrets(user("alice")))
    snapshot = db.backups()[-1]
    wall.t += 60
    db.consume(b"after-snapshot".ljust(32, b"."))
    db.commit(secrets(user("alice"), user("bob")))
    epoch_before = open_db(disk).ledger.epoch
    db = open_db(disk)
    db.restore(snapshot)
    restored = open_db(disk)
    assert restored.secrets == secrets(user("alice"))
    assert restored.is_consumed(b"after-snapshot".ljust(32, b"."))
    assert restored.ledger.epoch > epoch_before + 1  # no fresh nonce from an earlier epoch can come back
    with pytest.raises(NonceError):
        restored.consume(b"after-snapshot".ljust(32, b"."))


def test_a_missing_ledger_taints_every_share_then_present() -> None:
    disk = SimDisk()
    db = open_db(disk)
    db.commit(secrets(user("alice"), user("bob")))
    disk.remove("/databases/cosigner/db/nonces.db")
    db = open_db(disk)
    assert db.recovered_ledger
    assert db.ledger.tainted == ("alice", "bob")
    db.untaint("bob")
    assert open_db(disk).ledger.tainted == ("alice",)


def test_a_tampered_database_is_refused_and_says_so() -> None:
    disk = SimDisk()
    open_db(disk).commit(secrets(user("alice")))
    raw = bytearray(disk.read("/databases/cosigner/db/secrets.db") or b"")
    raw[-5] ^= 1
    DiskBlobStore(disk, "/databases/cosigner").write("db/secrets.db", bytes(raw))
    with pytest.raises(
        DatabaseTampered, match=r"secrets\.db: authentication failed: the sealed bytes were modified"
    ):
        open_db(disk)


def test_a_database_under_another_key_is_refused_as_such() -> None:
    disk = SimDisk()
    open_db(disk).commit(secrets(user("alice")))
    with pytest.raises(DatabaseTampered, match=r"sealed under another key"):
        open_db(disk, key=bytes(32))


@pytest.mark.parametrize(
    ("garbage", "message"),
    [
        (b"hello", "not a sealed file"),
        (b"CHSEAL1\n\x00\x00", "truncated inside the header"),
        (b"CHSEAL1\n\x00\x00\x00\x05abc", "truncated"),
    ],
)
def test_garbage_is_reported_as_corrupt(garbage: bytes, message: str) -> None:
    disk = SimDisk()
    DiskBlobStore(disk, "/databases/cosigner").write("db/secrets.db", garbage)
    with pytest.raises(DatabaseCorrupt, match=message):
        open_db(disk)


def test_a_record_with_a_wrong_field_names_the_field() -> None:
    from cosigner_ha.node.records import decode_record, encode_record, to_plain

    plain = to_plain(secrets(user("alice")))
    plain["users"][0]["identifier"] = "one"
    import msgpack

    with pytest.raises(DatabaseCorrupt, match=r"db: users\[0\]\.identifier: expected int, got str"):
        decode_record(Secrets, msgpack.packb(plain), where="db")
    assert decode_record(Secrets, encode_record(secrets()), where="db") == secrets()


def test_records_are_written_as_plain_msgpack_maps_field_by_field() -> None:
    """The sealed files' format: a record is a map of its fields, tuples become lists, nested records
    maps, and bytes stay bin; a ledger's spent ids are written as they are (a node reads old files)."""
    import msgpack

    from cosigner_ha.node.records import NonceLedger, encode_record

    ids = (b"\x00" * 32, b"\xff" * 32)
    assert encode_record(NonceLedger("cs-1", 3, ids, ("alice",))) == msgpack.packb(
        {"cosigner_id": "cs-1", "epoch": 3, "consumed": list(ids), "tainted": ["alice"]}, use_bin_type=True
    )
    alice = user("alice", 1)
    users = msgpack.unpackb(encode_record(secrets(alice)), raw=False)["users"]
    assert users[0]["callback"] == {
        f.name: getattr(alice.callback, f.name) for f in dataclasses.fields(alice.callback)
    }
    assert users[0]["key_package"] == b"\x01" * 40 and users[0]["paired_at"] == 1.0


def test_restore_refuses_an_unknown_snapshot() -> None:
    db = open_db(SimDisk())
    db.commit(secrets(user("alice")))
    with pytest.raises(DatabaseMissing, match=r"no such backup"):
        db.restore("19990101000000.db")


def test_backups_can_be_bounded() -> None:
    disk, wall = SimDisk(), Wall()
    db = Database.open(
        DiskBlobStore(disk, "/databases/cosigner"),
        KEY,
        randbytes=drbg().randbytes,
        wall=wall,
        layout=SGX_LAYOUT,
        keep_backups=2,
    )
    for i in range(4):
        wall.t += 1
        db.commit(dataclasses.replace(secrets(user("alice")), cosigner_type=f"SGX{i}"))
    assert len(db.backups()) == 2


def test_the_nonce_journal_survives_a_torn_tail_and_refuses_a_tampered_record() -> None:
    disk = SimDisk()
    db = open_db(disk)
    db.commit(secrets(user("alice")))
    db.consume(b"a" * 32)
    db.consume(b"b" * 32)
    journal = "/databases/cosigner/db/nonces.log"
    raw = disk.read(journal) or b""
    torn = disk.clone()
    DiskBlobStore(torn, "/databases/cosigner").write("db/nonces.log", raw[:-10])  # the last append cut short
    assert open_db(torn).consumed_ids() == (b"a" * 32,)
    tampered = disk.clone()
    DiskBlobStore(tampered, "/databases/cosigner").write(
        "db/nonces.log", raw[:40] + bytes([raw[40] ^ 1]) + raw[41:]
    )
    with pytest.raises((DatabaseTampered, DatabaseCorrupt), match=r"nonces\.log record 0"):
        open_db(tampered)
    reopened = open_db(disk)
    assert reopened.consumed_ids() == (b"a" * 32, b"b" * 32)
    assert disk.read(journal) == b""  # folded into nonces.db at open


def test_bucket_journals_keep_one_object_per_record() -> None:
    from cosigner_ha.cluster.infra import Bucket
    from cosigner_ha.node.storage import BucketBlobStore

    store = BucketBlobStore(Bucket("b", roles=("r",)), "cosigner", role="r")
    for n in range(3):
        store.append("nonces.log", bytes([n]))
    assert store.records("nonces.log") == [b"\x00", b"\x01", b"\x02"]
    store.truncate("nonces.log")
    assert store.records("nonces.log") == []
