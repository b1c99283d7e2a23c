"""The stateful test: a live cluster driven rule by rule; the invariants after every step.

Budget: about 20 examples of up to 25 steps (some 15 s on one core), which keeps `make test` within time.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from cosigner_ha.testing.stateful import ClusterMachine

CI = settings(
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestClusterMachine = ClusterMachine.TestCase
TestClusterMachine.settings = CI


class _FragileMachine(ClusterMachine):
    """A deliberately false claim ('every transaction completes'), to show that the rules reach the states
    where it breaks (a REJECT from the callback handler, a BLOCK rule, a signer down past the timeout)
    and that Hypothesis reports it."""

    def teardown(self) -> None:
        cluster = self.cluster
        super().teardown()
        if cluster is not None and cluster._result is not None:
            statuses = set(cluster._result.report.by_status)
            assert statuses <= {"COMPLETED"}, f"a transaction ended {sorted(statuses - {'COMPLETED'})}"


def test_the_machine_finds_states_that_break_a_false_claim() -> None:
    with pytest.raises(AssertionError, match="a transaction ended"):
        run_state_machine_as_test(
            _FragileMachine,
            settings=settings(
                max_examples=40,
                stateful_step_count=25,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.generate],  # finding it is the point; shrinking a machine costs minutes
                suppress_health_check=list(HealthCheck),
            ),
        )
