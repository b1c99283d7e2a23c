"""The trace: every event of a run, canonically encoded, hashed as it is written.

One JSON object per line with sorted keys and no spaces; bytes become hex. The first line is the header
(scenario hash and seed). The trace hash is the SHA-256 of exactly the bytes a `--trace` file holds, so
`sha256sum trace.jsonl` checks a published hash. A scenario run holds its set-up back (`hold`) and writes
it once the scenario starts (`set_origin`): every `t` then counts from the scenario's start, set-up negative.

A long run need not keep its events: `keep=False` and a consumer (`consume`) fed each event as it is
written (in file order, with its final time) let an analysis fold the run as it goes, so memory stays flat
in the length of the run while the file and the hash are exactly those of a kept trace.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import IO, Any

from cosigner_ha.env.event_log import Event, EventLog

__all__ = ["TIME_DIGITS", "Event", "EventLog", "Trace", "TraceError", "canonical"]

#: Simulated times are written to the microsecond: finer digits carry float noise, not information.
TIME_DIGITS = 6


class TraceError(ValueError):
    """A field that has no canonical encoding."""


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TraceError(f"trace field of type {type(value).__name__} has no canonical encoding: {value!r}")


#: Built once: `json.dumps` with these options would build an encoder per call (a trace writes tens of
#: events per simulated transaction).
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=_default
)
#: The C encoder behind `_ENCODER`, built once too (`JSONEncoder.encode` builds one per call): the same
#: options and output. It has no circular-reference check (an event's fields are data, never cyclic).
_MAKE_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)  # not in typeshed
_C_ENCODE: Callable[[Any, int], tuple[str, ...]] | None = (
    None
    if _MAKE_C_ENCODER is None
    else _MAKE_C_ENCODER(
        None, _default, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, False
    )
)


#: The pieces whose `"".join` is the line: the C encoder's, or the one piece `_ENCODER` makes on an
#: interpreter without the C accelerator. `Trace.record` joins them itself: one call less an event.
_PIECES: Callable[[Any, int], tuple[str, ...]] = (
    _C_ENCODE if _C_ENCODE is not None else lambda obj, _level: (_ENCODER.encode(obj),)
)


def canonical(obj: Mapping[str, Any]) -> str:
    """The one encoding whose bytes are hashed: sorted keys, compact, ASCII, no NaN."""
    return "".join(_PIECES(obj, 0))


class Trace:
    """Records events with the time from `now`, feeds the running hash, the sink and the consumers, and
    keeps them in memory (`events`) only when asked (`keep`)."""

    def __init__(
        self,
        now: Callable[[], float],
        header: Mapping[str, Any],
        *,
        sink: IO[str] | None = None,
        keep: bool = True,
    ) -> None:
        self._now = now
        self._sha = hashlib.sha256()
        self._sink = sink
        self.keep = keep
        self.events = EventLog()  # compact: sealed into compressed blocks as it grows; empty unless `keep`
        self.count = 0
        self._listeners: list[Callable[[Event], None]] = []
        self._consumers: list[Callable[[Event], None]] = []
        #: Times count from here (`set_origin`); events before it are held back while `_held` is a list.
        self._origin = 0.0
        self._held: list[tuple[float, str, Mapping[str, Any]]] | None = None
        self._raw, self._t = math.nan, 0.0  # the latest clock reading and its `t` (NaN equals nothing)
        self._write(canonical({"kind": "header", **header}))

    def hold(self) -> None:
        """Hold events back (not written, not hashed) until `set_origin`: a run's set-up, whose times are
        then written relative to the scenario's start, negative, so that `t` lines up with `at`."""
        if self.count:
            raise TraceError("hold() must come before the first event")
        self._held = []

    def set_origin(self, origin: float) -> None:
        """From now on `t` counts from `origin` (the clock's reading); held events are written now, their
        times shifted the same way, and kept and consumed as written."""
        self._origin = origin
        self._raw = math.nan  # times now count from `origin`
        held, self._held = self._held, None
        for raw, kind, fields in held or ():
            t = round(raw - origin, TIME_DIGITS)
            self._emit(Event(t, kind, fields), canonical({"t": t, "kind": kind, **fields}))

    def _write(self, line: str) -> None:
        data = line + "\n"
        self._sha.update(data.encode("ascii"))
        if self._sink is not None:
            self._sink.write(data)

    def _emit(self, event: Event, line: str) -> None:
        """An event as the file has it: written, hashed, kept if asked, and given to every consumer."""
        self._write(line)
        if self.keep:
            self.events.append(event)
        for consumer in self._consumers:
            consumer(event)

    def record(self, kind: str, /, **fields: Any) -> Event:
        raw = self._now()
        if raw == self._raw:  # half the events share the instant of the one before: rounded once
            t = self._t
        else:
            t = self._t = round(raw - self._origin, TIME_DIGITS)
            self._raw = raw
        if "t" in fields or "kind" in fields:
            raise TraceError(f"event {kind!r}: 't' and 'kind' are reserved field names")
        try:
            line = "".join(_PIECES({"t": t, "kind": kind, **fields}, 0))  # `canonical`, inline
        except ValueError:  # the encoder refuses NaN and infinities; name the field when it is ours
            for key, value in fields.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise TraceError(
                        f"event {kind!r}: field {key!r} is {value}, which JSON cannot carry"
                    ) from None
            raise
        event = Event(t, kind, fields)
        if self._held is None:
            self._emit(event, line)
        else:  # set-up: written by `set_origin`, with its time from the origin
            self._held.append((raw, kind, fields))
        self.count += 1
        for listener in self._listeners:
            listener(event)
        return event

    def consume(self, consumer: Callable[[Event], None]) -> None:
        """Called with every later event as it is written: in the file's order and with the file's times
        (a held set-up event when `set_origin` writes it), so a fold over them equals one over the file."""
        self._consumers.append(consumer)

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Called with every later event as it is recorded (a held set-up event with its time before the
        origin): live progress, invariant checks that watch as the run goes."""
        self._listeners.append(listener)

    @property
    def hash(self) -> str:
        if self._held is not None:  # the origin never came (set-up failed): what there is, as recorded
            self.set_origin(self._origin)
        return self._sha.hexdigest()

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]
