"""Sandbox, testnet and mainnet workspaces and the communal co-signer (issue 20 item 4, the seed's rules)."""

from __future__ import annotations

import pytest

from cosigner_ha.cluster.scenario import Enclave, ScenarioError, load_scenario_text

TEXT = """
[scenario]
name = "env"
seed = 1
duration = "10m"

[workspace]
name = "acme"
env = "{env}"

[[users]]
name = "owner"
role = "OWNER"

[[api_users]]
name = "signer-a"
role = "SIGNER"
[[api_users]]
name = "signer-b"
role = "ADMIN"
[[api_users]]
name = "viewer"
role = "VIEWER"

[[nodes]]
name = "node-a"
enclave = "{enclave}"
site = "fireblocks/sandbox"
api_users = {served}
"""


def load(env: str, enclave: str, served: str = '["signer-a"]') -> object:
    return load_scenario_text(TEXT.format(env=env, enclave=enclave, served=served), "env.toml")


def test_a_sandbox_pairs_every_signing_api_user_with_the_communal_cosigner() -> None:
    scenario = load_scenario_text(TEXT.format(env="sandbox", enclave="communal", served="[]"))
    [node] = scenario.nodes
    assert node.enclave is Enclave.COMMUNAL
    assert node.api_users == ("signer-a", "signer-b")  # not the VIEWER, who cannot sign


def test_listed_pairings_come_first_and_are_not_repeated() -> None:
    scenario = load_scenario_text(TEXT.format(env="sandbox", enclave="communal", served='["signer-b"]'))
    assert scenario.nodes[0].api_users == ("signer-b", "signer-a")


@pytest.mark.parametrize("enclave", ["sgx", "nitro", "gcp"])
def test_a_sandbox_refuses_self_hosted_cosigners(enclave: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load("sandbox", enclave)
    text = str(info.value)
    assert "env.toml: nodes[0].enclave: a sandbox workspace signs with the communal co-signer only" in text
    assert 'expected "communal"' in text


def test_testnet_may_choose_the_communal_cosigner_or_its_own_and_pairs_nothing_by_itself() -> None:
    communal = load_scenario_text(TEXT.format(env="testnet", enclave="communal", served="[]"))
    assert communal.nodes[0].api_users == ()  # by choice: only what the file pairs
    own = load_scenario_text(TEXT.format(env="testnet", enclave="nitro", served='["signer-a"]'))
    assert own.nodes[0].enclave is Enclave.NITRO


def test_mainnet_refuses_the_communal_cosigner() -> None:
    with pytest.raises(ScenarioError, match="testnet and sandbox workspaces only"):
        load("mainnet", "communal")
