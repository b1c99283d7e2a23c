"""Pairing faults with an old token (`token_age`): how the file says it, and what the run does with it."""

from __future__ import annotations

from typing import Any

import pytest

from cosigner_ha.cluster.scenario import (
    FaultAction,
    ScenarioError,
    load_scenario_text,
    scenario_from_dict,
    to_toml,
)
from tests.cluster.runs import MINUTE, run, scenario_dict

UNPAIR = {"at": "2m", "action": "unpair", "node": "a", "api_user": "sa"}
SHORT_TOKENS = {"pairing_token_validity": "5m"}


def repair(token_age: str | None = None, at: str = "4m", **fault: Any) -> dict[str, Any]:
    pair = {"at": at, "action": "pair", "node": "a", "api_user": "sa", **fault}
    if token_age is not None:
        pair["token_age"] = token_age
    return pair


def refusal(data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data, "s.toml")
    assert len(caught.value.problems) == 1, caught.value.problems
    problem = caught.value.problems[0]
    return problem.path, problem.message


# -- the file -------------------------------------------------------------------------------------------


def test_token_age_loads_and_writes_back() -> None:
    scenario = scenario_from_dict(scenario_dict([UNPAIR, repair("6m")], saas=SHORT_TOKENS))
    pair = scenario.faults[1]
    assert (pair.action, pair.token_age, pair.at, pair.effective_at) == (
        FaultAction.PAIR,
        360.0,
        240.0,
        600.0,
    )
    assert 'token_age = "6m"' in to_toml(scenario)
    assert load_scenario_text(to_toml(scenario)) == scenario


def test_token_age_belongs_to_pair_only() -> None:
    path, message = refusal(scenario_dict([{"at": "2m", "action": "crash", "node": "a", "token_age": "1m"}]))
    assert path == "faults[0].token_age"
    assert message.startswith("'token_age' does not apply to a crash fault (it belongs to pair)")


def test_token_age_is_a_positive_duration() -> None:
    path, message = refusal(scenario_dict([UNPAIR, repair("0s")]))
    assert (path, message) == (
        "faults[1].token_age",
        "expected a duration longer than zero, got the string '0s'",
    )


def test_token_age_on_a_gcp_node_is_refused() -> None:
    data = scenario_dict(
        [{"at": "2m", "action": "pair", "node": "g", "api_user": "sc", "token_age": "1m"}],
        nodes=[*scenario_dict()["nodes"], {"name": "g", "enclave": "gcp", "site": "gcp/eu/b"}],
        api_users=[*scenario_dict()["api_users"], {"name": "sc", "role": "SIGNER"}],
    )
    path, message = refusal(data)
    assert path == "faults[0].token_age"
    assert "node g is a gcp co-signer, paired through the SaaS" in message


def test_a_token_used_after_the_end_is_refused() -> None:
    path, message = refusal(scenario_dict([UNPAIR, repair("16m")]))
    assert path == "faults[1].token_age"
    assert "used at 20m, at or after the end of the run (scenario.duration = 20m)" in message


def test_a_pair_with_an_expired_token_leaves_the_api_user_unpaired_for_the_next_pair() -> None:
    scenario = scenario_from_dict(scenario_dict([UNPAIR, repair("6m"), repair(at="12m")], saas=SHORT_TOKENS))
    assert [f.action for f in scenario.faults] == [FaultAction.UNPAIR, FaultAction.PAIR, FaultAction.PAIR]


def test_a_pair_with_a_valid_old_token_pairs_so_a_second_pair_is_refused() -> None:
    path, message = refusal(scenario_dict([UNPAIR, repair("4m"), repair(at="12m")], saas=SHORT_TOKENS))
    assert path == "faults[2].api_user"
    assert message.startswith("API user 'sa' is paired with node a at 12m")


def test_pairs_are_ordered_by_when_the_token_is_used() -> None:
    # issued at 4m, used at 18m; the unpair at 10m happens first, so it is the one refused
    path, message = refusal(
        scenario_dict(
            [
                UNPAIR,
                repair("14m", at="4m"),
                {"at": "10m", "action": "unpair", "node": "a", "api_user": "sa"},
            ],
            saas={"pairing_token_validity": "1h"},
        )
    )
    assert path == "faults[2].api_user"
    assert message == "API user 'sa' is not paired at 10m; expected an API user node a serves then"


# -- the run --------------------------------------------------------------------------------------------


def test_an_expired_pairing_token_is_refused_and_a_fresh_one_pairs() -> None:
    r = run(scenario_dict([UNPAIR, repair("6m"), repair(at="12m")], saas=SHORT_TOKENS))
    issued = [r.at(e) for e in r.of("pairing_token_issued") if e.fields["api_user"] == "sa"]
    assert issued == [4 * MINUTE, 12 * MINUTE]
    errors = r.of("fault_error")
    assert len(errors) == 1 and r.at(errors[0]) == 10 * MINUTE, "used six minutes after it was issued"
    error = errors[0].fields
    assert (error["index"], error["action"], error["api_user"], error["code"]) == (
        1,
        "pair",
        "sa",
        "TOKEN_EXPIRED",
    )
    assert "the pairing token expired" in error["reason"] and "60 s ago" in error["reason"]
    paired = r.of("paired", node="a")
    assert len(paired) == 1 and r.at(paired[0]) >= 13 * MINUTE, (
        "the second pairing, after the owner's approval"
    )
    assert r.signed("a", 3 * MINUTE, r.at(paired[0])) == 0
    assert r.signed("a", r.at(paired[0])) > 0
    assert r.report.passed and set(r.statuses()) == {"COMPLETED"}


def test_a_node_whose_clock_is_behind_sends_the_expired_token_and_the_saas_refuses_it() -> None:
    r = run(
        scenario_dict(
            [
                {"at": "0s", "action": "clock-skew", "node": "a", "skew": "-1h"},
                UNPAIR,
                repair("6m"),
            ],
            saas=SHORT_TOKENS,
        )
    )
    error = r.of("fault_error")[0].fields
    assert error["code"] == "TOKEN_EXPIRED"
    assert error["reason"].startswith("the SaaS refused the pairing: TOKEN_EXPIRED")
    assert "SaaS clock" in error["reason"]
    assert not r.of("paired", node="a")
    assert r.report.passed
