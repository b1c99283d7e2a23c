"""Fireblocks artefacts as they are: a workspace naming its people by id, an export (v2) naming everything
by id, internal/contract/network accounts, zero-value contract calls, one EUR rate for every command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from cosigner_ha.cli import main
from cosigner_ha.cluster.analyze import analyze
from cosigner_ha.cluster.scenario import ScenarioError, load_scenario, load_scenario_text

OWNER_ID = "3f1c6a52-8d0e-4a4b-9a66-1f0e2b7c9d10"
OPS_ID = "9b2e7c41-3a5f-4e8d-b1c2-7d6e5f4a3b2c"
SIGNER_A_ID = "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f-api-key-longer-than-thirty"
SIGNER_B_ID = "5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b"
GROUP_ID = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"

WORKSPACE = f"""
[scenario]
name = "fireblocks-export"
seed = 11
duration = "20m"

[workspace]
name = "acme"
prices_usd = {{ ETH = 3000, USDC = 1 }}
eur_usd = 1.25
vaults = ["hot"]
wallets = ["partner-a"]
internal_wallets = ["cold-storage"]
contract_wallets = ["usdc-token"]
network_connections = ["desk-b"]

[[users]]
name = "owner"
role = "OWNER"
id = "{OWNER_ID}"

[[api_users]]
name = "ops"
role = "EDITOR"
id = "{OPS_ID}"
[[api_users]]
name = "signer-a"
role = "SIGNER"
id = "{SIGNER_A_ID}"
[[api_users]]
name = "signer-b"
role = "SIGNER"
id = "{SIGNER_B_ID}"

[[groups]]
name = "cosigners"
id = "{GROUP_ID}"
members = ["signer-a", "signer-b"]

[[nodes]]
name = "nitro-a"
enclave = "nitro"
site = "aws/us-east-1/a"
api_users = ["signer-a"]
[[nodes]]
name = "nitro-b"
enclave = "nitro"
site = "aws/us-east-1/b"
api_users = ["signer-b"]
"""

WORKLOADS = """
[[workload]]
name = "to-cold-storage"
at = "1m"
count = 3
initiator = "ops"
asset = "ETH"
amount = { min = 1, max = 2 }
source = "vault:hot"
destination = "internal:cold-storage"

[[workload]]
name = "erc20-transfers"
at = "2m"
count = 2
initiator = "ops"
operation = "CONTRACT_CALL"
asset = "ETH"
amount = { min = 0 }
source = "vault:hot"
destination = "contract:usdc-token"

[[workload]]
name = "large-to-desk"
at = "3m"
count = 2
initiator = "ops"
asset = "ETH"
amount = { min = 10 }
source = "vault:hot"
destination = "network:desk-b"

[expect]
[[expect.outcome]]
workload = "to-cold-storage"
status = "COMPLETED"
count = 3
[[expect.outcome]]
workload = "erc20-transfers"
status = "COMPLETED"
count = 2
[[expect.outcome]]
workload = "large-to-desk"
status = "BLOCKED"
sub_status = "BLOCKED_BY_POLICY"
count = 2
"""


def v2_export() -> dict[str, Any]:
    """What `GET /v1/policy/active_policy` returns: users, groups and accounts by id only."""
    signers = {"type": "MULTIPLE", "groups": [GROUP_ID]}
    vault = {"type": ["VAULT"], "operator": "INCLUDES"}
    return {
        "policy": {
            "rules": [
                {
                    "id": "r-large",
                    "name": "network transfers over 20000 EUR are blocked",
                    "policyEngineVersion": "v2",
                    "type": "TRANSFER",
                    "initiator": "*",
                    "source": vault,
                    "destination": {
                        "type": ["NETWORK_CONNECTION"],
                        "operator": "INCLUDES",
                        "addressType": "*",
                    },
                    "amount": {"range": {"min": "20000"}, "currency": "EUR"},
                    "verdict": {"action": "BLOCK"},
                    "index": 0,
                },
                {
                    "id": "r-contracts",
                    "name": "zero-value contract calls by ops",
                    "policyEngineVersion": "v2",
                    "type": "CONTRACT_CALL",
                    "initiator": {"users": [OPS_ID], "operator": "INCLUDES"},
                    "source": vault,
                    "destination": {
                        "ids": [{"type": "CONTRACT", "id": "usdc-token"}],
                        "operator": "INCLUDES",
                        "addressType": "WHITELISTED",
                    },
                    "amount": {"range": {"min": "0"}, "currency": "USD"},
                    "verdict": {"action": "ALLOW", "designatedSigners": signers},
                    "index": 1,
                },
                {
                    "id": "r-internal",
                    "name": "vault to the customer's own wallets",
                    "policyEngineVersion": "v2",
                    "type": "TRANSFER",
                    "initiator": {"users": [OPS_ID], "operator": "INCLUDES"},
                    "source": vault,
                    "destination": {
                        "type": ["INTERNAL", "NETWORK_CONNECTION"],
                        "operator": "INCLUDES",
                        "addressType": "*",
                    },
                    "amount": {"range": {"min": "0"}, "currency": "USD"},
                    "verdict": {"action": "ALLOW", "designatedSigners": signers},
                    "index": 2,
                },
            ],
            "metadata": {"TRANSFER": {"editedBy": OWNER_ID}},
        },
        "validation": {"status": "SUCCESS"},
    }


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    (tmp_path / "active_policy.json").write_text(json.dumps(v2_export(), indent=2))
    scenario = tmp_path / "export.toml"
    scenario.write_text(WORKSPACE + '\n[policy]\nfireblocks_json = "active_policy.json"\n' + WORKLOADS)
    return scenario


def test_an_export_naming_everything_by_id_drives_a_full_run(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    code = main(["run", str(exported), "--json", str(report)])
    capsys.readouterr()
    data = json.loads(report.read_text())
    assert data["transactions"]["by_status"] == {"COMPLETED": 5, "BLOCKED": 2}
    assert data["passed"] is True and code == 0
    assert set(data["signed_by"]) <= {"nitro-a", "nitro-b"}


def test_analyze_and_policy_commands_read_the_same_file(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    analysis = analyze(load_scenario(exported))
    assert analysis.policy_source == "fireblocks" and analysis.ok
    assert [r.designated_signers for r in analysis.rules] == [("signer-a", "signer-b")] * 2
    code = main(["policy", "lint", str(exported.parent / "active_policy.json"), "--scenario", str(exported)])
    assert code == 0
    tx = {
        "initiator": "ops",
        "operation": "TRANSFER",
        "asset": "ETH",
        "amount": 7,  # 21000 USD = 16800 EUR: under the limit
        "source": "vault:hot",
        "destination": "network:desk-b",
    }
    capsys.readouterr()
    code = main(
        [
            "policy",
            "eval",
            str(exported.parent / "active_policy.json"),
            "--scenario",
            str(exported),
            "--tx",
            json.dumps(tx),
        ]
    )
    decision = json.loads(capsys.readouterr().out)
    assert (code, decision["rule"], decision["status"]) == (0, 2, "PENDING_SIGNATURE")


def _problems(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "case.toml")
    return str(info.value)


def test_an_id_used_twice_is_refused_with_where() -> None:
    text = WORKSPACE.replace(f'id = "{SIGNER_B_ID}"', f'id = "{SIGNER_A_ID}"')
    assert f"api_users[2].id: {SIGNER_A_ID!r} is already the id of api_users[1] (an API user)" in _problems(
        text
    )


def test_an_id_that_is_another_entitys_name_is_refused() -> None:
    text = WORKSPACE.replace(f'id = "{GROUP_ID}"', 'id = "ops"')
    assert "groups[0].id: 'ops' is the name of api_users[0]" in _problems(text)


def test_an_id_that_resolves_to_nothing_is_refused_with_rule_and_field(tmp_path: Path) -> None:
    rules = '\n[[policy.rules]]\naction = "ALLOW"\ndesignated_signers = { groups = ["no-such-group-id"] }\n'
    problems = _problems(WORKSPACE + rules)
    assert "policy.rules[0].designated_signers.groups[0]" in problems
    assert "no-such-group-id" in problems


def test_native_rules_name_people_by_id_and_take_lists(capsys: pytest.CaptureFixture[str]) -> None:
    rules = f"""
[policy]
amount_match = "at-least"
[[policy.rules]]
action = "ALLOW"
initiator = ["{OPS_ID}"]
operation = ["TRANSFER", "CONTRACT_CALL"]
source = ["vault:hot"]
destination = ["internal:*", "contract:usdc-token", "network:desk-b"]
designated_signers = ["{SIGNER_A_ID}", "signer-b"]
"""
    scenario = load_scenario_text(WORKSPACE + rules + WORKLOADS.split("[expect]")[0], "case.toml")
    assert scenario.policy is not None and scenario.policy.amount_match == "at-least"
    analysis = analyze(scenario)
    assert analysis.rules[0].designated_signers == ("signer-a", "signer-b")


def test_amount_match_is_per_workspace_not_per_fault() -> None:
    fault = '\n[[faults]]\nat = "5m"\naction = "policy"\namount_match = "at-least"\n[[faults.rules]]\naction = "ALLOW"\n'
    assert "amount_match" in _problems(WORKSPACE + fault)


def test_the_eur_rate_has_one_documented_spelling_and_an_alias_that_must_agree() -> None:
    rule = '\n[[policy.rules]]\naction = "BLOCK"\namount = { min = 100, currency = "EUR" }\n'
    old = WORKSPACE.replace("eur_usd = 1.25\n", "").replace("USDC = 1 }", "USDC = 1, EUR = 1.25 }")
    assert load_scenario_text(old + rule, "old.toml").workspace.prices_usd["EUR"] == 1.25
    clash = WORKSPACE.replace("USDC = 1 }", "USDC = 1, EUR = 1.1 }")
    assert "disagrees with eur_usd = 1.25; expected the EUR rate once, as eur_usd" in _problems(clash + rule)
    none = WORKSPACE.replace("eur_usd = 1.25\n", "")
    assert "give workspace.eur_usd = <US dollars per euro>" in _problems(none + rule)


def test_a_transfer_of_nothing_is_refused_but_a_contract_call_of_nothing_is_not() -> None:
    transfer = WORKLOADS.replace('operation = "CONTRACT_CALL"\n', "")
    assert "workload[1].amount.max: expected an amount above 0 for a TRANSFER" in _problems(
        WORKSPACE + transfer
    )


def test_a_transaction_source_is_an_account_the_workspace_holds() -> None:
    text = WORKSPACE + WORKLOADS.replace(
        'source = "vault:hot"\ndestination = "internal:cold-storage"',
        'source = "internal:cold-storage"\ndestination = "vault:hot"',
    )
    assert "workload[0].source" in _problems(text)


def test_v2_rules_written_inline_as_the_policy_of_a_scenario_run_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inline = tomli_w.dumps({"policy": {"rules": v2_export()["policy"]["rules"]}})
    scenario = tmp_path / "inline.toml"
    scenario.write_text(WORKSPACE + "\n" + inline + WORKLOADS)
    report = tmp_path / "report.json"
    code = main(["run", str(scenario), "--json", str(report)])
    capsys.readouterr()
    data = json.loads(report.read_text())
    assert (code, data["transactions"]["by_status"]) == (0, {"COMPLETED": 5, "BLOCKED": 2})


def test_inline_v2_rules_are_checked_by_name_and_path_when_loading() -> None:
    rules = v2_export()["policy"]["rules"]
    rules[1]["verdict"]["action"] = "SCREEN"
    problems = _problems(WORKSPACE + "\n" + tomli_w.dumps({"policy": {"rules": rules}}))
    assert "policy.rules[1].verdict.action: verdict SCREEN is not supported by this simulator" in problems


def test_an_export_naming_an_unknown_id_stops_the_run_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = v2_export()
    export["policy"]["rules"][2]["verdict"]["designatedSigners"] = {
        "type": "MULTIPLE",
        "groups": ["00000000-dead-beef-0000-000000000000"],
    }
    (tmp_path / "active_policy.json").write_text(json.dumps(export))
    scenario = tmp_path / "export.toml"
    scenario.write_text(WORKSPACE + '\n[policy]\nfireblocks_json = "active_policy.json"\n' + WORKLOADS)
    code = main(["run", str(scenario)])
    err = capsys.readouterr().err
    assert code == 2
    assert "rule 2" in err and "verdict.designatedSigners" in err and "00000000-dead-beef" in err


@pytest.mark.parametrize(
    "path", sorted(Path(__file__).parents[2].joinpath("scenarios").glob("*.toml")), ids=str
)
def test_every_file_run_accepts_policy_lint_and_eval_accept(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One workspace file for every command: a bundled scenario (with or without [policy]) lints and
    evaluates as a scenario, with the policy `run` would publish."""
    scenario = load_scenario(path)
    assert main(["policy", "lint", str(path)]) in (0, 1)
    workload = scenario.workloads[0]
    tx = {
        "initiator": workload.initiator,
        "operation": str(workload.operation),
        "asset": workload.asset,
        "amount": workload.amount_min,
        "source": workload.source,
        "destination": workload.destination,
    }
    capsys.readouterr()
    assert main(["policy", "eval", str(path), "--tx", json.dumps(tx)]) == 0
    assert json.loads(capsys.readouterr().out)["status"] in (
        "PENDING_SIGNATURE",
        "PENDING_AUTHORIZATION",
        "FAILED",
        "BLOCKED",
    )
