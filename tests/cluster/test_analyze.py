"""`cosigner-ha analyze`: which nodes serve each rule, which failure domains break it, lint, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from cosigner_ha.cli import main
from cosigner_ha.cluster.analyze import Analysis, analyze, analyze_file, default_policy_rules
from cosigner_ha.cluster.commands_analyze import render_analysis
from cosigner_ha.cluster.scenario import load_scenario_text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"

HEAD = """
[scenario]
name = "{name}"
seed = 1
duration = "1h"

[workspace]
name = "acme"
prices_usd = {{ ETH = 3000 }}
vaults = ["hot"]
exchanges = ["exch-main"]
fiat_accounts = ["bank-usd"]
wallets = ["cold"]

[[users]]
name = "tywin"
role = "ADMIN"

[[api_users]]
name = "ops"
role = "EDITOR"
[[api_users]]
name = "signer-a"
role = "SIGNER"
[[api_users]]
name = "signer-b"
role = "SIGNER"
[[api_users]]
name = "signer-c"
role = "SIGNER"
[[api_users]]
name = "signer-d"
role = "ADMIN"

[[groups]]
name = "group-1"
members = ["signer-a", "signer-b", "signer-c"]
"""

NITRO_A = """
[[nodes]]
name = "nitro-a"
enclave = "nitro"
site = "aws/us-east-1/a"
api_users = ["signer-a"]
"""
NITRO_B = """
[[nodes]]
name = "nitro-b"
enclave = "nitro"
site = "aws/us-east-1/b"
api_users = ["signer-b"]
"""
SGX_STANDBY = """
[[nodes]]
name = "sgx-dc1"
enclave = "sgx"
site = "onprem/dc1"
api_users = ["signer-c"]
standby = true
"""

GROUP_RULE = """
[[policy.rules]]
action = "ALLOW"
designated_signers = { groups = ["group-1"] }
"""


def scenario_text(*parts: str, name: str = "hand-written") -> str:
    return HEAD.format(name=name) + "".join(parts)


def analysis_of(*parts: str) -> Analysis:
    return analyze(load_scenario_text(scenario_text(*parts), "test.toml"))


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["analyze", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def survives(analysis: Analysis, rule: int = 0) -> dict[str, Any]:
    found = next(r for r in analysis.rules if r.index == rule)
    return {o.level: (o.breaking, o.standby_only) for o in found.outcomes}


def codes(analysis: Analysis) -> list[str]:
    return [f.code for f in analysis.findings]


# -- topologies ---------------------------------------------------------------------------------------


def test_a_single_node_fails_on_any_loss() -> None:
    analysis = analysis_of(NITRO_A)  # no [policy]: the default rule, signed by every paired API user
    assert analysis.policy_source == "default"
    (rule,) = analysis.rules
    assert rule.status == "ok" and rule.designated_signers == ("signer-a",)
    assert survives(analysis) == {
        "node": (("nitro-a",), ()),
        "zone": (("aws/us-east-1/a",), ()),
        "region": (("aws/us-east-1",), ()),
        "provider": (("aws",), ()),
    }
    assert "NO_HIGH_AVAILABILITY" in codes(analysis)
    assert analysis.ok  # signable with everything up, and only warnings


def test_two_nodes_in_two_zones_survive_a_zone_not_the_region() -> None:
    analysis = analysis_of(NITRO_A, NITRO_B, GROUP_RULE)
    assert [n.name for n in analysis.rules[0].nodes] == ["nitro-a", "nitro-b"]
    assert survives(analysis) == {
        "node": ((), ()),
        "zone": ((), ()),
        "region": (("aws/us-east-1",), ()),
        "provider": (("aws",), ()),
    }


def test_an_on_prem_standby_survives_the_region_and_the_provider_alone() -> None:
    analysis = analysis_of(NITRO_A, NITRO_B, SGX_STANDBY, GROUP_RULE)
    assert survives(analysis) == {
        "node": ((), ()),
        "zone": ((), ()),
        "region": ((), ("aws/us-east-1",)),
        "provider": ((), ("aws",)),
    }
    rule = analysis.rules[0]
    assert [(n.name, n.standby, n.api_users) for n in rule.nodes] == [
        ("nitro-a", False, ("signer-a",)),
        ("nitro-b", False, ("signer-b",)),
        ("sgx-dc1", True, ("signer-c",)),
    ]
    assert dict(rule.signers) == {
        "signer-a": ("nitro-a",),
        "signer-b": ("nitro-b",),
        "signer-c": ("sgx-dc1",),
    }


def test_losing_the_only_active_node_leaves_the_standby() -> None:
    standby_b = NITRO_B.replace('api_users = ["signer-b"]', 'api_users = ["signer-b"]\nstandby = true')
    analysis = analysis_of(NITRO_A, standby_b, GROUP_RULE)
    assert survives(analysis)["node"] == ((), ("nitro-a",))
    assert survives(analysis)["zone"] == ((), ("aws/us-east-1/a",))


def test_the_design_example_scenario(tmp_path: Path) -> None:
    """The scenario of DESIGN.md section 4, completed as docs/scenarios.md's example."""
    match = re.search(r"## Complete example\s+```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert match
    analysis = analyze_file(write(tmp_path, match.group(1)))
    assert analysis.scenario == "active-active-passive" and analysis.policy_source == "inline"
    assert analysis.domains == {
        "node": ("nitro-a", "nitro-b", "sgx-dc1"),
        "zone": ("aws/us-east-1/a", "aws/us-east-1/b", "onprem/dc1"),
        "region": ("aws/us-east-1", "onprem/dc1"),
        "provider": ("aws", "onprem"),
    }
    assert [(r.index, r.action, r.status) for r in analysis.rules] == [
        (0, "2-TIER", "ok"),
        (1, "ALLOW", "ok"),
    ]
    for rule in (0, 1):
        assert survives(analysis, rule) == {
            "node": ((), ()),
            "zone": ((), ()),
            "region": ((), ("aws/us-east-1",)),
            "provider": ((), ("aws",)),
        }
    assert codes(analysis) == ["NO_CATCH_ALL"]  # both rules take vault sources only
    assert analysis.ok


# -- rules that cannot be signed, and rules not analysed ----------------------------------------------


def test_an_exchange_rule_with_a_group_fails_by_design() -> None:
    policy = """
[[policy.rules]]
source = "exchange:*"
action = "ALLOW"
designated_signers = { groups = ["group-1"] }
[[policy.rules]]
source = "exchange:exch-main"
action = "ALLOW"
designated_signers = { users = ["signer-a"] }
"""
    analysis = analysis_of(NITRO_A, NITRO_B, SGX_STANDBY, policy)
    first, second = analysis.rules
    assert first.status == "fails-by-design" and not first.signable and first.outcomes == ()
    assert "FAILED / SIGNER_NOT_FOUND" in first.detail and first.notes == ()
    assert second.status == "ok"  # signable, though never reached:
    assert "SHADOWED_RULE" in [f.code for f in analysis.findings if f.rule == 1]
    assert not analysis.ok and analysis.unsignable == (first,)


def test_a_fiat_rule_naming_two_users_fails_by_design_but_one_user_is_fine() -> None:
    two = analysis_of(
        NITRO_A,
        NITRO_B,
        '[[policy.rules]]\nsource = "fiat:bank-usd"\naction = "ALLOW"\ndesignated_signers = { users = ["signer-a", "signer-b"] }\n',
    )
    assert two.rules[0].status == "fails-by-design" and "2 signers" in two.rules[0].detail
    one = analysis_of(
        NITRO_A,
        '[[policy.rules]]\nsource = "fiat:bank-usd"\naction = "ALLOW"\ndesignated_signers = { users = ["signer-a"] }\n',
    )
    assert one.rules[0].status == "ok"


def test_a_group_rule_open_to_every_source_is_signable_with_a_note() -> None:
    analysis = analysis_of(NITRO_A, NITRO_B, GROUP_RULE)
    rule = analysis.rules[0]
    assert rule.status == "ok"  # vault transactions are signed; exchange/fiat ones would fail
    assert rule.notes and "exchange or fiat" in rule.notes[0]
    assert "EXCHANGE_FIAT_MULTIPLE_SIGNERS" in codes(analysis)


def test_a_rule_whose_signers_no_node_serves_is_unsignable() -> None:
    policy = '[[policy.rules]]\naction = "ALLOW"\nsource = "vault:*"\ndesignated_signers = { users = ["signer-d"] }\n'
    analysis = analysis_of(NITRO_A, policy)
    rule = analysis.rules[0]
    assert rule.status == "unsignable" and "no node serves signer-d" in rule.detail
    assert dict(rule.signers) == {"signer-d": ()}
    assert "SIGNER_NOT_SERVED" in codes(analysis)
    assert not analysis.ok


def test_a_designated_api_user_that_cannot_sign_is_a_lint_error_and_unsignable() -> None:
    policy = (
        '[[policy.rules]]\naction = "ALLOW"\nsource = "vault:*"\ndesignated_signers = { users = ["ops"] }\n'
    )
    analysis = analysis_of(NITRO_A, policy)
    assert (
        analysis.rules[0].status == "unsignable"
        and "no designated API user can sign" in analysis.rules[0].detail
    )
    assert "SIGNER_ROLE_CANNOT_SIGN" in codes(analysis) and analysis.lint_errors == 1


def test_the_default_policy_with_nobody_paired_is_unsignable() -> None:
    idle = '[[nodes]]\nname = "spare"\nenclave = "sgx"\nsite = "onprem/dc1"\n'
    analysis = analysis_of(idle)
    assert analysis.policy_source == "default"
    assert analysis.rules[0].status == "unsignable" and "no API user is paired" in analysis.rules[0].detail
    assert not analysis.ok


def test_default_policy_rules_name_every_paired_api_user_in_node_order() -> None:
    scenario = load_scenario_text(scenario_text(SGX_STANDBY, NITRO_A))
    assert default_policy_rules(scenario) == [
        {"action": "ALLOW", "designated_signers": {"users": ["signer-c", "signer-a"]}}
    ]


def test_console_signers_need_no_node() -> None:
    policy = '[[policy.rules]]\naction = "ALLOW"\ndesignated_signers = { users = ["tywin"] }\n'
    analysis = analysis_of(NITRO_A, policy)
    assert analysis.rules[0].status == "console-signers" and analysis.rules[0].signable
    assert analysis.rules[0].outcomes == ()


def test_block_rules_and_initiator_signed_rules_are_listed_as_not_analysed() -> None:
    policy = """
[[policy.rules]]
action = "BLOCK"
source = "fiat:*"
[[policy.rules]]
action = "ALLOW"
initiator = "signer-a"
source = "vault:*"
"""
    analysis = analysis_of(NITRO_A, policy + GROUP_RULE)
    assert [(s.index, s.action) for s in analysis.skipped] == [(0, "BLOCK"), (1, "ALLOW")]
    assert "initiator" in analysis.skipped[1].reason
    assert [r.index for r in analysis.rules] == [2]


def test_a_2_tier_rule_without_approvers_is_a_lint_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = '[[policy.rules]]\naction = "2-TIER"\ndesignated_signers = { groups = ["group-1"] }\n'
    path = write(tmp_path, scenario_text(NITRO_A, NITRO_B, policy))
    code, out, _ = run(capsys, str(path), "--json")
    data = json.loads(out)
    assert code == 1
    assert data["lint_errors"] == 1 and data["ok"] is False
    assert data["rules"][0]["signable"] is True  # signable: it is the lint error that fails it
    assert [f["code"] for f in data["findings"] if f["severity"] == "error"] == ["MISSING_REQUIRED_FIELD"]


def test_a_fireblocks_export_is_analysed(tmp_path: Path) -> None:
    export = {
        "rules": [
            {
                "type": "TRANSFER",
                "transactionType": "TRANSFER",
                "action": "ALLOW",
                "asset": "*",
                "amountCurrency": "USD",
                "amountScope": "SINGLE_TX",
                "amount": "0",
                "periodSec": 0,
                "operators": {"wildcard": "*"},
                "src": {"ids": [["*"]]},
                "dst": {"ids": [["*"]]},
                "dstAddressType": "*",
                "designatedSigners": {"users": ["signer-a", "signer-b"]},
            }
        ]
    }
    (tmp_path / "prod.json").write_text(json.dumps(export), encoding="utf-8")
    path = write(
        tmp_path, scenario_text(NITRO_A, NITRO_B, SGX_STANDBY, '[policy]\nfireblocks_json = "prod.json"\n')
    )
    analysis = analyze_file(path)
    assert analysis.policy_source == "fireblocks"
    assert dict(analysis.rules[0].signers) == {"signer-a": ("nitro-a",), "signer-b": ("nitro-b",)}
    assert survives(analysis)["region"] == (("aws/us-east-1",), ())  # the standby serves nobody named


# -- properties over generated topologies -------------------------------------------------------------

SITES = st.sampled_from(
    ["aws/r1/a", "aws/r1/b", "aws/r2/a", "gcp/r1/a", "gcp/r1", "onprem/dc1", "onprem/dc2", "onprem"]
)


@st.composite
def topologies(draw: st.DrawFn) -> tuple[str, list[tuple[str, str, bool, bool]]]:
    """Nodes (name, site, standby, serves a designated signer), each serving its own API user."""
    count = draw(st.integers(1, 6))
    nodes = [(f"n{i}", draw(SITES), draw(st.booleans()), draw(st.booleans())) for i in range(count)]
    if not any(designated for *_, designated in nodes):
        nodes[0] = (*nodes[0][:3], True)
    users = "".join(f'[[api_users]]\nname = "u{i}"\nrole = "SIGNER"\n' for i in range(count))
    text = (
        HEAD.format(name="generated")
        + users
        + "".join(
            f'[[nodes]]\nname = "{n}"\nenclave = "sgx"\nsite = "{site}"\napi_users = ["u{i}"]\nstandby = {str(sb).lower()}\n'
            for i, (n, site, sb, _) in enumerate(nodes)
        )
        + '[[policy.rules]]\naction = "ALLOW"\ndesignated_signers = { users = ['
        + ", ".join(f'"u{i}"' for i, (*_, d) in enumerate(nodes) if d)
        + "] }\n"
    )
    return text, nodes


def _under(site: str, prefix: str) -> bool:
    return site.split("/")[: len(prefix.split("/"))] == prefix.split("/")


@settings(max_examples=60, deadline=None)
@given(topologies())
def test_a_domain_breaks_a_rule_exactly_when_it_holds_every_serving_node(
    case: tuple[str, list[tuple[str, str, bool, bool]]],
) -> None:
    text, nodes = case
    analysis = analyze(load_scenario_text(text))
    serving = [(n, site, sb) for n, site, sb, designated in nodes if designated]
    (rule,) = analysis.rules
    assert [n.name for n in rule.nodes] == [n for n, _, _ in serving]
    for outcome in rule.outcomes:
        for domain in analysis.domains[outcome.level]:
            if outcome.level == "node":
                left = [x for x in serving if x[0] != domain]
            else:
                left = [x for x in serving if not _under(x[1], domain)]
            assert (domain in outcome.breaking) == (not left)
            only_standby = bool(left) and all(sb for *_, sb in left) and not all(sb for *_, sb in serving)
            assert (domain in outcome.standby_only) == only_standby
    # losing a bigger domain never helps: a level that survives implies every smaller one does
    oks = [o.ok for o in rule.outcomes]
    assert oks == sorted(oks, reverse=True)


# -- the command --------------------------------------------------------------------------------------


def test_command_prints_the_analysis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, scenario_text(NITRO_A, NITRO_B, SGX_STANDBY, GROUP_RULE, name="aap"))
    code, out, err = run(capsys, str(path))
    assert code == 0 and err == ""
    assert "HA analysis of aap" in out
    assert "zones: aws/us-east-1/a, aws/us-east-1/b, onprem/dc1" in out
    assert "signer-c → sgx-dc1 (onprem/dc1, standby)" in out
    assert "lose any node" in out and "✓ survives" in out
    assert "on standby nodes alone after losing aws" in out
    assert "EXCHANGE_FIAT_MULTIPLE_SIGNERS" in out
    assert "OK: every rule survives" in out


def test_command_names_the_weak_points(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, scenario_text(NITRO_A, NITRO_B, GROUP_RULE))
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert "✗ breaks when losing aws/us-east-1" in out
    assert "OK, but rule 0 breaks when a region is lost" in out


def test_command_exits_1_when_a_rule_cannot_be_signed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = '[[policy.rules]]\nsource = "exchange:*"\naction = "ALLOW"\ndesignated_signers = { groups = ["group-1"] }\n'
    path = write(tmp_path, scenario_text(NITRO_A, NITRO_B, policy))
    code, out, _ = run(capsys, str(path))
    assert code == 1
    assert "FAILS BY DESIGN" in out
    assert "PROBLEMS: rule 0 cannot be signed even with every node up" in out


def test_command_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, scenario_text(NITRO_A, NITRO_B, SGX_STANDBY, GROUP_RULE, name="aap"))
    code, out, _ = run(capsys, str(path), "--json")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {
        "scenario",
        "file",
        "policy",
        "failure_domains",
        "rules",
        "skipped",
        "findings",
        "lint_errors",
        "unsignable_rules",
        "capacity",
        "overloaded_rules",
        "ok",
    }
    assert data["scenario"] == "aap" and data["file"] == str(path) and data["policy"] == "inline"
    (rule,) = data["rules"]
    assert set(rule) == {
        "rule",
        "action",
        "description",
        "status",
        "signable",
        "detail",
        "notes",
        "designated_signers",
        "signers",
        "nodes",
        "survives",
    }
    assert rule["signers"][2] == {"api_user": "signer-c", "nodes": ["sgx-dc1"]}
    assert rule["nodes"][2] == {
        "name": "sgx-dc1",
        "site": "onprem/dc1",
        "standby": True,
        "api_users": ["signer-c"],
    }
    assert rule["survives"]["region"] == {"ok": True, "breaking": [], "standby_only": ["aws/us-east-1"]}
    assert list(rule["survives"]) == ["node", "zone", "region", "provider"]
    assert data["findings"][0] == {
        "severity": "warning",
        "code": "EXCHANGE_FIAT_MULTIPLE_SIGNERS",
        "rule": 0,
        "field": "designated_signers",
        "message": data["findings"][0]["message"],
    }
    assert data["unsignable_rules"] == [] and data["ok"] is True


def test_an_unsignable_rule_has_no_survival_figures_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = '[[policy.rules]]\naction = "ALLOW"\nsource = "vault:*"\ndesignated_signers = { users = ["signer-d"] }\n'
    code, out, _ = run(capsys, str(write(tmp_path, scenario_text(NITRO_A, policy))), "--json")
    data = json.loads(out)
    assert code == 1
    assert data["rules"][0]["survives"] is None and data["rules"][0]["status"] == "unsignable"
    assert data["unsignable_rules"] == [0]


# -- bad input ----------------------------------------------------------------------------------------


def test_a_missing_file_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.toml"
    code, out, err = run(capsys, str(missing))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and str(missing) in err


def test_a_malformed_scenario_exits_2_with_file_and_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = scenario_text(NITRO_A).replace(
        'site = "aws/us-east-1/a"', 'site = "aws/us-east-1/a"\nstandby = "yes"'
    )
    path = write(tmp_path, bad)
    code, out, err = run(capsys, str(path), "--json")
    assert code == 2 and out == ""
    assert str(path) in err and "nodes[0].standby" in err


def test_a_policy_that_does_not_load_exits_2_naming_the_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "prod.json").write_text(
        '{"rules": [{"type": "TRANSFER", "action": "MAYBE"}]}', encoding="utf-8"
    )
    path = write(tmp_path, scenario_text(NITRO_A, '[policy]\nfireblocks_json = "prod.json"\n'))
    code, out, err = run(capsys, str(path))
    assert code == 2 and out == ""
    assert "prod.json" in err and "rule 0" in err and "action" in err


def test_rendering_does_not_interpret_markup() -> None:
    analysis = analyze(load_scenario_text(scenario_text(NITRO_A, name="[red]big[/red]"), "[b]x.toml"))
    console = Console(record=True, width=100, color_system=None)
    render_analysis(analysis, console)
    assert "HA analysis of [red]big[/red] ([b]x.toml" in console.export_text()


def test_a_callback_handler_shared_by_every_signer_is_named_a_single_point_of_failure() -> None:
    from cosigner_ha.cluster.analyze import analyze
    from cosigner_ha.cluster.bundled import SCENARIOS, load

    shared = analyze(load(SCENARIOS / "active-active-passive.toml"))  # three nodes, one handler "risk"
    (rule,) = shared.rules
    assert any("callback handler risk" in n and "single point of failure" in n for n in rule.notes)
    alone = analyze(load(SCENARIOS / "single-cosigner.toml"))  # one node: nothing redundant to undo
    assert not any("single point of failure" in n for r in alone.rules for n in r.notes)
