"""The run's timeline cut into equal columns: per node, how long it was down and how many signatures it
released in each; per column, how much of it some fault covered. The terminal draws one character per
column; keeping the arithmetic here lets it be tested apart from the drawing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cosigner_ha.cluster.report.model import RunReport


@dataclass(frozen=True)
class LaneBins:
    name: str
    standby: bool
    down: tuple[float, ...]  # fraction of each column (0 to 1) the node was down
    signatures: tuple[int, ...]  # signatures released in each column


@dataclass(frozen=True)
class Timeline:
    end: float  # the run's length; columns cover [0, end)
    columns: int
    lanes: tuple[LaneBins, ...]
    faults: tuple[float, ...]  # fraction of each column covered by at least one fault
    instants: tuple[bool, ...]  # whether a fault that takes no time (restart, pair, policy) falls in it

    @property
    def column_seconds(self) -> float:
        return self.end / self.columns

    @property
    def busiest(self) -> int:
        """The most signatures any node released in one column (0 when none)."""
        return max((n for lane in self.lanes for n in lane.signatures), default=0)


def merge_intervals(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, non-overlapping intervals covering the same time; empty and reversed ones are dropped."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted((s, e) for s, e in intervals if e > s):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def coverage(intervals: Iterable[tuple[float, float]], end: float, columns: int) -> tuple[float, ...]:
    """Fraction of each of `columns` equal columns of [0, end) covered by the union of `intervals`."""
    width = end / columns
    covered = [0.0] * columns
    for start, stop in merge_intervals((max(s, 0.0), min(e, end)) for s, e in intervals):
        first = min(int(start / width), columns - 1)
        last = min(int(stop / width), columns - 1)
        for column in range(first, last + 1):
            left, right = column * width, (column + 1) * width
            covered[column] += max(0.0, min(stop, right) - max(start, left))
    return tuple(min(1.0, c / width) for c in covered)


def bin_timeline(report: RunReport, columns: int = 60) -> Timeline:
    """Cut the run into `columns` columns, one row per node (`report.node_names()` order)."""
    if columns < 1:
        raise ValueError(f"a timeline needs at least one column, got {columns}")
    end = _run_end(report)
    width = end / columns
    lanes = {lane.name: lane for lane in report.lanes}
    counts: dict[str, list[int]] = {name: [0] * columns for name in report.node_names()}
    for mark in report.signatures:
        counts[mark.node][min(max(int(mark.t / width), 0), columns - 1)] += 1
    rows = []
    for name, signed in counts.items():
        lane = lanes.get(name)
        down = coverage(lane.down, end, columns) if lane else (0.0,) * columns
        rows.append(LaneBins(name, lane.standby if lane else False, down, tuple(signed)))
    spans = [(f.start, end if f.end is None else f.end) for f in report.faults]
    instants = [False] * columns
    for f in report.faults:
        if f.end is not None and f.end <= f.start:
            instants[min(max(int(f.start / width), 0), columns - 1)] = True
    return Timeline(end, columns, tuple(rows), coverage(spans, end, columns), tuple(instants))


def _run_end(report: RunReport) -> float:
    """The simulated duration; if the report has none, the last thing it mentions, so there is a scale."""
    if report.simulated_seconds > 0:
        return report.simulated_seconds
    times: Sequence[float] = [
        *(m.t for m in report.signatures),
        *(e for lane in report.lanes for _, e in lane.down),
        *(f.start for f in report.faults),
    ]
    return max([t for t in times if t > 0], default=1.0)
