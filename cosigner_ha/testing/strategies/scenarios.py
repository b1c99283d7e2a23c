"""Whole scenarios: a topology, a policy, workloads and a fault schedule, checked by the loader.

Every drawn scenario has been through `scenario_to_dict` and `scenario_from_dict`, so it is exactly
what its `to_toml()` file loads to: a failing example can be written out and replayed with
`cosigner-ha run`. Runs are short (minutes of simulated time, SaaS timeouts of minutes) so that an
example costs a fraction of a second to a few seconds of wall time.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from cosigner_ha.cluster.scenario import (
    Expect,
    Fault,
    FaultAction,
    SaasSettings,
    Scenario,
    ScenarioInfo,
    scenario_from_dict,
    scenario_to_dict,
)
from cosigner_ha.testing.strategies.faults import FAILURE_ACTIONS, fault_schedules
from cosigner_ha.testing.strategies.policies import policies
from cosigner_ha.testing.strategies.topology import Topology, topologies
from cosigner_ha.testing.strategies.workloads import workloads

#: SaaS settings for generated scenarios: the product's defaults, but a transaction nobody can sign
#: is given up after 15 minutes, not 2 hours, so that the drain after a permanent fault stays short.
QUICK_SAAS = SaasSettings(
    authorization_timeout=15 * 60.0,
    signing_timeout=15 * 60.0,
    callback_retry_attempts=3,
    callback_retry_interval=60.0,
)


#: The default `[expect]`: the three safety checks only.
NO_EXPECTATIONS = Expect()


def build_scenario(
    topology: Topology,
    *,
    name: str = "generated",
    seed: int = 0,
    duration: float = 600.0,
    saas: SaasSettings = QUICK_SAAS,
    policy: object = None,
    workloads: Sequence[object] = (),
    faults: Sequence[Fault] = (),
    expect: Expect = NO_EXPECTATIONS,
    description: str = "",
    origin: str = "<generated>",
) -> Scenario:
    """Assemble a scenario from its parts and pass it through the loader (raises `ScenarioError`)."""
    model = Scenario(
        scenario=ScenarioInfo(name=name, seed=seed, duration=duration, description=description),
        workspace=topology.workspace,
        nodes=topology.nodes,
        saas=saas,
        users=topology.users,
        api_users=topology.api_users,
        groups=topology.groups,
        callbacks=topology.callbacks,
        policy=policy,  # type: ignore[arg-type]
        workloads=tuple(workloads),  # type: ignore[arg-type]
        faults=tuple(faults),
        expect=expect,
    )
    return checked(model, origin)


def checked(scenario: Scenario, origin: str = "<generated>") -> Scenario:
    """The scenario as its file loads: refused with `ScenarioError` if the file would be."""
    return scenario_from_dict(scenario_to_dict(scenario), origin)


def scenarios(
    *,
    topology: st.SearchStrategy[Topology] | None = None,
    min_nodes: int = 1,
    max_nodes: int = 3,
    min_duration: int = 5 * 60,
    max_duration: int = 30 * 60,
    policy: bool = True,
    min_workloads: int = 1,
    max_workloads: int = 2,
    max_count: int = 5,
    max_rate_per_hour: int = 60,
    max_faults: int = 2,
    fault_actions: Sequence[FaultAction] = FAILURE_ACTIONS,
    expect: st.SearchStrategy[Expect] | None = None,
    saas: SaasSettings = QUICK_SAAS,
) -> st.SearchStrategy[Scenario]:
    """Valid scenarios, shrinking toward one node, the catch-all policy, one transaction, no fault.

    `topology` defaults to `topologies(min_nodes=..., max_nodes=...)`; durations are whole minutes in [`min_duration`,
    `max_duration`] seconds; `policy=False` leaves the default policy (every served API user signs);
    `max_faults=0` draws none; `expect` draws the `[expect]` (default: the safety checks). The seed is drawn too (shrinking toward 0).
    """
    if not 60 <= min_duration <= max_duration:
        raise ValueError(f"need 60 <= min_duration <= max_duration, got {min_duration}, {max_duration}")
    topology_strategy = (
        topology if topology is not None else topologies(min_nodes=min_nodes, max_nodes=max_nodes)
    )

    @st.composite
    def draw_scenario(draw: st.DrawFn) -> Scenario:
        top = draw(topology_strategy)
        duration = float(draw(st.integers(min_duration // 60, max_duration // 60)) * 60)
        case = draw(policies(top)) if policy else None
        load = draw(
            workloads(
                top,
                duration,
                min_workloads=min_workloads,
                max_workloads=max_workloads,
                max_count=max_count,
                max_rate_per_hour=max_rate_per_hour,
            )
        )
        faults: tuple[Fault, ...] = ()
        if max_faults:
            faults = draw(
                fault_schedules(top, duration=duration, max_faults=max_faults, actions=fault_actions)
            )
        return build_scenario(
            top,
            seed=draw(st.integers(0, 2**32 - 1)),
            duration=duration,
            saas=saas,
            policy=None if case is None else case.policy,
            workloads=load,
            faults=faults,
            expect=NO_EXPECTATIONS if expect is None else draw(expect),
        )

    return draw_scenario()


def with_faults(
    base: Scenario,
    *,
    max_faults: int = 3,
    actions: Sequence[FaultAction] = FAILURE_ACTIONS,
    grain: float = 1.0,
    max_outage: float | None = None,
) -> st.SearchStrategy[Scenario]:
    """`base` with a drawn fault schedule added to its own faults (merged in time order).

    Topology, policy and workloads stay as they are: what `cosigner-ha explore` searches.
    """
    return fault_schedules(
        base, max_faults=max_faults, actions=actions, grain=grain, max_outage=max_outage
    ).map(lambda extra: add_faults(base, extra))


def add_faults(base: Scenario, extra: Sequence[Fault]) -> Scenario:
    """`base` with `extra` faults merged into its timeline by time (the base's first at equal times)."""
    import dataclasses

    merged = sorted(list(base.faults) + list(extra), key=lambda f: f.at)
    return checked(dataclasses.replace(base, faults=tuple(merged)), base.origin)
