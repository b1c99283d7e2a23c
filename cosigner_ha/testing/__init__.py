"""Property-based testing for cosigner-ha: strategies, invariants, a pytest plugin, the explorer.

    from cosigner_ha.testing import simulate, assert_invariants, assert_passed, strategies

`simulate(scenario | dict | path, seed=None)` runs a scenario in simulation (and, inside a pytest test,
remembers the run so that a failure prints its seed and writes the scenario that replays it);
`invariants` holds the guarantees of DESIGN.md section 6 as functions over a trace; `strategies` the
Hypothesis strategies; `stateful.ClusterMachine` the rule-based state machine over a live cluster;
`explorer.explore` the search behind `cosigner-ha explore`. docs/testing.md is the guide.
"""

from cosigner_ha.testing.invariants import (
    LIVENESS,
    SAFETY,
    InvariantViolation,
    assert_invariants,
    assert_passed,
    check_invariants,
    liveness,
    read_trace,
)
from cosigner_ha.testing.simulation import Run, RunLog, as_scenario, simulate

__all__ = [
    "LIVENESS",
    "SAFETY",
    "InvariantViolation",
    "Run",
    "RunLog",
    "as_scenario",
    "assert_invariants",
    "assert_passed",
    "check_invariants",
    "liveness",
    "read_trace",
    "simulate",
]
