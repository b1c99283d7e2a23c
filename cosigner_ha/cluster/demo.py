"""`cosigner-ha demo`: the long-poll model of the foundation, with its report.

Ten co-signer-like clients long-poll one server over the simulated network for six simulated hours, half of
them cut off for 40 minutes. It shows the kernel the full simulator stands on: virtual time, seeded
randomness, the simulated network's faults, and a trace whose hash proves the run.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from cosigner_ha.cluster.longpoll_model import ModelConfig, run_model
from cosigner_ha.cluster.progress import simulated_time_progress
from cosigner_ha.env import Environment, run_simulated


def run_demo(seed: int = 42, console: Console | None = None) -> int:
    console = console or Console()
    config = ModelConfig()
    env = Environment.simulated(seed, header={"model": "long-poll", "clients": config.clients})
    started = time.perf_counter()
    with simulated_time_progress(env.trace, config.duration, console, "long-poll model"):
        result = run_simulated(lambda e: run_model(e, config), env)
    wall = time.perf_counter() - started

    table = Table(title=f"Long-poll model, seed {seed}: {config.clients} clients, 6 simulated hours")
    for column in ("client", "polls", "work delivered", "reconnects"):
        table.add_column(column, justify="right" if column != "client" else "left")
    cut = {f"node-{i}" for i in range(config.clients // 2)}
    for name in result.polls:
        label = f"{name} (cut off 2:00-2:40)" if name in cut else name
        table.add_row(
            label, str(result.polls[name]), str(result.delivered[name]), str(result.reconnects[name])
        )
    console.print(table)
    delivered = sum(result.delivered.values())
    unsent = result.produced - result.sent - result.queued_at_end
    console.print(
        f"work produced {result.produced}, delivered {delivered}, queued at the end {result.queued_at_end}, "
        f"sent but not received (in flight, or on a connection that broke) {result.sent - delivered}"
    )
    console.print(f"{result.events:,} events in {wall:.2f} s wall ({config.duration / wall:,.0f}x real time)")
    console.print(f"trace hash [bold]{result.trace_hash}[/bold]")
    return 0 if unsent == 0 else 1
