"""Several workspaces in one scenario (`[[workspaces]]`): loading and refusing, sharing SGX and Nitro
co-signers, the GCP co-signer's one workspace (at load time and as a refused `pair` at run time), and the
reports' breakdown by workspace."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cosigner_ha.cli import main
from cosigner_ha.cluster.analyze import analyze
from cosigner_ha.cluster.bundled import SCENARIOS
from cosigner_ha.cluster.report import render_html, report_json_text
from cosigner_ha.cluster.scenario import (
    InlinePolicy,
    ScenarioError,
    content_hash,
    load_scenario,
    load_scenario_text,
    scenario_from_dict,
    to_toml,
)
from cosigner_ha.cluster.scenario.tenants import tenant_scenario
from tests.cluster.runs import MINUTE, run


def workspace(name: str, prefix: str, *, env: str = "mainnet", rate: str = "2/min") -> dict[str, Any]:
    return {
        "name": name,
        "env": env,
        "prices_usd": {"ETH": 3000},
        "vaults": ["hot"],
        "wallets": ["out"],
        "users": [{"name": f"{prefix}-owner", "role": "OWNER"}],
        "api_users": [
            {"name": f"{prefix}-ops", "role": "EDITOR"},
            {"name": f"{prefix}-a", "role": "SIGNER"},
            {"name": f"{prefix}-b", "role": "SIGNER"},
            {"name": f"{prefix}-spare", "role": "SIGNER"},
        ],
        "policy": {"rules": [{"action": "ALLOW", "designated_signers": [f"{prefix}-a", f"{prefix}-b"]}]},
        "workload": [
            {
                "name": f"{prefix}-w",
                "rate": rate,
                "initiator": f"{prefix}-ops",
                "asset": "ETH",
                "amount": {"min": 1},
                "source": "vault:hot",
                "destination": "wallet:out",
            }
        ],
    }


#: Two workspaces sharing an SGX node; each has its own GCP node.
BASE: dict[str, Any] = {
    "scenario": {"name": "two", "seed": 3, "duration": "20m"},
    "workspaces": [workspace("treasury", "t"), workspace("trading", "x", rate="4/min")],
    "nodes": [
        {"name": "sgx", "enclave": "sgx", "site": "onprem/dc1", "api_users": ["t-a", "x-a"]},
        {"name": "gcp-t", "enclave": "gcp", "site": "gcp/us-central1/a", "api_users": ["t-b"]},
        {"name": "gcp-x", "enclave": "gcp", "site": "gcp/europe-west1/b", "api_users": ["x-b"]},
    ],
}


def data(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    out.update(copy.deepcopy(changes))
    return out


def refused(d: dict[str, Any]) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(d, "case.toml")
    return info.value


def problem_at(error: ScenarioError, path: str) -> str:
    found = [str(p) for p in error.problems if p.path == path]
    assert found, f"no problem at {path!r}; got:\n{error}"
    return found[0]


# -- the model -----------------------------------------------------------------------------------------


def test_each_workspace_holds_its_own_people_policy_and_workloads() -> None:
    scenario = scenario_from_dict(data())
    assert scenario.multi_workspace and scenario.workspace_names() == ("treasury", "trading")
    treasury, trading = scenario.tenants()
    assert [u.name for u in treasury.api_users] == ["t-ops", "t-a", "t-b", "t-spare"]
    assert [w.name for w in trading.workloads] == ["x-w"]
    assert isinstance(trading.policy, InlinePolicy)
    assert trading.policy.rules[0]["designated_signers"] == ("x-a", "x-b")
    assert scenario.workspace_of("x-a") == "trading" and scenario.workspace_of("t-w") == "treasury"
    assert scenario.node("sgx").api_users == ("t-a", "x-a")  # one SGX co-signer, two workspaces
    assert len(scenario.api_users) == 8  # the scenario's own lists hold every workspace's


def test_the_file_form_writes_back_to_an_equal_model_and_hash() -> None:
    scenario = scenario_from_dict(data())
    text = to_toml(scenario)
    assert "[[workspaces]]" in text and "[workspace]" not in text
    again = load_scenario_text(text)
    assert again == scenario and content_hash(again) == content_hash(scenario)


def test_the_one_workspace_form_is_unchanged() -> None:
    single = load_scenario(SCENARIOS / "capacity-saturation.toml")
    assert single.workspaces == () and not single.multi_workspace
    assert "workspaces" not in to_toml(single)
    (tenant,) = single.tenants()
    assert tenant.api_users == single.api_users and tenant.policy == single.policy


def test_one_workspace_as_a_scenario_of_its_own() -> None:
    scenario = scenario_from_dict(data())
    trading = tenant_scenario(scenario, "trading")
    assert trading.workspace.name == "trading" and trading.workspaces == ()
    assert [n.api_users for n in trading.nodes] == [("x-a",), (), ("x-b",)]
    assert [w.name for w in trading.workloads] == ["x-w"]


# -- what the loader refuses -------------------------------------------------------------------------------


def test_a_gcp_co_signer_with_api_users_of_two_workspaces_is_refused() -> None:
    d = data()
    d["nodes"][1]["api_users"] = ["t-b", "x-spare"]
    text = problem_at(refused(d), "nodes[1].api_users[1]")
    assert "'x-spare' belongs to workspace 'trading'" in text
    assert "already serves workspace 'treasury'" in text
    assert "restricted to a single workspace" in text
    assert "sgx or nitro" in text


def test_sgx_and_nitro_co_signers_may_serve_several_workspaces() -> None:
    d = data()
    d["nodes"].append(
        {"name": "nitro", "enclave": "nitro", "site": "aws/us-east-1/a", "api_users": ["t-spare", "x-spare"]}
    )
    assert scenario_from_dict(d).node("nitro").api_users == ("t-spare", "x-spare")


@pytest.mark.parametrize(
    ("change", "path", "expected"),
    [
        (lambda d: d.update(workspace={"name": "x"}), "workspace", "not both"),
        (
            lambda d: d.update(api_users=[{"name": "z", "role": "SIGNER"}]),
            "api_users",
            "[[workspaces.api_users]]",
        ),
        (lambda d: d.update(workspaces=[]), "workspaces", "at least one [[workspaces]]"),
        (
            lambda d: d["workspaces"][1]["api_users"].append({"name": "t-a", "role": "SIGNER"}),
            "workspaces[1].api_users[4].name",
            "already the name of workspaces[0].api_users[1]",
        ),
        (
            lambda d: d["workspaces"][1].update(name="treasury"),
            "workspaces[1].name",
            "unique workspace names",
        ),
        (
            lambda d: d["workspaces"][1]["workload"].append({**d["workspaces"][0]["workload"][0]}),
            "workspaces[1].workload[1].name",
            "unique workload names",
        ),
        (  # a rule names only its own workspace's people
            lambda d: d["workspaces"][1]["policy"]["rules"][0].update(designated_signers=["t-a"]),
            "workspaces[1].policy.rules[0].designated_signers[0]",
            "x-a",
        ),
        (  # and a workload only its own workspace's accounts
            lambda d: d["workspaces"][1]["workload"][0].update(source="vault:treasury"),
            "workspaces[1].workload[0].source",
            "workspace.vaults",
        ),
        (
            lambda d: d["nodes"].append(
                {"name": "c", "enclave": "communal", "site": "fb/sandbox", "api_users": ["x-spare"]}
            ),
            "nodes[3].api_users[0]",
            "which is mainnet",
        ),
        (
            lambda d: d.update(faults=[{"at": "5m", "action": "policy", "rules": [{"action": "ALLOW"}]}]),
            "faults[0].workspace",
            "required",
        ),
        (  # found by tests/test_fuzz.py: a node's name that is an array tripped the workspace checks
            lambda d: d["nodes"][0].update(name=[]),
            "nodes[0].name",
            "expected",
        ),
    ],
)
def test_refusals(change: Any, path: str, expected: str) -> None:
    d = data()
    change(d)
    assert expected in problem_at(refused(d), path)


def test_a_sandbox_workspace_signs_with_the_communal_co_signer_only() -> None:
    d = data()
    d["workspaces"].append({**workspace("play", "p", env="sandbox"), "policy": None})
    del d["workspaces"][2]["policy"]
    d["nodes"].append({"name": "c", "enclave": "communal", "site": "fb/sandbox"})
    scenario = scenario_from_dict(d)
    assert scenario.node("c").api_users == ("p-a", "p-b", "p-spare")  # paired automatically
    d["nodes"][0]["api_users"] = ["t-a", "x-a", "p-a"]
    assert "communal co-signer only" in problem_at(refused(d), "nodes[0].api_users[2]")


def test_a_policy_fault_names_its_workspace_and_its_rules_that_workspaces_names() -> None:
    fault = {"at": "5m", "action": "policy", "workspace": "trading", "rules": [{"action": "ALLOW"}]}
    scenario = scenario_from_dict(data(faults=[fault]))
    assert scenario.faults[0].workspace == "trading"
    bad = {**fault, "rules": [{"action": "ALLOW", "designated_signers": ["t-a"]}]}
    assert "x-a" in problem_at(refused(data(faults=[bad])), "faults[0].rules[0].designated_signers[0]")
    single = load_scenario(SCENARIOS / "single-cosigner.toml")
    one = (
        to_toml(single)
        + '\n[[faults]]\nat = "1m"\naction = "policy"\nworkspace = "x"\n[[faults.rules]]\naction = "ALLOW"\n'
    )
    with pytest.raises(
        ScenarioError, match=r"faults\[0\]\.workspace: .*only in a file with \[\[workspaces\]\]"
    ):
        load_scenario_text(one)


def test_a_refused_gcp_pairing_leaves_the_api_user_free_for_another_node() -> None:
    faults = [
        {"at": "2m", "action": "pair", "node": "gcp-t", "api_user": "x-spare"},  # refused at run time
        {"at": "5m", "action": "pair", "node": "sgx", "api_user": "x-spare"},  # so this one is no repeat
    ]
    assert len(scenario_from_dict(data(faults=faults)).faults) == 2


# -- a run -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_workspaces() -> Any:
    faults = [
        {"at": "5m", "action": "crash", "node": "sgx", "for": "5m"},
        {"at": "12m", "action": "pair", "node": "gcp-t", "api_user": "x-spare"},
        {"at": "14m", "action": "pair", "node": "sgx", "api_user": "x-spare"},
    ]
    return run(data(faults=faults))


def test_each_workspace_signs_through_the_shared_co_signer(two_workspaces: Any) -> None:
    r = two_workspaces
    assert r.report.passed, r.report.failed_checks()
    submitted = {e.fields["tx"]: e.fields["workspace"] for e in r.of("submitted")}
    by_user = {e.fields["api_user"] for e in r.of("signed", node="sgx")}
    assert {"t-a", "x-a"} <= by_user
    for e in r.of("signed"):
        assert submitted[e.fields["tx"]] == {"t": "treasury", "x": "trading"}[e.fields["api_user"][0]]
    crash = [e for e in r.of("signed") if 5 * MINUTE <= r.at(e) < 10 * MINUTE]
    assert crash and {e.fields["node"] for e in crash} == {"gcp-t", "gcp-x"}, "both fail over at once"


def test_pairing_a_gcp_co_signer_with_a_second_workspace_is_refused_at_run_time(two_workspaces: Any) -> None:
    r = two_workspaces
    (error,) = r.of("fault_error", index=1)
    assert error.fields["code"] == "GCP_SINGLE_WORKSPACE"
    assert "can only connect to one workspace at a time" in error.fields["reason"]
    assert "'trading'" in error.fields["reason"]
    assert not r.of("fault_error", index=2), "the SGX co-signer takes the API user the GCP one refused"
    assert any(e.fields["api_user"] == "x-spare" for e in r.of("paired"))


def test_the_reports_break_figures_down_by_workspace(two_workspaces: Any) -> None:
    report = two_workspaces.report
    treasury, trading = report.workspaces
    assert (treasury.name, trading.name) == ("treasury", "trading")
    assert treasury.transactions + trading.transactions == report.transactions_total
    assert trading.transactions > treasury.transactions  # 4/min against 2/min
    assert sum(treasury.signed_by.values()) == treasury.by_status["COMPLETED"]
    assert set(trading.signed_by) <= {"sgx", "gcp-x"} and set(treasury.signed_by) <= {"sgx", "gcp-t"}
    assert treasury.latency.p99 is not None
    data = json.loads(report_json_text(report))
    assert [w["workspace"] for w in data["workspaces"]] == ["treasury", "trading"]
    assert data["workspaces"][1]["transactions"] == trading.transactions
    assert "by workspace" in render_html(report)


def test_a_one_workspace_report_has_no_breakdown() -> None:
    from tests.cluster.runs import BASE as SMALL

    report = run(SMALL).report
    assert report.workspaces == ()
    assert "workspaces" not in json.loads(report_json_text(report))


# -- analyze -----------------------------------------------------------------------------------------------


def test_analyze_takes_each_workspace_in_turn() -> None:
    analysis = analyze(scenario_from_dict(data()))
    names = [name for name, _ in analysis.workspaces]
    assert names == ["treasury", "trading"] and analysis.ok
    trading = dict(analysis.workspaces)["trading"]
    (rule,) = trading.rules
    assert rule.signers == {"x-a": ("sgx",), "x-b": ("gcp-x",)}
    out = analysis.to_json()
    assert [w["workspace"] for w in out["workspaces"]] == names and out["ok"]


def test_analyze_cli_of_the_bundled_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "multi-workspace"]) == 0
    out = capsys.readouterr().out
    assert "workspace acme-treasury" in out and "workspace acme-trading" in out


def test_analyze_refuses_a_gcp_co_signer_of_two_workspaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (SCENARIOS / "multi-workspace.toml").read_text(encoding="utf-8")
    text = text.replace('api_users = ["treasury-gcp"]', 'api_users = ["treasury-gcp", "trading-spare"]')
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    before = path.read_bytes()
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert "nodes[2].api_users[1]" in err and "restricted to a single workspace" in err
    assert "Traceback" not in err and path.read_bytes() == before


def test_up_refuses_several_workspaces(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["up", str(SCENARIOS / "multi-workspace.toml"), "--api", "127.0.0.1:0"])
    assert code == 2
    assert "declares 2 workspaces" in capsys.readouterr().err


# -- policy lint and eval ----------------------------------------------------------------------------------


def test_policy_lint_takes_each_workspace_with_its_own_names(capsys: pytest.CaptureFixture[str]) -> None:
    path = SCENARIOS / "multi-workspace.toml"
    assert main(["policy", "lint", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [w["workspace"] for w in out["workspaces"]] == ["acme-treasury", "acme-trading"]
    assert all(w["rules"] == 2 and not w["findings"] for w in out["workspaces"])


def test_policy_eval_decides_in_the_initiators_workspace(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(SCENARIOS / "multi-workspace.toml")
    tx = {
        "initiator": "trading-ops",
        "operation": "TRANSFER",
        "asset": "ETH",
        "amount": 1,
        "source": "vault:hot",
        "destination": "wallet:partner-a",
    }
    assert main(["policy", "eval", path, "--tx", json.dumps(tx)]) == 0
    decided = json.loads(capsys.readouterr().out)
    assert decided["designated_signers"] == ["trading-sgx", "trading-nitro", "trading-gcp"]
    assert main(["policy", "eval", path, "--tx", json.dumps({**tx, "initiator": "nobody"})]) == 2
    err = capsys.readouterr().err
    assert "'nobody' is no user or API user of any workspace" in err and "Traceback" not in err
