"""One trace from many processes: each runtime process writes JSON Lines with `t` on its own clock (seconds
since it started); the first event after each header is `process_started` with the wall-clock time it was
recorded, which puts that process's events on the launcher's clock. A restarted process appends a new
header and a new `process_started` to the same file, so each segment is placed by its own."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cosigner_ha.env import Environment

PROCESS_STARTED, PROCESS_EXITED = "process_started", "process_exited"


def record_started(env: Environment, role: str, name: str) -> None:
    """The anchor of a process's trace: its pid, role and name, and the wall time of its clock's `t`."""
    env.trace.record(PROCESS_STARTED, pid=os.getpid(), role=role, name=name, wall=time.time())


@dataclasses.dataclass(frozen=True)
class Exit:
    name: str
    pid: int
    status: int | None
    wall: float


def merge(files: Mapping[str, Path], start_wall: float, exits: Iterable[Exit] = ()) -> list[dict[str, Any]]:
    """Every event of every file, with `t` on the launcher's clock (seconds since `start_wall`) and the
    `process` that wrote it, plus a `process_exited` per exit; in time order."""
    events: list[dict[str, Any]] = []
    for name, path in files.items():
        if not path.exists():
            continue
        offset: float | None = None
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:  # a line cut short by SIGKILL
                continue
            if not isinstance(event, dict) or event.get("kind") == "header":
                offset = None
                continue
            if event.get("kind") == PROCESS_STARTED:
                offset = float(event["wall"]) - float(event["t"]) - start_wall
            if offset is None or "t" not in event:
                continue
            events.append({**event, "t": round(float(event["t"]) + offset, 6), "process": name})
    for done in exits:
        events.append(
            {
                "t": round(done.wall - start_wall, 6),
                "kind": PROCESS_EXITED,
                "process": done.name,
                "pid": done.pid,
                "status": done.status,
            }
        )
    events.sort(key=lambda e: e["t"])
    return events


def segment(path: Path, pid: int) -> list[dict[str, Any]]:
    """The events the process `pid` has written to `path` so far (its segment: from its `process_started`
    to the next header), on its own clock; none before it has started. The launcher reads a running
    node's progress this way (its trace is line-buffered)."""
    out: list[dict[str, Any]] = []
    mine = False
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:  # a line being written, or cut short by SIGKILL
            continue
        if not isinstance(event, dict) or event.get("kind") == "header":
            mine = False
            continue
        if event.get("kind") == PROCESS_STARTED:
            mine = event.get("pid") == pid
        if mine:
            out.append(event)
    return out
