"""The SaaS's cloud co-signers take time and have a capacity (`[saas] cloud_signing_sessions` and
`cloud_signing_round_time`): read, defaulted, written back, and felt in a run's latency."""

from __future__ import annotations

from typing import Any

import pytest

from cosigner_ha.cluster.scenario import ScenarioError, load_scenario_text, scenario_from_dict, to_toml
from cosigner_ha.cluster.world import saas_config
from cosigner_ha.env.compute import SigningCapacity
from cosigner_ha.saas_sim.config import CLOUD_SIGNING
from tests.cluster.runs import run, scenario_dict


def with_saas(**saas: Any) -> dict[str, Any]:
    # the nodes compute instantly, so what latency grows is the cloud co-signers' doing
    data = scenario_dict(saas=saas)
    for node in data["nodes"]:
        node["signing_round_time"] = "0s"
    return data


def test_without_the_keys_the_cloud_co_signers_get_the_documented_default() -> None:
    scenario = scenario_from_dict(scenario_dict())
    assert scenario.saas.cloud_signing_sessions is None and scenario.saas.cloud_signing_round_time is None
    assert saas_config(scenario).cloud_signing == CLOUD_SIGNING == SigningCapacity(64, 0.020)
    assert "cloud_signing" not in to_toml(scenario)  # older files keep their content hash


def test_the_keys_are_read_and_written_back() -> None:
    scenario = scenario_from_dict(with_saas(cloud_signing_sessions=2, cloud_signing_round_time="250ms"))
    assert saas_config(scenario).cloud_signing == SigningCapacity(2, 0.25)
    assert load_scenario_text(to_toml(scenario)) == scenario


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("cloud_signing_sessions", 0, "an integer from 1 to 10000"),
        ("cloud_signing_sessions", "8", "an integer"),
        ("cloud_signing_round_time", "fast", "a duration"),
    ],
)
def test_bad_values_are_refused_naming_the_key(key: str, value: Any, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(with_saas(**{key: value}), "case.toml")
    text = str(info.value)
    assert f"saas.{key}" in text and expected in text


def test_a_saturated_cloud_co_signer_pool_makes_every_signature_wait() -> None:
    """One cloud round at a time, at 2 s a round: at most 15 signatures a minute whichever node signs; 3 a
    minute offered costs the two rounds, 20 a minute for 3 minutes queues (the last waits about a minute)."""
    fast = run(with_saas(cloud_signing_round_time="0s")).report
    idle = run(with_saas(cloud_signing_sessions=1, cloud_signing_round_time="2s")).report
    busy_data = with_saas(cloud_signing_sessions=1, cloud_signing_round_time="2s")
    busy_data["scenario"]["duration"] = "3m"
    busy_data["workload"][0]["rate"] = "20/min"
    busy = run(busy_data).report
    assert fast.latency.p50 is not None and idle.latency.p50 is not None and busy.latency.p99 is not None
    assert idle.latency.p50 >= fast.latency.p50 + 4.0  # two rounds of 2 s each
    assert idle.latency.p50 < fast.latency.p50 + 8.0
    assert busy.latency.p99 > 30.0, "offered more than the cloud co-signers sign: the queue grows"
    assert busy.by_status.get("COMPLETED") == busy.transactions_total
