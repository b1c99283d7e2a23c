"""Workloads: Poisson arrivals or one-off batches, each drawn from its own seeded stream.

A workload's stream is named after it, so adding a workload or a fault never moves another workload's
arrival times or amounts (DESIGN.md section 3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel

from cosigner_ha.cluster.scenario import Workload
from cosigner_ha.cluster.scenario.frozen import thaw
from cosigner_ha.env import Environment

#: A batch lets other tasks (and signals) run after this many submissions; smaller batches run whole.
BATCH_CHECKPOINT = 1000
#: Amounts are drawn to this many decimals: what a person would type, and stable in traces.
AMOUNT_DECIMALS = 8


@dataclass(frozen=True, slots=True)
class Submission:
    workload: str
    initiator: str
    operation: str
    asset: str
    amount: float
    source: str
    destination: str
    destination_address: str
    external_id: str
    extra_parameters: Mapping[str, Any] | None = None


Submit = Callable[[Submission], None]


def _submission(workload: Workload, env: Environment, index: int) -> Submission:
    rng = env.rng(f"workload/{workload.name}/amount")
    low, high = workload.amount_min, workload.amount_max
    amount = low if low == high else round(rng.uniform(low, high), AMOUNT_DECIMALS)
    return Submission(
        workload=workload.name,
        initiator=workload.initiator,
        operation=str(workload.operation),
        asset=workload.asset,
        amount=amount,
        source=workload.source,
        destination=workload.destination,
        destination_address=str(workload.destination_address),
        external_id=f"{workload.name}-{index}",
        extra_parameters=None if workload.extra_parameters is None else thaw(workload.extra_parameters),
    )


async def run_workload(env: Environment, workload: Workload, start: float, end: float, submit: Submit) -> int:
    """Submit the workload's transactions between `start` and `end` (loop-clock seconds); returns the count."""
    clock = env.clock
    index = 0
    if workload.at is not None:
        await clock.sleep_until(start + workload.at)
        for _ in range(workload.count):
            index += 1
            submit(_submission(workload, env, index))
            if index % BATCH_CHECKPOINT == 0:  # a large batch (--no-limits) still hears Ctrl-C
                await anyio.lowlevel.checkpoint()
        return index
    assert workload.rate is not None, "the loader guarantees a rate or an `at`"
    arrivals = env.rng(f"workload/{workload.name}/arrivals")
    t = start + workload.start
    stop = end if workload.stop is None else min(end, start + workload.stop)
    while True:
        t += arrivals.expovariate(workload.rate.per_second)
        if t >= stop:
            return index
        await clock.sleep_until(t)
        index += 1
        submit(_submission(workload, env, index))
