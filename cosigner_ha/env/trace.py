"""The trace: every event of a run, canonically encoded, hashed as it is written.

One JSON object per line with sorted keys and no spaces; bytes become hex. The first line is the header
(scenario hash and seed). The trace hash is the SHA-256 of exactly the bytes a `--trace` file holds, so
`sha256sum trace.jsonl` checks a published hash.
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


def canonical(obj: Mapping[str, Any]) -> str:
    """The one encoding whose bytes are hashed: sorted keys, compact, ASCII, no NaN."""
    return _ENCODER.encode(obj)


class Trace:
    """Records events with the time from `now`, feeds the running hash, and optionally a sink and memory."""

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
        self._keep = keep
        self.events = EventLog()  # compact: sealed into compressed blocks as it grows
        self.count = 0
        self._listeners: list[Callable[[Event], None]] = []
        self._write(canonical({"kind": "header", **header}))

    def _write(self, line: str) -> None:
        data = line + "\n"
        self._sha.update(data.encode("ascii"))
        if self._sink is not None:
            self._sink.write(data)

    def record(self, kind: str, /, **fields: Any) -> Event:
        t = round(self._now(), TIME_DIGITS)
        if "t" in fields or "kind" in fields:
            raise TraceError(f"event {kind!r}: 't' and 'kind' are reserved field names")
        try:
            line = canonical({"t": t, "kind": kind, **fields})
        except ValueError:  # the encoder refuses NaN and infinities; name the field when it is ours
            for key, value in fields.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise TraceError(
                        f"event {kind!r}: field {key!r} is {value}, which JSON cannot carry"
                    ) from None
            raise
        self._write(line)
        event = Event(t, kind, fields)
        self.count += 1
        if self._keep:
            self.events.append(event)
        for listener in self._listeners:
            listener(event)
        return event

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Called with every later event: live progress, invariant checks that watch as the run goes."""
        self._listeners.append(listener)

    @property
    def hash(self) -> str:
        return self._sha.hexdigest()

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]
