"""The live progress bar on simulated time: drawn on a terminal, and no cost on a run that has none."""

from __future__ import annotations

import io

from rich.console import Console

from cosigner_ha.cluster.progress import simulated_time_progress
from cosigner_ha.env import Trace


def _trace() -> tuple[Trace, list[float]]:
    now = [0.0]
    return Trace(lambda: now[0], {"seed": 1}, keep=False), now


def test_without_a_terminal_no_listener_is_added_and_nothing_is_drawn() -> None:
    trace, now = _trace()
    out = io.StringIO()
    with simulated_time_progress(trace, 60.0, Console(file=out, force_terminal=False), "run"):
        for t in range(10):
            now[0] = float(t)
            trace.record("tick")
    assert trace._listeners == [] and out.getvalue() == ""


def test_on_a_terminal_the_bar_is_drawn_and_ends_at_the_duration_with_the_events_counted() -> None:
    trace, now = _trace()
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with simulated_time_progress(trace, 3600.0, console, "busy", offset_kind="scenario_start"):
        trace.record("setup")
        now[0] = 100.0
        trace.record("scenario_start")
        now[0] = 100.0 + 1800.0
        trace.record("tick")
    text = out.getvalue()
    assert "busy" in text and "1:00:00 / 1:00:00 simulated" in text and "3 events" in text
