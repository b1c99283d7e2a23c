"""A scenario the loader accepts but the simulated world refuses: the run stops before it starts, with the
error itself (not wrapped in the task group's exception group), so the command can exit 2 and say why."""

from __future__ import annotations

from typing import Any

import pytest

from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import scenario_from_dict
from cosigner_ha.cluster.world import WorldError
from cosigner_ha.policy import PolicyError
from tests.cluster.runs import scenario_dict

MIXED = {"action": "ALLOW", "designated_signers": {"users": ["tywin", "sa"]}}


def refused(data: dict[str, Any], error: type[Exception]) -> str:
    with pytest.raises(error) as caught:
        run_scenario(scenario_from_dict(data, "small.toml"))
    return str(caught.value)


def test_an_unpublishable_policy_is_refused_before_the_run() -> None:
    message = refused(scenario_dict(policy={"rules": [MIXED]}), PolicyError)
    assert message.startswith("small.toml [policy], rule 0, field 'designated_signers'")
    assert "mix API users (sa) and console users (tywin)" in message


def test_a_policy_fault_the_saas_would_refuse_is_refused_before_the_run() -> None:
    data = scenario_dict(
        [
            {
                "at": "5m",
                "action": "policy",
                "rules": [{"action": "ALLOW", "designated_signers": {"users": ["tywin", "sa"]}}],
            }
        ]
    )
    with pytest.raises(PolicyError) as caught:
        run_scenario(scenario_from_dict(data, "small.toml"))
    message = str(caught.value)
    assert message.startswith("small.toml faults[0], rule 0, field 'designated_signers'")
    assert "mix API users (sa) and console users (tywin)" in message


def test_a_callback_that_cannot_be_imported_is_refused_before_the_run() -> None:
    data = scenario_dict(callback={"python": "no_such_module:decide"})
    message = refused(data, WorldError)
    assert message.startswith("callback cb: cannot import 'no_such_module:decide'")


def test_a_callback_fault_on_user_code_is_refused_before_the_run() -> None:
    data = scenario_dict(
        [{"at": "1m", "action": "callback", "callback": "cb", "mode": "timeout"}],
        callback={"python": "tests.cluster.test_runner_errors:approve"},
    )
    message = refused(data, WorldError)
    assert message == (
        "small.toml: faults[0].callback: 'cb' is a python handler; "
        "a callback fault acts on a scripted handler (latency, action, ...) only"
    )


def approve(request: dict[str, Any]) -> dict[str, Any]:
    return {"action": "APPROVE", "requestId": request["requestId"]}


def test_a_python_handler_without_faults_runs() -> None:
    data = scenario_dict(callback={"python": "tests.cluster.test_runner_errors:approve"})
    data["scenario"]["duration"] = "3m"
    result = run_scenario(scenario_from_dict(data))
    assert result.report.passed and result.report.by_status == {"COMPLETED": result.report.transactions_total}
