"""`[[expect.outcome]]`: how transactions end, by status, per workload; read from the file, judged from the
trace."""

from __future__ import annotations

from typing import Any

import pytest

from cosigner_ha.cluster.analysis import workload_of
from cosigner_ha.cluster.scenario import (
    SUB_STATUSES,
    ExpectOutcome,
    ScenarioError,
    TxStatus,
    load_scenario_text,
    scenario_from_dict,
    to_toml,
)
from cosigner_ha.saas_sim.transactions import SubStatus
from tests.cluster.runs import run, scenario_dict

GROUP_ON_EVERYTHING = {
    "rules": [{"action": "ALLOW", "designated_signers": {"groups": ["signers"]}}],
}
WORKLOADS = [
    {
        "name": "from-vault",
        "rate": "2/min",
        "initiator": "ops",
        "asset": "ETH",
        "amount": {"min": 1},
        "source": "vault:hot",
        "destination": "wallet:out",
    },
    {
        "name": "from-exchange",
        "at": "3m",
        "count": 3,
        "initiator": "ops",
        "asset": "ETH",
        "amount": {"min": 1},
        "source": "exchange:exch",
        "destination": "wallet:out",
    },
]


def scenario(*outcomes: dict[str, Any]) -> dict[str, Any]:
    return scenario_dict(
        groups=[{"name": "signers", "members": ["sa", "sb"]}],
        policy=GROUP_ON_EVERYTHING,
        workload=WORKLOADS,
        expect={"outcome": list(outcomes)},
        scenario={"duration": "10m"},
    )


def refused(*outcomes: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(scenario(*outcomes), "s.toml")
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0].path, caught.value.problems[0].message


# -- the file -------------------------------------------------------------------------------------------


def test_outcomes_load_and_write_back() -> None:
    loaded = scenario_from_dict(
        scenario(
            {"workload": "from-exchange", "status": "FAILED", "sub_status": "SIGNER_NOT_FOUND"},
            {"status": "COMPLETED", "count": 0},
        )
    )
    assert loaded.expect.outcomes == (
        ExpectOutcome(TxStatus.FAILED, "from-exchange", "SIGNER_NOT_FOUND"),
        ExpectOutcome(TxStatus.COMPLETED, None, None, 0),
    )
    assert "outcome = [" in to_toml(loaded)
    assert load_scenario_text(to_toml(loaded)) == loaded


@pytest.mark.parametrize(
    "outcome, path, message",
    [
        (
            {"workload": "from-exchnge", "status": "FAILED"},
            "expect.outcome[0].workload",
            "expected one of the workload names: from-vault, from-exchange; got 'from-exchnge' "
            "(did you mean 'from-exchange'?)",
        ),
        (
            {"status": "DONE"},
            "expect.outcome[0].status",
            "expected one of COMPLETED, REJECTED, BLOCKED, FAILED, CANCELLED; got 'DONE'",
        ),
        ({"workload": "from-vault"}, "expect.outcome[0].status", "required"),
        (
            {"status": "FAILED", "sub_status": "SIGNER_NOT_FUND"},
            "expect.outcome[0].sub_status",
            "(did you mean 'SIGNER_NOT_FOUND'?)",
        ),
        ({"status": "FAILED", "count": -1}, "expect.outcome[0].count", "at least 0"),
        ({"status": "FAILED", "ratio": 1}, "expect.outcome[0].ratio", "unknown key 'ratio'"),
    ],
)
def test_a_bad_outcome_is_refused_with_its_key_path(outcome: dict[str, Any], path: str, message: str) -> None:
    got_path, got_message = refused(outcome)
    assert got_path == path
    assert message in got_message, got_message


def test_the_sub_statuses_are_the_saas_ones() -> None:
    assert set(SUB_STATUSES) == {s.value for s in SubStatus}


@pytest.mark.parametrize(
    "external_id, workload",
    [
        ("w-1", "w"),
        ("from-vault-12", "from-vault"),
        ("a-2-3", "a-2"),
        ("w", None),
        ("w-x", None),
        (None, None),
    ],
)
def test_a_transaction_belongs_to_the_workload_named_in_its_external_id(
    external_id: str | None, workload: str | None
) -> None:
    assert workload_of(external_id) == workload


# -- the judgement --------------------------------------------------------------------------------------


def test_outcomes_are_judged_per_workload_from_the_trace() -> None:
    r = run(
        scenario(
            {"workload": "from-exchange", "status": "FAILED", "sub_status": "SIGNER_NOT_FOUND"},
            {"workload": "from-exchange", "status": "FAILED", "count": 3},
            {"workload": "from-vault", "status": "COMPLETED"},
            {"status": "FAILED", "count": 3},
            {"workload": "from-exchange", "status": "COMPLETED"},
            {"workload": "from-exchange", "status": "FAILED", "count": 2},
            {"status": "COMPLETED"},
        )
    )
    checks = {
        label: (c.ok, c.detail) for label, c in r.report.expectations.items() if label.startswith("outcome")
    }
    vault = r.report.by_status["COMPLETED"]
    assert checks == {
        "outcome[0] from-exchange: FAILED/SIGNER_NOT_FOUND": (
            True,
            "all 3 transaction(s) of workload from-exchange ended FAILED/SIGNER_NOT_FOUND",
        ),
        "outcome[1] from-exchange: FAILED": (
            True,
            "3 of the 3 transaction(s) of workload from-exchange ended FAILED (expected exactly 3)",
        ),
        "outcome[2] from-vault: COMPLETED": (
            True,
            f"all {vault} transaction(s) of workload from-vault ended COMPLETED",
        ),
        "outcome[3] all: FAILED": (
            True,
            f"3 of the {vault + 3} transaction(s) of the run ended FAILED (expected exactly 3); "
            f"the others: {vault} COMPLETED",
        ),
        "outcome[4] from-exchange: COMPLETED": (
            False,
            "0 of the 3 transaction(s) of workload from-exchange ended COMPLETED (expected all); "
            "the others: 3 FAILED/SIGNER_NOT_FOUND",
        ),
        "outcome[5] from-exchange: FAILED": (
            False,
            "3 of the 3 transaction(s) of workload from-exchange ended FAILED (expected exactly 2)",
        ),
        "outcome[6] all: COMPLETED": (
            False,
            f"{vault} of the {vault + 3} transaction(s) of the run ended COMPLETED (expected all); "
            "the others: 3 FAILED/SIGNER_NOT_FOUND",
        ),
    }
    assert not r.report.passed


def test_an_outcome_of_a_workload_that_submitted_nothing_fails() -> None:
    data = scenario({"workload": "from-exchange", "status": "FAILED"})
    rare = {key: value for key, value in data["workload"][1].items() if key not in ("at", "count")}
    data["workload"][1] = {**rare, "rate": "1/d", "start": "9m"}
    r = run(data)
    assert not r.of("submitted", external_id="from-exchange-1")
    check = r.report.expectations["outcome[0] from-exchange: FAILED"]
    assert not check.ok
    assert check.detail == "workload from-exchange submitted no transaction (expected all to end FAILED)"
