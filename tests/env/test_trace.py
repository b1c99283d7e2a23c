"""The trace's times: rounded once an instant, and counted from the origin once it is set."""

from __future__ import annotations

import hashlib
import io

from cosigner_ha.env import Trace
from cosigner_ha.env.trace import canonical


def test_events_at_one_instant_share_its_time_and_the_origin_moves_it() -> None:
    """The time of an instant is worked out once for the events that share it; an origin set at that very
    instant still moves the time of the next event (set-up held at the same reading, then the scenario)."""
    now = [7.123456789]
    sink = io.StringIO()
    trace = Trace(lambda: now[0], {"seed": 1}, sink=sink)
    trace.hold()
    trace.record("boot", node="n1")
    trace.set_origin(7.0)
    trace.record("scenario_start")
    trace.record("tick", n=1)
    now[0] = 7.5
    trace.record("tick", n=2)
    assert [(e.t, e.kind) for e in trace.events] == [
        (0.123457, "boot"),
        (0.123457, "scenario_start"),
        (0.123457, "tick"),
        (0.5, "tick"),
    ]
    lines = sink.getvalue().splitlines()
    assert lines[1:] == [canonical({"t": e.t, "kind": e.kind, **e.fields}) for e in trace.events]
    assert trace.hash == hashlib.sha256(sink.getvalue().encode("ascii")).hexdigest()


def test_a_time_before_the_origin_is_negative_even_at_a_repeated_reading() -> None:
    now = [5.0]
    trace = Trace(lambda: now[0], {"seed": 1})
    trace.record("before")  # no hold: written at once, from origin 0
    trace.set_origin(6.0)
    trace.record("after")  # the same reading, now one second before the origin
    assert [e.t for e in trace.events] == [5.0, -1.0]
