"""`[[nodes]] signing_sessions` and `signing_round_time`: read, checked, written back, defaulted by enclave."""

from __future__ import annotations

import pytest

from cosigner_ha.cluster.scenario import Enclave, ScenarioError, load_scenario_text, to_toml
from cosigner_ha.cluster.world import signing_capacity
from cosigner_ha.node.capacity import DEFAULTS, SigningCapacity

BASE = """
[scenario]
name = "cap"
seed = 1
duration = "10m"

[workspace]
name = "acme"

[[api_users]]
name = "signer-a"
role = "SIGNER"

[[nodes]]
name = "node-a"
enclave = "{enclave}"
site = "aws/us-east-1/a"
api_users = ["signer-a"]
{extra}
"""


def text(extra: str = "", enclave: str = "sgx") -> str:
    return BASE.format(extra=extra, enclave=enclave)


@pytest.mark.parametrize(
    ("enclave", "kind"), [("sgx", "SGX"), ("nitro", "AWS-NITRO"), ("gcp", "GCP-CONFSPACE")]
)
def test_a_node_without_the_keys_gets_its_enclave_kinds_default(enclave: str, kind: str) -> None:
    node = load_scenario_text(text(enclave=enclave)).nodes[0]
    assert node.signing_sessions is None and node.signing_round_time is None
    assert signing_capacity(node) == DEFAULTS[kind]


def test_the_communal_default_is_the_sandbox_one() -> None:
    scenario = load_scenario_text(
        text(enclave="communal").replace('name = "acme"', 'name = "acme"\nenv = "testnet"')
    )
    node = scenario.nodes[0]
    assert node.enclave is Enclave.COMMUNAL
    assert signing_capacity(node) == DEFAULTS["SANDBOX"]


def test_given_keys_override_the_default_each_on_its_own() -> None:
    node = load_scenario_text(text('signing_sessions = 3\nsigning_round_time = "250ms"')).nodes[0]
    assert signing_capacity(node) == SigningCapacity(3, 0.25)
    only_sessions = load_scenario_text(text("signing_sessions = 2")).nodes[0]
    assert signing_capacity(only_sessions) == SigningCapacity(2, DEFAULTS["SGX"].round_time)
    instant = load_scenario_text(text('signing_round_time = "0s"')).nodes[0]
    assert signing_capacity(instant).rate == float("inf")


def test_the_keys_write_back() -> None:
    scenario = load_scenario_text(text('signing_sessions = 3\nsigning_round_time = "1.5s"'))
    written = to_toml(scenario)
    assert "signing_sessions = 3" in written and 'signing_round_time = "1s500ms"' in written
    assert load_scenario_text(written) == scenario


@pytest.mark.parametrize(
    ("extra", "path", "expected"),
    [
        ("signing_sessions = 0", "nodes[0].signing_sessions", "integer"),
        ('signing_sessions = "4"', "nodes[0].signing_sessions", "integer"),
        ('signing_round_time = "fast"', "nodes[0].signing_round_time", "duration"),
        ('signing_round_time = "-1s"', "nodes[0].signing_round_time", "duration"),
        ("signing_sesions = 2", "nodes[0].signing_sesions", "did you mean 'signing_sessions'"),
    ],
)
def test_bad_values_are_refused_with_their_key_path(extra: str, path: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text(extra), "cap.toml")
    lines = [str(p) for p in info.value.problems if p.path == path]
    assert lines, str(info.value)
    assert lines[0].startswith(f"cap.toml: {path}: ")
    assert expected in lines[0], lines[0]
