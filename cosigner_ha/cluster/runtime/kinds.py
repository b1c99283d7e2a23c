"""The kinds of process a runtime cluster starts, each a small spec in this one table.

A kind says how its command line is built from the cluster and the process's name, where the process
writes its JSON Lines trace (merged into the run's one trace) and which ready file it writes once listening
(the launcher waits for it and reads the addresses in it). Adding a process kind (an owner device, cloud
services, a callback handler) is one entry in `KINDS`; `RuntimeCluster.launch(kind, name)` starts it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cosigner_ha.cluster.runtime.saas_serve import READY_FILE, TRACE_FILE

if TYPE_CHECKING:
    from cosigner_ha.cluster.runtime.cluster import RuntimeCluster

Paths = Callable[[Path, str], Path]


@dataclasses.dataclass(frozen=True)
class ProcessKind:
    """`argv(cluster, name)`: the command after `cosigner-ha`; `trace(workdir, name)`: its JSON Lines (None:
    it writes none); `ready(workdir, name)`: the JSON file it writes once ready (None: ready at once)."""

    role: str
    argv: Callable[[RuntimeCluster, str], list[str]]
    trace: Paths | None = None
    ready: Paths | None = None


def _saas_state(workdir: Path, name: str) -> Path:
    return workdir / name


def _saas_argv(cluster: RuntimeCluster, name: str) -> list[str]:
    return [
        *("saas", "serve", "--state", str(_saas_state(cluster.workdir, name))),
        *("--cert", str(cluster.cert), "--key", str(cluster.cert_key)),
        *("--scenario", str(cluster.scenario_path)),
        *("--time-scale", repr(cluster.time_scale), "--loop", cluster.loop),
        *("--vendor-key", cluster.vendor_key, "--measurement", cluster.measurement),
        *cluster.saas_options,
    ]


def _link_ready(workdir: Path, name: str) -> Path:
    return workdir / "links" / f"{name}.json"


def _link_argv(cluster: RuntimeCluster, name: str) -> list[str]:
    ready = _link_ready(cluster.workdir, name)
    target = cluster.ready["gateway"]
    return ["proxy", "serve", "--target", target, "--ready", str(ready), "--loop", cluster.loop]


def node_trace(workdir: Path, name: str) -> Path:
    return workdir / "traces" / f"{name}.jsonl"


def _node_argv(cluster: RuntimeCluster, name: str) -> list[str]:
    return ["node", "start", *cluster.node_args(name), "--trace", str(node_trace(cluster.workdir, name))]


#: Every kind of process, by role. The SaaS is named "saas"; a link is named "link-NODE"; a node by its name.
KINDS: dict[str, ProcessKind] = {
    "saas": ProcessKind(
        "saas",
        _saas_argv,
        trace=lambda workdir, name: _saas_state(workdir, name) / TRACE_FILE,
        ready=lambda workdir, name: _saas_state(workdir, name) / READY_FILE,
    ),
    "proxy": ProcessKind("proxy", _link_argv, ready=_link_ready),
    "node": ProcessKind("node", _node_argv, trace=node_trace),
}
