"""Hypothesis strategies for cosigner-ha: topologies, identities, policies, workloads, faults, scenarios.

    from hypothesis import given
    from cosigner_ha.testing import strategies as cst

    @given(cst.scenarios(max_nodes=2, max_faults=1))
    def test_no_double_sign(scenario):
        result = simulate(scenario)
        assert_invariants(result)

The pieces compose: draw a `Topology` with `topologies()`, then `policies(topology)`,
`workloads(topology, duration)` and `fault_schedules(topology, duration=...)` against it, and put them
together with `build_scenario`; or let `scenarios()` do all of it. `with_faults(scenario)` keeps a
scenario's topology, policy and workloads and draws extra faults, as `cosigner-ha explore` does.
Each strategy's docstring says what it shrinks toward.
"""

from cosigner_ha.testing.strategies.faults import FAILURE_ACTIONS, fault_schedules, site_prefixes
from cosigner_ha.testing.strategies.policies import DEFECTS, Defect, PolicyCase, policies
from cosigner_ha.testing.strategies.scenarios import (
    QUICK_SAAS,
    add_faults,
    build_scenario,
    checked,
    scenarios,
    with_faults,
)
from cosigner_ha.testing.strategies.topology import (
    COSIGNERS,
    ENCLAVES,
    INITIATOR,
    OWNER,
    SITES,
    Identities,
    Topology,
    api_users_and_groups,
    scripted_callbacks,
    sites,
    topologies,
    topology_of,
    workspaces,
)
from cosigner_ha.testing.strategies.workloads import workloads

__all__ = [
    "COSIGNERS",
    "DEFECTS",
    "ENCLAVES",
    "FAILURE_ACTIONS",
    "INITIATOR",
    "OWNER",
    "QUICK_SAAS",
    "SITES",
    "Defect",
    "Identities",
    "PolicyCase",
    "Topology",
    "add_faults",
    "api_users_and_groups",
    "build_scenario",
    "checked",
    "fault_schedules",
    "policies",
    "scenarios",
    "scripted_callbacks",
    "site_prefixes",
    "sites",
    "topologies",
    "topology_of",
    "with_faults",
    "workloads",
    "workspaces",
]
