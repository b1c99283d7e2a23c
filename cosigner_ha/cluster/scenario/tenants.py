"""One workspace of a several-workspaces scenario as a scenario of its own, for what reasons about one
workspace at a time (`analyze`: its policy, its rules' signers, its load)."""

from __future__ import annotations

import dataclasses

from cosigner_ha.cluster.scenario.model import Expect, FaultAction, Scenario


def tenant_scenario(scenario: Scenario, workspace: str) -> Scenario:
    """The scenario as seen from `workspace`: its users, API users, groups, policy and workloads; every
    node with only this workspace's API users; the faults that concern it (a pair/unpair of its API
    users, a policy published in it, every fault on nodes, sites, links and handlers); the outcomes of its
    workloads. A single-workspace scenario is returned as it is."""
    if not scenario.workspaces:
        return scenario
    tenant = next((t for t in scenario.tenants() if t.workspace.name == workspace), None)
    if tenant is None:
        raise KeyError(f"no workspace named {workspace!r} in {scenario.origin}")
    mine = {u.name for u in tenant.api_users}
    workloads = {w.name for w in tenant.workloads}
    faults = tuple(
        dataclasses.replace(f, workspace=None)
        for f in scenario.faults
        if (f.action not in (FaultAction.PAIR, FaultAction.UNPAIR) or f.api_user in mine)
        and (f.action is not FaultAction.POLICY or f.workspace == workspace)
    )
    expect: Expect = dataclasses.replace(
        scenario.expect,
        outcomes=tuple(o for o in scenario.expect.outcomes if o.workload is None or o.workload in workloads),
    )
    return dataclasses.replace(
        scenario,
        workspace=tenant.workspace,
        users=tenant.users,
        api_users=tenant.api_users,
        groups=tenant.groups,
        policy=tenant.policy,
        workloads=tenant.workloads,
        nodes=tuple(
            dataclasses.replace(n, api_users=tuple(u for u in n.api_users if u in mine))
            for n in scenario.nodes
        ),
        faults=faults,
        expect=expect,
        workspaces=(),
    )
