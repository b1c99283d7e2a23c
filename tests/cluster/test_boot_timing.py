"""Boots take time: a node comes back from a crash after its enclave kind's start and attestation time."""

from __future__ import annotations

import pytest

from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import ScenarioError, load_scenario_text, to_toml
from cosigner_ha.cluster.world import boot_times
from cosigner_ha.node.boot_timing import DEFAULTS, BootTiming

TEXT = """
[scenario]
name = "boot"
seed = 3
duration = "20m"

[workspace]
name = "acme"
prices_usd = {{ ETH = 3000 }}
vaults = ["hot"]
wallets = ["partner-a"]

[[api_users]]
name = "ops"
role = "EDITOR"
[[api_users]]
name = "signer-a"
role = "SIGNER"

[[nodes]]
name = "node-a"
enclave = "{enclave}"
site = "aws/us-east-1/a"
api_users = ["signer-a"]
{extra}

[[workload]]
name = "w"
rate = "2/min"
initiator = "ops"
asset = "ETH"
amount = {{ min = 0.1, max = 1 }}
source = "vault:hot"
destination = "wallet:partner-a"

[[faults]]
at = "5m"
action = "crash"
node = "node-a"
for = "2m"
"""


def back_after_crash(enclave: str, extra: str = "") -> float:
    """Seconds from the crash's end (7m) to the node's next boot record."""
    scenario = load_scenario_text(TEXT.format(enclave=enclave, extra=extra))
    events = run_scenario(scenario).events
    start = next(e.t for e in events if e.kind == "scenario_start")
    boots = [e.t - start for e in events if e.kind == "node_boot" and e.t - start > 5 * 60]
    return boots[0] - 7 * 60


@pytest.mark.parametrize(
    ("enclave", "kind"), [("sgx", "SGX"), ("nitro", "AWS-NITRO"), ("gcp", "GCP-CONFSPACE")]
)
def test_a_node_comes_back_after_its_kinds_boot_time(enclave: str, kind: str) -> None:
    typical = DEFAULTS[kind]
    late = back_after_crash(enclave, f'boot_time = "{typical.start:g}s"\nattest_time = "{typical.attest:g}s"')
    expected = typical.boot
    assert expected <= late < expected + 5  # plus the attestation round trip over the simulated network


def test_without_the_keys_a_node_boots_at_once_as_before() -> None:
    scenario = load_scenario_text(TEXT.format(enclave="sgx", extra=""))
    assert boot_times(scenario.nodes[0]) == BootTiming()
    assert back_after_crash("sgx") < 1.0


def test_scenario_keys_set_the_timing_and_write_back() -> None:
    extra = 'boot_time = "3m"\nattest_time = "10s"\nrestore_time = "1m"'
    scenario = load_scenario_text(TEXT.format(enclave="nitro", extra=extra))
    assert boot_times(scenario.nodes[0]) == BootTiming(start=180.0, attest=10.0, restore=60.0)
    assert load_scenario_text(to_toml(scenario)) == scenario
    late = back_after_crash("nitro", extra)
    assert 190.0 <= late < 195.0


@pytest.mark.parametrize("key", ["boot_time", "attest_time", "restore_time"])
def test_a_bad_boot_duration_names_its_key(key: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(TEXT.format(enclave="sgx", extra=f'{key} = "soon"'), "b.toml")
    assert f"b.toml: nodes[0].{key}: " in str(info.value)


def test_negative_timings_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        BootTiming(start=-1.0)
