"""Reading one process's events from a trace file that restarted processes append to (`segment`): what
the launcher reads to know whether a node it started has tried to boot yet."""

from __future__ import annotations

import json
from pathlib import Path

from cosigner_ha.cluster.runtime.trace_merge import segment


def _lines(*events: dict[str, object]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def test_a_segment_is_the_events_of_that_process_only(tmp_path: Path) -> None:
    path = tmp_path / "node.jsonl"
    assert segment(path, 11) == [], "no file yet: the process has not started"
    path.write_text(
        _lines(
            {"kind": "header", "role": "node"},
            {"t": 0.0, "kind": "process_started", "pid": 11, "wall": 1.0},
            {"t": 0.1, "kind": "node_state", "state": "running"},
            {"kind": "header", "role": "node"},  # SIGKILLed; a new process on the same home
        )
    )
    assert segment(path, 22) == [], "the new process has not written its start yet: the old one's is not it"
    with path.open("a") as out:
        out.write(_lines({"t": 0.0, "kind": "process_started", "pid": 22, "wall": 5.0}))
        out.write(_lines({"t": 0.2, "kind": "node_state", "state": "booting"}))
        out.write('{"t": 0.3, "kind": "node_st')  # a line being written
    assert [e.get("state") for e in segment(path, 22)] == [None, "booting"]
    assert [e.get("state") for e in segment(path, 11)] == [None, "running"]
