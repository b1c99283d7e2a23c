"""`analyze` and signing capacity: a rule offered more than its active co-signers can sign is reported."""

from __future__ import annotations

import json

import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.analyze import analyze
from cosigner_ha.cluster.scenario import load_scenario_text
from tests.cluster.test_analyze import GROUP_RULE, NITRO_A, NITRO_B, SGX_STANDBY, analysis_of, scenario_text

SLOW = 'signing_sessions = 1\nsigning_round_time = "1s"\n'  # 30 tx/min per node


def workload(rate: str, amount: str = "{ min = 0.1, max = 1 }", name: str = "w") -> str:
    return f"""
[[workload]]
name = "{name}"
rate = "{rate}"
initiator = "ops"
asset = "ETH"
amount = {amount}
source = "vault:hot"
destination = "wallet:cold"
"""


def slow(node: str) -> str:
    return node + SLOW


def test_two_nodes_carry_what_one_cannot() -> None:
    one = analysis_of(slow(NITRO_A), GROUP_RULE, workload("40/min"))
    two = analysis_of(slow(NITRO_A), slow(NITRO_B), GROUP_RULE, workload("40/min"))
    [load] = one.loads
    assert (load.rule, load.offered * 60, load.capacity * 60, load.ok) == (0, 40.0, 30.0, False)
    assert one.overloaded == (load,) and not one.ok
    assert two.ok and two.loads[0].capacity * 60 == pytest.approx(60.0)
    assert "offered 40/min by w" in load.detail() and "at most 30/min" in load.detail()


def test_a_standby_node_adds_no_capacity() -> None:
    analysis = analysis_of(slow(NITRO_A), slow(SGX_STANDBY), GROUP_RULE, workload("40/min"))
    assert analysis.loads[0].nodes == ("nitro-a",)
    assert not analysis.ok


def test_default_capacities_carry_ordinary_rates() -> None:
    analysis = analysis_of(NITRO_A, GROUP_RULE, workload("100/min"))
    assert analysis.ok and analysis.loads[0].capacity == pytest.approx(8 / 0.06)


def test_rates_add_up_over_workloads_and_rules_split_them() -> None:
    rules = """
[[policy.rules]]
action = "ALLOW"
amount = { min = 0, max = 1000, currency = "USD" }
designated_signers = { users = ["signer-a"] }

[[policy.rules]]
action = "ALLOW"
designated_signers = { users = ["signer-b"] }
"""
    small = workload("20/min", "{ min = 0.01, max = 0.1 }", name="small")
    large = workload("20/min", "{ min = 10, max = 20 }", name="large")
    both = workload("15/min", "{ min = 0.01, max = 20 }", name="both")  # straddles: counts toward each
    analysis = analysis_of(slow(NITRO_A), slow(NITRO_B), rules, small, large, both)
    offered = {load.rule: (load.offered * 60, load.workloads) for load in analysis.loads}
    assert offered == {
        0: (pytest.approx(35.0), ("small", "both")),
        1: (pytest.approx(35.0), ("large", "both")),
    }
    assert [load.rule for load in analysis.overloaded] == [0, 1]


def test_the_cli_reports_it_in_text_and_json_and_exits_1(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "over.toml"  # type: ignore[operator]
    path.write_text(scenario_text(slow(NITRO_A), GROUP_RULE, workload("40/min")), encoding="utf-8")
    assert main(["analyze", str(path)]) == 1
    out = capsys.readouterr().out
    assert "OVER CAPACITY" in out and "offered more than its co-signers can sign" in out
    assert main(["analyze", str(path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["overloaded_rules"] == [0]
    assert data["capacity"][0]["capacity_per_minute"] == pytest.approx(30.0)


def test_the_bundled_saturation_scenario_is_within_capacity() -> None:
    assert main(["analyze", "capacity-saturation"]) == 0


def two_workspaces(rate_a: str, rate_b: str) -> str:
    """Two workspaces, each with its signer on one shared slow Nitro co-signer (30 tx/min)."""

    def workspace(name: str, rate: str) -> str:
        return f"""
[[workspaces]]
name = "{name}"
prices_usd = {{ ETH = 3000 }}
vaults = ["hot"]
wallets = ["cold"]
[[workspaces.users]]
name = "{name}-owner"
role = "OWNER"
[[workspaces.api_users]]
name = "{name}-ops"
role = "EDITOR"
[[workspaces.api_users]]
name = "{name}-signer"
role = "SIGNER"
[[workspaces.policy.rules]]
action = "ALLOW"
designated_signers = {{ users = ["{name}-signer"] }}
[[workspaces.workload]]
name = "{name}-moves"
rate = "{rate}"
initiator = "{name}-ops"
asset = "ETH"
amount = {{ min = 0.1, max = 1 }}
source = "vault:hot"
destination = "wallet:cold"
"""

    return f"""[scenario]
name = "shared"
seed = 1
duration = "10m"
{workspace("alpha", rate_a)}{workspace("beta", rate_b)}
[[nodes]]
name = "nitro-shared"
enclave = "nitro"
site = "aws/us-east-1/a"
api_users = ["alpha-signer", "beta-signer"]
{SLOW}"""


def test_workspaces_that_each_fit_can_overload_a_shared_co_signer_together(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    over = load_scenario_text(two_workspaces("20/min", "20/min"), "shared.toml")
    analysis = analyze(over)
    assert all(part.ok for _, part in analysis.workspaces)  # alone, each fits in 30/min
    [shared] = analysis.shared
    assert (shared.node, shared.workspaces) == ("nitro-shared", ("alpha", "beta"))
    assert (shared.offered * 60, shared.capacity * 60) == (pytest.approx(40.0), pytest.approx(30.0))
    assert not shared.ok and not analysis.ok
    assert analyze(load_scenario_text(two_workspaces("10/min", "15/min"), "fits.toml")).ok

    path = tmp_path / "shared.toml"  # type: ignore[operator]
    path.write_text(two_workspaces("20/min", "20/min"), encoding="utf-8")
    assert main(["analyze", str(path)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "co-signer nitro-shared capacity: ✗ OVER CAPACITY" in out
    assert "PROBLEMS in co-signer nitro-shared (shared)" in out
    assert main(["analyze", str(path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["shared_capacity"][0]["ok"] is False
    assert data["shared_capacity"][0]["offered_per_minute"] == pytest.approx(40.0)
