"""A live progress bar on simulated time, fed by the trace (no polling, no threads)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cosigner_ha.env import Event, Trace


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@contextlib.contextmanager
def simulated_time_progress(
    trace: Trace, duration: float, console: Console, label: str, *, offset_kind: str | None = None
) -> Iterator[None]:
    """Advance a bar as events with later simulated times are recorded; refreshes at most every 0.1 s.

    With `offset_kind`, time counts from the first event of that kind (the end of a run's setup). Without
    a terminal there is no bar, and no listener on the run's events (tens a transaction) either.
    """
    if not console.is_terminal:
        yield
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[sim]} / " + _hms(duration) + " simulated"),
        TextColumn("{task.fields[events]:>8,} events"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        refresh_per_second=10,
    )
    task = progress.add_task(label, total=duration, sim=_hms(0), events=0)
    shown = -1.0
    step = duration / 500
    origin: float | None = None if offset_kind else 0.0

    def on_event(event: Event) -> None:
        nonlocal shown, origin
        if origin is None:
            if event.kind != offset_kind:
                return
            origin = event.t
        t = event.t - origin
        if t - shown >= step or event.kind == "end":
            shown = t
            progress.update(task, completed=min(t, duration), sim=_hms(t), events=trace.count)

    trace.subscribe(on_event)
    with progress:
        yield
        progress.update(task, completed=duration, sim=_hms(duration), events=trace.count)
