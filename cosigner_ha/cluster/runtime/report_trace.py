"""The merged runtime trace as the report reads a simulated one, and as `--trace` writes it.

The runtime's merged trace (`trace_merge`) is in real seconds since the launcher started, one dict per
event with the `process` that wrote it. The analysis (`cluster/analysis.py`, `cluster/invariants.py`) reads
`Event`s in scenario seconds, so a drill at time scale N is reported on the scenario's own time line (a
signature 0.5 s after submission at scale 60 is a latency of 30 s, to compare with `max_signing_latency_p99`
and the expectation windows). As in a simulated run's trace, `t` counts from the scenario's start (the
launcher's `scenario_start`, once every process is up and paired, `t` 0): set-up events are negative, and a
fault `at = "2m"` is an event near `t` 120, whatever the time scale. A node process that exits becomes the `node_state` the simulator records when
a node crashes or stops, since a SIGKILLed process records nothing itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cosigner_ha.cluster.invariants import TERMINAL_KINDS
from cosigner_ha.cluster.runtime.trace_merge import PROCESS_EXITED
from cosigner_ha.env import Event
from cosigner_ha.env.trace import TIME_DIGITS, canonical

#: Event fields that hold a duration measured by a process's clock: multiplied by the time scale.
DURATION_FIELDS = {kind: ("latency",) for kind in TERMINAL_KINDS}


def scenario_events(
    merged: Iterable[Mapping[str, Any]], *, time_scale: float, nodes: Iterable[str], origin: float = 0.0
) -> list[Event]:
    """Every merged event in scenario seconds from `origin` (the merged trace's time of `scenario_start`),
    with a `node_state` for each node process's exit."""
    node_names = set(nodes)
    out: list[Event] = []
    for raw in merged:
        fields = {k: v for k, v in raw.items() if k not in ("t", "kind")}
        for key in DURATION_FIELDS.get(raw["kind"], ()):
            if isinstance(fields.get(key), int | float):
                fields[key] = round(fields[key] * time_scale, TIME_DIGITS)
        t = round((float(raw["t"]) - origin) * time_scale, TIME_DIGITS)
        out.append(Event(t, str(raw["kind"]), fields))
        if raw["kind"] == PROCESS_EXITED and raw.get("process") in node_names:
            status = raw.get("status")
            state = "stopped" if status == 0 else "crashed"
            reason = f"process exited with status {status}" if status is not None else "process lost"
            out.append(Event(t, "node_state", {"node": raw["process"], "state": state, "reason": reason}))
    return out


def until_end(events: Sequence[Event]) -> list[Event]:
    """The events up to the launcher's `end` (what follows is the cluster being shut down)."""
    for i, event in enumerate(events):
        if event.kind == "end":
            return list(events[: i + 1])
    return list(events)


def trace_text(header: Mapping[str, Any], events: Iterable[Event]) -> tuple[str, str]:
    """The `--trace` file (the header, then one canonical JSON line per event) and its SHA-256."""
    lines = [canonical({"kind": "header", **header})]
    lines.extend(canonical({"t": e.t, "kind": e.kind, **e.fields}) for e in events)
    text = "\n".join(lines) + "\n"
    return text, hashlib.sha256(text.encode("ascii")).hexdigest()
