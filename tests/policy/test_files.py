"""Reading policies from files: every form, and errors that name the file (all or nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosigner_ha.policy import Directory, PolicyError, load_policy, load_policy_file

from .support import WORKSPACE_TOML, write

FB_RULE = {
    "type": "TRANSFER",
    "action": "ALLOW",
    "asset": "*",
    "amountCurrency": "USD",
    "amountScope": "SINGLE_TX",
    "amount": "0",
    "periodSec": 0,
}
NATIVE_TOML = '[[rules]]\naction = "ALLOW"\nasset = "BTC"\n\n[[rules]]\naction = "BLOCK"\n'


def test_fireblocks_export(tmp_path: Path, directory: Directory) -> None:
    policy = load_policy_file(write(tmp_path / "export.json", {"rules": [FB_RULE]}), directory)
    assert (policy.form, policy.origin, len(policy.rules)) == ("fireblocks", str(tmp_path / "export.json"), 1)


@pytest.mark.parametrize("wrapper", ["policy", "draftResponse"])
def test_fireblocks_api_responses_are_unwrapped(tmp_path: Path, directory: Directory, wrapper: str) -> None:
    document = {
        wrapper: {"rules": [FB_RULE], "metadata": {"editedBy": "x"}},
        "validation": {"status": "SUCCESS"},
    }
    assert load_policy_file(write(tmp_path / "active.json", document), directory).form == "fireblocks"


def test_native_policy_as_toml_and_as_json(tmp_path: Path, directory: Directory) -> None:
    toml = load_policy_file(write(tmp_path / "p.toml", NATIVE_TOML), directory)
    json_ = load_policy_file(
        write(tmp_path / "p.json", {"rules": [{"action": "ALLOW", "asset": "BTC"}, {"action": "BLOCK"}]}),
        directory,
    )
    assert toml.form == json_.form == "native"
    assert [r.asset for r in toml.rules] == [r.asset for r in json_.rules] == ["BTC", None]


def test_scenario_policy_section(tmp_path: Path, directory: Directory) -> None:
    path = write(tmp_path / "s.toml", WORKSPACE_TOML + '\n[[policy.rules]]\naction = "ALLOW"\n')
    policy = load_policy_file(path, directory)
    assert policy.origin == f"{path} [policy]" and len(policy.rules) == 1


def test_scenario_pointing_at_an_export(tmp_path: Path, directory: Directory) -> None:
    (tmp_path / "policies").mkdir()
    write(tmp_path / "policies" / "prod.json", {"rules": [FB_RULE, FB_RULE]})
    path = write(tmp_path / "s.toml", WORKSPACE_TOML + '\n[policy]\nfireblocks_json = "policies/prod.json"\n')
    policy = load_policy_file(path, directory)
    assert policy.form == "fireblocks" and len(policy.rules) == 2
    assert policy.origin == str(tmp_path / "policies" / "prod.json")


def test_error_in_the_referenced_export_names_that_file(tmp_path: Path, directory: Directory) -> None:
    write(tmp_path / "prod.json", {"rules": [FB_RULE, {**FB_RULE, "amountScope": "WEEKLY"}]})
    path = write(tmp_path / "s.toml", WORKSPACE_TOML + '\n[policy]\nfireblocks_json = "prod.json"\n')
    with pytest.raises(PolicyError) as info:
        load_policy_file(path, directory)
    assert (info.value.origin, info.value.rule_index, info.value.field) == (
        str(tmp_path / "prod.json"),
        1,
        "amountScope",
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", '{"rules": [', "invalid JSON at line 1 column 12"),
        ("bad.toml", "[[rules]\n", "invalid TOML"),
        ("p.yaml", "rules: []", "expected a .json or .toml file, got 'p.yaml'"),
        ("list.json", "[1, 2]", "expected an object at the top, got a list"),
        ("none.json", '{"metadata": {}}', "expected a JSON object with 'rules'"),
        ("none.toml", 'name = "x"\n', "expected [[rules]] or a [policy] section"),
        ("bytes.json", b"\xff\xfe{".decode("latin-1"), "invalid JSON"),
    ],
)
def test_unreadable_documents_name_the_file(
    tmp_path: Path, directory: Directory, name: str, content: str, message: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(PolicyError) as info:
        load_policy_file(path, directory)
    assert info.value.origin == str(path) and message in str(info.value)


def test_missing_file(tmp_path: Path, directory: Directory) -> None:
    with pytest.raises(
        PolicyError, match=r"nope\.json: cannot read the policy file: No such file or directory"
    ):
        load_policy_file(tmp_path / "nope.json", directory)


def test_forms_cannot_be_mixed(directory: Directory) -> None:
    rules = [{"action": "ALLOW", "source": "vault:*"}, {"action": "ALLOW"}, FB_RULE]
    with pytest.raises(PolicyError) as info:
        load_policy({"rules": rules}, directory, origin="mixed.json")
    assert (info.value.rule_index, info.value.field) == (2, "type")
    assert "rule 0 uses native key 'source' and rule 2 uses Fireblocks v1 field 'type'" in str(info.value)


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ({"rules": {"action": "ALLOW"}}, "rules", "expected a list of rules, got a table"),
        (
            {"rule": []},
            "rule",
            "unknown key (did you mean 'rules'?); expected one of rules, fireblocks_json, amount_match",
        ),
        (
            {"fireblocks_json": "a.json", "rules": []},
            "fireblocks_json",
            "give either inline rules or fireblocks_json",
        ),
        ({"fireblocks_json": 5}, "fireblocks_json", "expected the path of an exported policy"),
    ],
)
def test_bad_policy_sections(
    directory: Directory, section: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(section, directory, origin="s.toml [policy]")
    assert (info.value.origin, info.value.rule_index, info.value.field) == ("s.toml [policy]", None, field)
    assert message in str(info.value)


def test_an_error_in_the_last_rule_returns_nothing_and_keeps_the_file(
    tmp_path: Path, directory: Directory
) -> None:
    """All or nothing: no policy comes back, and the file is left as it was."""
    content = NATIVE_TOML + '\n[[rules]]\naction = "ALLOW"\namount = { min = -1 }\n'
    path = write(tmp_path / "p.toml", content)
    with pytest.raises(PolicyError) as info:
        load_policy_file(path, directory)
    assert (info.value.rule_index, info.value.field) == (2, "amount.min")
    assert path.read_text() == content
