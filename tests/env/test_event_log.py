"""The compact event log: the events read back are the events recorded (values, types, order), however
many blocks they were sealed into, by iteration, index and slice."""

from __future__ import annotations

import enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner_ha.env import event_log
from cosigner_ha.env.event_log import Event, EventLog


class Colour(enum.Enum):
    RED = "red"


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.just(Colour.RED),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.lists(st.integers(), max_size=3),
)
events = st.builds(
    Event,
    st.floats(0, 1e6, allow_nan=False),
    st.sampled_from(["signed", "probe", "fault"]),
    st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=4),
)


@settings(max_examples=40, deadline=None)
@given(recorded=st.lists(events, max_size=60), chunk=st.integers(1, 7))
def test_the_log_reads_back_what_was_recorded(recorded: list[Event], chunk: int) -> None:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(event_log, "CHUNK", chunk)
        m.setattr(event_log, "COMPACT_AFTER", 2 * chunk)
        log = EventLog()
        for e in recorded:
            log.append(e)
        assert len(log) == len(recorded)
        assert list(log) == recorded
        assert [type(v) for e in log for v in e.fields.values()] == [
            type(v) for e in recorded for v in e.fields.values()
        ]
        assert [log[i] for i in range(len(log))] == recorded
        assert [log[-i] for i in range(1, len(log) + 1)] == [recorded[-i] for i in range(1, len(log) + 1)]
        assert log[1:-1:2] == recorded[1:-1:2]
        with pytest.raises(IndexError):
            log[len(recorded)]


def test_full_blocks_are_sealed_into_compressed_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_log, "CHUNK", 100)
    monkeypatch.setattr(event_log, "COMPACT_AFTER", 200)
    log = EventLog()
    for i in range(250):
        log.append(Event(float(i), "signed", {"tx": f"tx-{i}", "node": "nitro-a", "sig": bytes(64)}))
    assert [type(b) for b in log._blocks] == [bytes, bytes]
    assert sum(len(b) for b in log._blocks) < 200 * 40  # a few tens of bytes per event
    assert len(log._tail) == 50
    assert log[150] == Event(150.0, "signed", {"tx": "tx-150", "node": "nitro-a", "sig": bytes(64)})


def test_a_block_pickle_cannot_write_stays_as_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_log, "CHUNK", 2)
    monkeypatch.setattr(event_log, "COMPACT_AFTER", 2)
    log = EventLog()
    odd = {"callback": lambda: None}
    log.append(Event(0.0, "a", odd))
    log.append(Event(1.0, "b", {}))
    log.append(Event(2.0, "c", {}))
    assert [e.kind for e in log] == ["a", "b", "c"]
    assert log[0].fields is odd


def test_a_short_log_keeps_plain_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_log, "CHUNK", 10)
    monkeypatch.setattr(event_log, "COMPACT_AFTER", 50)
    log = EventLog()
    recorded = [Event(float(i), "probe", {"i": i}) for i in range(49)]
    for e in recorded:
        log.append(e)
    assert not log._blocks and all(a is b for a, b in zip(log, recorded, strict=True))
    log.append(Event(49.0, "probe", {"i": 49}))  # the 50th: everything is sealed, in blocks of 10
    assert len(log._blocks) == 5 and not log._tail
    assert [e.fields["i"] for e in log] == list(range(50))


def test_only_the_unsealed_tail_is_replaced_and_clear_empties(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trace rewrites its held set-up events once (their times from the scenario's start); a sealed
    event is never rewritten in place."""
    monkeypatch.setattr(event_log, "CHUNK", 10)
    monkeypatch.setattr(event_log, "COMPACT_AFTER", 20)
    log = EventLog()
    for i in range(25):
        log.append(Event(float(i), "probe", {"i": i}))
    log[24] = Event(-1.0, "probe", {"i": 24})
    assert log[24].t == -1.0
    with pytest.raises(IndexError, match="sealed"):
        log[3] = Event(-1.0, "probe", {"i": 3})
    log.clear()
    assert len(log) == 0 and list(log) == []
