"""Workloads over a topology: a few transactions at fixed times, or Poisson arrivals at a low rate.

They shrink toward fewer transactions: fewer workloads, one batch rather than a stream, a count of one,
a rate of one an hour, the smallest amount.
"""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from cosigner_ha.cluster.scenario import Rate, Workload
from cosigner_ha.testing.strategies.topology import Topology


def workloads(
    topology: Topology,
    duration: float,
    *,
    min_workloads: int = 1,
    max_workloads: int = 2,
    max_count: int = 5,
    max_rate_per_hour: int = 60,
) -> st.SearchStrategy[tuple[Workload, ...]]:
    """Transactions from the topology's initiator, out of its vaults, to its whitelisted wallets.

    A batch workload submits `count` (1..`max_count`) at one time before `duration`; a stream has a rate
    of 1..`max_rate_per_hour` an hour. Amounts are small against the generated policies' thresholds, with
    an occasional large one that reaches their BLOCK and 2-TIER rules.
    """
    if duration <= 1:
        raise ValueError(f"duration must be over a second, got {duration}")
    if not 0 <= min_workloads <= max_workloads:
        raise ValueError(f"need 0 <= min_workloads <= max_workloads, got {min_workloads}, {max_workloads}")
    if not topology.initiators:
        raise ValueError("workloads need a topology with an initiator")
    workspace = topology.workspace
    assets = sorted(workspace.prices_usd, key=list(workspace.prices_usd).index)
    last_second = max(0, int(duration) - 1)

    @st.composite
    def one(draw: st.DrawFn, index: int) -> Workload:
        asset = draw(st.sampled_from(assets))
        low = draw(st.sampled_from([0.01, 0.5, 2.0, 40.0]))
        high = low * draw(st.sampled_from([1, 2, 10]))
        common = Workload(
            name=f"w{index}",
            initiator=topology.initiators[0],
            asset=asset,
            amount_min=low,
            amount_max=high,
            source=f"vault:{draw(st.sampled_from(workspace.vaults))}",
            destination=f"wallet:{draw(st.sampled_from(workspace.wallets))}",
        )
        if draw(st.booleans()):
            per_hour = draw(st.integers(1, max_rate_per_hour))
            return dataclasses.replace(common, rate=Rate(float(per_hour), "h"))
        at = draw(st.integers(0, last_second))
        return dataclasses.replace(common, at=float(at), count=draw(st.integers(1, max_count)))

    @st.composite
    def many(draw: st.DrawFn) -> tuple[Workload, ...]:
        n = draw(st.integers(min_workloads, max_workloads))
        return tuple(draw(one(i)) for i in range(n))

    return many()
