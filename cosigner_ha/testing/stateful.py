"""A Hypothesis state machine that drives one live simulated cluster step by step.

Each example draws a small cluster (`strategies.scenarios` without workloads or faults), boots it as a
`LiveCluster` (setup and pairing), then applies rules: submit a transaction, crash and restart a node,
partition and heal it, change how the callback handler behaves, publish a new policy, let time pass.
After every step the safety checks (`invariants.SAFETY`) must hold on the trace so far; at the end the
machine heals every fault, drains, and the liveness checks must hold too: with a designated co-signer
up and reachable, every transaction reaches a terminal state within the SaaS's timeouts.

    from cosigner_ha.testing.stateful import ClusterMachine
    TestCluster = ClusterMachine.TestCase
    TestCluster.settings = settings(max_examples=10, stateful_step_count=20, deadline=None)

Subclass to narrow or widen what is drawn (`scenarios`, `amounts`, `max_advance`) or to add rules.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cosigner_ha.cluster.live import LiveCluster
from cosigner_ha.cluster.scenario import CallbackFaultMode, Fault, FaultAction, Scenario
from cosigner_ha.testing.invariants import SAFETY, assert_invariants, liveness
from cosigner_ha.testing.strategies import policies, scenarios, topologies, topology_of
from cosigner_ha.testing.strategies.faults import CALLBACK_MODES


class ClusterMachine(RuleBasedStateMachine):
    """Rules on a live cluster; the invariants of DESIGN.md section 6 after every step."""

    #: The clusters the machine starts from: up to three nodes, a policy, no workload or fault.
    scenarios: ClassVar[st.SearchStrategy[Scenario]] = scenarios(
        topology=topologies(max_nodes=3),
        min_duration=3600,
        max_duration=3600,
        min_workloads=0,
        max_workloads=0,
        max_faults=0,
    )
    #: Native amounts of submitted transactions: small ones, and some that reach BLOCK and 2-TIER rules.
    amounts: ClassVar[st.SearchStrategy[float]] = st.sampled_from([0.5, 0.01, 3.0, 40.0, 400.0])
    #: The longest single `advance` step, in simulated seconds.
    max_advance: ClassVar[int] = 900

    def __init__(self) -> None:
        super().__init__()
        self.cluster: LiveCluster | None = None
        self.scenario: Scenario | None = None
        self.crashed: dict[str, int] = {}  # node -> the index of the crash fault
        self.partitioned: dict[str, int] = {}  # node -> the index of the partition fault
        self.callback_fault: int | None = None
        self.submitted = 0

    # -- set-up ------------------------------------------------------------------------------------------

    @initialize(data=st.data())
    def boot(self, data: st.DataObject) -> None:
        self.scenario = data.draw(self.scenarios, label="scenario")
        self.cluster = LiveCluster(self.scenario)

    @property
    def live(self) -> LiveCluster:
        assert self.cluster is not None, "boot runs first"
        return self.cluster

    @property
    def model(self) -> Scenario:
        assert self.scenario is not None, "boot runs first"
        return self.scenario

    def _nodes(self) -> list[str]:
        return [n.name for n in self.model.nodes]

    def _callbacks(self) -> list[str]:
        used = {u.callback for u in self.model.api_users if u.callback is not None}
        return [c.name for c in self.model.callbacks if c.name in used]

    # -- rules ---------------------------------------------------------------------------------------------

    @rule(data=st.data())
    def submit(self, data: st.DataObject) -> None:
        workspace = self.model.workspace
        self.live.submit(
            initiator=topology_of(self.model).initiators[0],
            asset=data.draw(st.sampled_from(list(workspace.prices_usd)), label="asset"),
            amount=data.draw(self.amounts, label="amount"),
            source=f"vault:{data.draw(st.sampled_from(workspace.vaults), label='vault')}",
            destination=f"wallet:{data.draw(st.sampled_from(workspace.wallets), label='wallet')}",
        )
        self.submitted += 1

    @precondition(lambda self: self.cluster is not None and len(self.crashed) < len(self.model.nodes))
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from([n for n in self._nodes() if n not in self.crashed]), label="node")
        self.crashed[node] = self.live.inject(Fault(0.0, FaultAction.CRASH, node=node))
        assert self.live.node_state(node) != "running", f"{node} still runs after a crash"

    @precondition(lambda self: bool(self.crashed))
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(sorted(self.crashed)), label="node")
        self.live.end_fault(self.crashed.pop(node))

    @precondition(lambda self: self.cluster is not None and len(self.partitioned) < len(self.model.nodes))
    @rule(data=st.data())
    def partition(self, data: st.DataObject) -> None:
        node = data.draw(
            st.sampled_from([n for n in self._nodes() if n not in self.partitioned]), label="node"
        )
        self.partitioned[node] = self.live.inject(Fault(0.0, FaultAction.PARTITION, node=node))

    @precondition(lambda self: bool(self.partitioned))
    @rule(data=st.data())
    def heal(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(sorted(self.partitioned)), label="node")
        self.live.end_fault(self.partitioned.pop(node))

    @precondition(lambda self: self.cluster is not None and bool(self._callbacks()))
    @rule(data=st.data(), mode=st.one_of(st.none(), st.sampled_from(CALLBACK_MODES)))
    def callback_behaviour(self, data: st.DataObject, mode: CallbackFaultMode | None) -> None:
        """The handler goes back to its scripted answers (None), or times out, is down, RETRYs, REJECTs."""
        if self.callback_fault is not None:
            self.live.end_fault(self.callback_fault)
            self.callback_fault = None
        if mode is not None:
            name = data.draw(st.sampled_from(self._callbacks()), label="callback")
            self.callback_fault = self.live.inject(Fault(0.0, FaultAction.CALLBACK, callback=name, mode=mode))

    @rule(data=st.data())
    def publish_policy(self, data: st.DataObject) -> None:
        case = data.draw(policies(topology_of(self.model)), label="policy")
        self.live.inject(Fault(0.0, FaultAction.POLICY, policy=case.policy))

    @rule(seconds=st.integers(1, 900))
    def advance(self, seconds: int) -> None:
        self.live.advance(min(seconds, self.max_advance))

    # -- what must hold ------------------------------------------------------------------------------------

    @invariant()
    def safe(self) -> None:
        if self.cluster is not None:
            assert_invariants(self.cluster.events, SAFETY)

    def teardown(self) -> None:
        cluster = self.cluster
        if cluster is None:
            return
        try:
            for index in [*self.crashed.values(), *self.partitioned.values()]:
                cluster.end_fault(index)
            if self.callback_fault is not None:
                cluster.end_fault(self.callback_fault)
            self.crashed.clear()
            self.partitioned.clear()
            result = cluster.finish()
            assert_invariants(result, {**SAFETY, **liveness(self.model.saas)})
        finally:
            cluster.close()


def run_machine(**settings_kwargs: Any) -> None:
    """Run the machine once with Hypothesis settings (for scripts; tests use `ClusterMachine.TestCase`)."""
    from hypothesis import settings
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(ClusterMachine, settings=settings(**settings_kwargs))
