"""Where a run keeps its events when asked to (the testing toolkit's runs, a live cluster): compact once
a run is long.

A plain run keeps none (its report is folded as the events are written, cluster/analysis.py). A run that
keeps them may record millions; as Python objects (an `Event`, its dict, its values) they cost about half
a kilobyte each. Once a log holds `COMPACT_AFTER` events, `EventLog` seals every `CHUNK` of them into one
pickled, zlib-compressed block (about 30 bytes an event): pickle keeps every value's type (bytes, enums,
tuples) exactly, so a reader sees the same events. Reading decodes one block at a time (iteration, or an
index: the last block read is cached), so a pass holds at most one block's objects beyond the tail.

Decoding costs about 6 µs an event per pass, so shorter runs (every bundled scenario has fewer events)
keep plain objects and pay nothing.
"""

from __future__ import annotations

import dataclasses
import pickle
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One trace event: simulated time, kind, and the fields as recorded."""

    t: float
    kind: str
    fields: Mapping[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


#: Events per sealed block: large enough for pickle's key sharing and zlib to pay, small enough that one
#: decoded block is a few megabytes at most.
CHUNK = 4096
#: Events kept as plain objects before the log starts sealing blocks (about 60 MB of them at most).
COMPACT_AFTER = 120_000


class EventLog(Sequence[Event]):
    """An append-only sequence of events, sealed into compressed blocks of `CHUNK` as it grows."""

    __slots__ = ("_blocks", "_cache", "_tail")

    def __init__(self) -> None:
        self._blocks: list[bytes | list[Event]] = []
        self._tail: list[Event] = []
        self._cache: tuple[int, list[Event]] | None = None

    def append(self, event: Event) -> None:
        tail = self._tail
        tail.append(event)
        if len(tail) >= CHUNK and (self._blocks or len(tail) >= COMPACT_AFTER):
            whole = len(tail) - len(tail) % CHUNK
            self._blocks.extend(_seal(tail[i : i + CHUNK]) for i in range(0, whole, CHUNK))
            self._tail = tail[whole:]

    def __setitem__(self, index: int, event: Event) -> None:
        """Replace an event that is not sealed yet: the trace rewrites its held set-up events once, with
        their times from the scenario's start, long before anything is sealed."""
        sealed = len(self._blocks) * CHUNK
        if not sealed <= index < len(self):
            raise IndexError(f"event {index} is sealed or beyond the log; only the unsealed tail is replaced")
        self._tail[index - sealed] = event

    def clear(self) -> None:
        self._blocks.clear()
        self._tail = []
        self._cache = None

    def __len__(self) -> int:
        return len(self._blocks) * CHUNK + len(self._tail)

    def __iter__(self) -> Iterator[Event]:
        for k in range(len(self._blocks)):
            yield from self._block(k)
        yield from list(self._tail)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("event index out of range")
        sealed = len(self._blocks) * CHUNK
        if index >= sealed:
            return self._tail[index - sealed]
        k, i = divmod(index, CHUNK)
        return self._block(k)[i]

    def _block(self, k: int) -> list[Event]:
        block = self._blocks[k]
        if isinstance(block, list):
            return block
        if self._cache is not None and self._cache[0] == k:
            return self._cache[1]
        events = [Event(t, kind, fields) for t, kind, fields in pickle.loads(zlib.decompress(block))]
        self._cache = (k, events)
        return events

    def __repr__(self) -> str:
        return f"<EventLog of {len(self)} events, {len(self._blocks)} sealed blocks>"


def _seal(events: list[Event]) -> bytes | list[Event]:
    """One block: the events' (t, kind, fields) pickled together (shared keys are written once) and
    compressed; kept as objects in the rare case that a field holds something pickle cannot write."""
    try:
        data = pickle.dumps([(e.t, e.kind, e.fields) for e in events], protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return events
    return zlib.compress(data, 1)
