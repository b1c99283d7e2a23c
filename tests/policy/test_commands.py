"""`cosigner-ha policy lint` and `cosigner-ha policy eval`, run through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.cli import main

from .support import WORKSPACE_TOML, write
from .test_seed_methods import METHOD_1_NATIVE, METHOD_2_FIREBLOCKS

LIMIT_TOML = """
[[policy.rules]]
action = "BLOCK"
amount = { min = 5000, currency = "USD" }
over = { window = "1h", per = ["initiator"] }

[[policy.rules]]
action = "ALLOW"
designated_signers = { groups = ["group-1"] }
source = "vault:*"
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tx_json(**fields: Any) -> str:
    base = {
        "initiator": "jaime",
        "operation": "TRANSFER",
        "asset": "ETH",
        "amount": 1,
        "source": "vault:hot",
        "destination": "wallet:cold",
        "at": 100,
    }
    return json.dumps({**base, **fields})


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    return write(tmp_path / "seed.toml", WORKSPACE_TOML + METHOD_1_NATIVE)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write(tmp_path / "m2.json", METHOD_2_FIREBLOCKS)


# -- lint -------------------------------------------------------------------------------------------------


def test_lint_clean_policy(capsys: pytest.CaptureFixture[str], scenario_file: Path) -> None:
    code, out, err = run(capsys, "policy", "lint", str(scenario_file))
    assert (code, err) == (0, "")
    assert f"{scenario_file} [policy]: 2 rules (native form): no findings" in out


def test_lint_table_and_exit_1_on_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scenario_file: Path
) -> None:
    bad = write(
        tmp_path / "bad.toml", '[[rules]]\naction = "ALLOW"\ndesignated_signers = ["signer-a", "jaime"]\n'
    )
    code, out, _ = run(capsys, "policy", "lint", str(bad), "--scenario", str(scenario_file))
    assert code == 1
    assert "MIXED_SIGNER_TYPES" in out and "designated_signers" in out and "1 error(s), 2 warning(s)" in out


def test_lint_json_with_topology_from_the_scenario(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scenario_file: Path
) -> None:
    one_node = write(
        tmp_path / "p.json",
        {
            "rules": [
                {"action": "ALLOW", "source": "vault:*", "designated_signers": ["signer-a"]},
                {"action": "BLOCK"},
            ]
        },
    )
    code, out, _ = run(capsys, "policy", "lint", str(one_node), "--scenario", str(scenario_file), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["validation"]["status"] == "SUCCESS" and report["form"] == "native" and report["rules"] == 2
    assert [(f["code"], f["rule"], f["severity"]) for f in report["findings"]] == [
        ("NO_HIGH_AVAILABILITY", 0, "warning")
    ]


def test_lint_a_fireblocks_export_resolving_ids_through_the_scenario(
    capsys: pytest.CaptureFixture[str], export: Path, scenario_file: Path
) -> None:
    code, out, _ = run(capsys, "policy", "lint", str(export), "--scenario", str(scenario_file), "--json")
    assert code == 0 and json.loads(out)["findings"] == []


def test_lint_bad_input_exits_2_and_prints_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = write(tmp_path / "bad.toml", '[[rules]]\naction = "ALLOW"\n\n[[rules]]\naction = "MAYBE"\n')
    code, out, err = run(capsys, "policy", "lint", str(bad))
    assert (code, out) == (2, "")
    assert err == f"error: {bad}, rule 1, field 'action': expected one of ALLOW, BLOCK, 2-TIER, got 'MAYBE'\n"


def test_lint_bad_scenario_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, export: Path) -> None:
    scenario = write(tmp_path / "s.toml", WORKSPACE_TOML.replace('role = "EDITOR"', 'role = "BOSS"'))
    code, out, err = run(capsys, "policy", "lint", str(export), "--scenario", str(scenario))
    assert (code, out) == (2, "")
    assert f"{scenario}, field 'api_users[0].role'" in err


def test_lint_bad_nodes_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = write(
        tmp_path / "s.toml", WORKSPACE_TOML.replace('api_users = ["signer-b"]', 'api_users = "signer-b"')
    )
    code, _, err = run(capsys, "policy", "lint", str(scenario))
    assert code == 2 and "field 'nodes[1].api_users': expected a list of API user names" in err


# -- eval -------------------------------------------------------------------------------------------------


def test_eval_prints_the_decision(capsys: pytest.CaptureFixture[str], scenario_file: Path) -> None:
    code, out, err = run(capsys, "policy", "eval", str(scenario_file), "--tx", tx_json())
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "rule": 0,
        "action": "ALLOW",
        "status": "PENDING_SIGNATURE",
        "sub_status": None,
        "designated_signers": ["signer-a", "signer-b", "signer-c"],
        "approvers": None,
    }


def test_eval_without_a_scenario_takes_names_as_given(
    capsys: pytest.CaptureFixture[str], export: Path
) -> None:
    code, out, _ = run(capsys, "policy", "eval", str(export), "--tx", tx_json(initiator="whoever"))
    decision = json.loads(out)
    assert code == 0
    assert decision["designated_signers"] == ["g-1"]  # the group id, unresolved
    assert decision["approvers"]["groups"] == [{"members": ["u-tywin"], "threshold": 1}]


def test_eval_with_history_applies_amount_over_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = write(tmp_path / "s.toml", WORKSPACE_TOML + LIMIT_TOML)
    history = write(
        tmp_path / "h.jsonl",
        "\n".join(
            [
                tx_json(at=10),
                "",
                tx_json(at=20, initiator="cersei"),
                tx_json(at=30, source="exchange:exch-main"),
            ]
        )
        + "\n",
    )
    code, out, _ = run(capsys, "policy", "eval", str(scenario), "--tx", tx_json(), "--history", str(history))
    # jaime's total: 3000 at t=10, the exchange transfer FAILED (group on an exchange source), + 3000 now
    assert (code, json.loads(out)["rule"], json.loads(out)["status"]) == (0, 0, "BLOCKED")
    code, out, _ = run(
        capsys, "policy", "eval", str(scenario), "--tx", tx_json(at=4000), "--history", str(history)
    )
    assert json.loads(out)["status"] == "PENDING_SIGNATURE"  # the window has rolled past


def test_eval_reads_the_transaction_from_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scenario_file: Path
) -> None:
    path = write(tmp_path / "tx.json", tx_json(source="exchange:exch-main"))
    code, out, _ = run(capsys, "policy", "eval", str(scenario_file), "--tx", f"@{path}")
    assert (code, json.loads(out)["status"]) == (0, "PENDING_AUTHORIZATION")


@pytest.mark.parametrize(
    ("tx", "message"),
    [
        ("{not json", "error: --tx: invalid JSON at line 1 column 2"),
        (tx_json(amount=-3), "error: --tx, field 'amount': expected a non-negative amount"),
        (
            tx_json(source="vault:gone"),
            "error: --tx, field 'source': 'vault:gone' is not an account of the workspace",
        ),
        (tx_json(initiator="ghost"), "error: --tx, field 'initiator': initiator 'ghost' is not a user"),
        ("@/nonexistent/tx.json", "error: /nonexistent/tx.json: cannot read the transaction file"),
    ],
)
def test_eval_bad_transaction_exits_2(
    capsys: pytest.CaptureFixture[str], scenario_file: Path, tx: str, message: str
) -> None:
    code, out, err = run(capsys, "policy", "eval", str(scenario_file), "--tx", tx)
    assert (code, out) == (2, "")
    assert err.startswith(message)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([tx_json(at=5), "{oops"], "h.jsonl line 2: invalid JSON at column 2"),
        (
            [tx_json(at=5), tx_json(at=1)],
            "h.jsonl line 2, field 'at': at 1.0 is earlier than the line before (5.0)",
        ),
        (
            [tx_json(at=500)],
            "--tx, field 'at': at 100.0 is earlier than the last transaction of the history (500.0)",
        ),
        ([tx_json(asset=7)], "h.jsonl line 1, field 'asset'"),
    ],
)
def test_eval_bad_history_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scenario_file: Path, lines: list[str], message: str
) -> None:
    history = write(tmp_path / "h.jsonl", "\n".join(lines))
    code, out, err = run(
        capsys, "policy", "eval", str(scenario_file), "--tx", tx_json(), "--history", str(history)
    )
    assert (code, out) == (2, "")
    assert message in err


def test_eval_refuses_a_policy_that_would_not_publish(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scenario_file: Path
) -> None:
    bad = write(tmp_path / "p.toml", '[[rules]]\naction = "ALLOW"\ndesignated_signers = "ops"\n')
    code, out, err = run(
        capsys, "policy", "eval", str(bad), "--scenario", str(scenario_file), "--tx", tx_json()
    )
    assert (code, out) == (2, "")
    assert f"{bad}, rule 0, field 'designated_signers': the policy is not publishable" in err


def test_eval_needs_prices_for_thresholds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy = write(tmp_path / "p.json", {"rules": [{"action": "ALLOW", "amount": {"min": 100}}]})
    code, out, err = run(capsys, "policy", "eval", str(policy), "--tx", tx_json())
    assert (code, out) == (2, "")
    assert "no USD price for asset 'ETH'" in err


def test_eval_requires_tx(capsys: pytest.CaptureFixture[str], scenario_file: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["policy", "eval", str(scenario_file)])
    assert info.value.code == 2
    assert "--tx" in capsys.readouterr().err


# -- strict JSON, fault policies, v2 ---------------------------------------------------------------------


def test_a_policy_export_with_a_duplicate_key_exits_2_naming_key_and_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = '{"rules": [{"type": "TRANSFER", "action": "ALLOW", "action": "BLOCK", "asset": "*"}]}'
    policy = write(tmp_path / "dup.json", text)
    code, out, err = run(capsys, "policy", "lint", str(policy))
    assert (code, out) == (2, "")
    assert "dup.json, field 'rules[0].action': duplicate key 'action' in the object at rules[0]" in err
    assert policy.read_text() == text  # nothing rewritten


def test_a_tx_with_a_duplicate_key_exits_2(capsys: pytest.CaptureFixture[str], scenario_file: Path) -> None:
    doubled = tx_json()[:-1] + ', "amount": 1000}'
    code, out, err = run(capsys, "policy", "eval", str(scenario_file), "--tx", doubled)
    assert (code, out) == (2, "")
    assert "--tx, field 'amount': duplicate key 'amount' in the object at the top" in err


def test_a_history_line_with_a_duplicate_key_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scenario_file: Path
) -> None:
    history = write(tmp_path / "h.jsonl", tx_json(at=1) + "\n" + tx_json(at=2)[:-1] + ', "at": 3}')
    code, out, err = run(
        capsys, "policy", "eval", str(scenario_file), "--tx", tx_json(), "--history", str(history)
    )
    assert (code, out) == (2, "")
    assert "h.jsonl line 2, field 'at': duplicate key 'at'" in err


def test_lint_of_a_scenario_also_lints_the_policies_its_faults_publish(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fault = """
[[faults]]
at = "1h"
action = "policy"
[[faults.rules]]
action = "ALLOW"
designated_signers = { groups = ["group-1"] }
"""
    scenario = write(tmp_path / "s.toml", WORKSPACE_TOML + LIMIT_TOML + fault)
    code, out, _ = run(capsys, "policy", "lint", str(scenario), "--json")
    report = json.loads(out)
    from_fault = [f for f in report["findings"] if f.get("policy") == "faults[0]"]
    assert [f["code"] for f in from_fault] == ["EXCHANGE_FIAT_MULTIPLE_SIGNERS"]
    assert all("policy" not in f for f in report["findings"] if f not in from_fault)
    assert code == 0


def test_no_ha_on_an_exchange_rule_does_not_advise_more_api_users(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = """
[[policy.rules]]
action = "ALLOW"
source = ["exchange:*", "fiat:*"]
designated_signers = ["signer-a"]
[[policy.rules]]
action = "ALLOW"
source = "vault:*"
designated_signers = ["signer-a"]
"""
    scenario = write(tmp_path / "s.toml", WORKSPACE_TOML + rules)
    code, out, _ = run(capsys, "policy", "lint", str(scenario), "--json")
    found = {
        f["rule"]: f["message"] for f in json.loads(out)["findings"] if f["code"] == "NO_HIGH_AVAILABILITY"
    }
    assert "adding API users would make them fail" in found[0] and "pair another" not in found[0]
    assert "pair another node's API user" in found[1]
    assert code == 0


def test_eval_of_a_v2_export_by_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scenario_file: Path
) -> None:
    from .test_fireblocks_v2 import method_2_v2

    export = write(tmp_path / "v2.json", json.dumps({"policy": {"rules": method_2_v2(), "metadata": {}}}))
    code, out, err = run(
        capsys, "policy", "eval", str(export), "--scenario", str(scenario_file), "--tx", tx_json()
    )
    assert (code, err) == (0, "")
    decision = json.loads(out)
    assert (decision["rule"], decision["designated_signers"]) == (2, ["signer-a", "signer-b", "signer-c"])


def test_lint_of_several_workspaces_with_a_name_that_is_not_a_string_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Splitting a file by workspace must not trip over a malformed API user (found by tests/test_fuzz.py)."""
    bundled = Path(__file__).parents[2] / "scenarios" / "multi-workspace.toml"
    text = bundled.read_text().replace('name = "treasury-nitro"', "name = []", 1)
    assert "name = []" in text
    scenario = write(tmp_path / "s.toml", text)
    code, out, err = run(capsys, "policy", "lint", str(scenario))
    assert (code, out) == (2, "")
    assert "workspace acme-treasury, field 'api_users[2].name': expected a string" in err
    assert "Traceback" not in err
