"""Boots take time: a node comes back from a crash after its enclave kind's start and attestation time."""

from __future__ import annotations

from pathlib import Path

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
    events = run_scenario(scenario, keep_events=True).events
    start = next(e.t for e in events if e.kind == "scenario_start")
    boots = [e.t - start for e in events if e.kind == "node_boot" and e.t - start > 5 * 60]
    return boots[0] - 7 * 60


@pytest.mark.parametrize(
    ("enclave", "kind"), [("sgx", "SGX"), ("nitro", "AWS-NITRO"), ("gcp", "GCP-CONFSPACE")]
)
def test_without_the_keys_a_node_comes_back_after_its_kinds_boot_time(enclave: str, kind: str) -> None:
    scenario = load_scenario_text(TEXT.format(enclave=enclave, extra=""))
    assert boot_times(scenario.nodes[0]) == DEFAULTS[kind]
    expected = DEFAULTS[kind].boot
    late = back_after_crash(enclave)
    assert expected <= late < expected + 5  # plus the attestation round trip over the simulated network


def test_zero_keys_boot_at_once() -> None:
    extra = 'boot_time = "0s"\nattest_time = "0s"\nrestore_time = "0s"'
    scenario = load_scenario_text(TEXT.format(enclave="sgx", extra=extra))
    assert boot_times(scenario.nodes[0]) == BootTiming()
    assert back_after_crash("sgx", extra) < 1.0


def test_every_enclave_kind_has_documented_non_zero_boot_defaults() -> None:
    for kind in ("SGX", "AWS-NITRO", "GCP-CONFSPACE"):
        assert DEFAULTS[kind].start > 0 and DEFAULTS[kind].attest > 0 and DEFAULTS[kind].restore > 0
    text = (Path(__file__).parents[2] / "docs" / "node.md").read_text(encoding="utf-8")
    section = text[text.index("## Boot timing") :]
    for kind, timing in DEFAULTS.items():
        row = next(line for line in section.splitlines() if line.startswith(f"| {kind} |"))
        for value in (timing.start, timing.attest, timing.restore):
            assert f"{value:g} s" in row or value == 0, (kind, row)


DISK_LOSS = """
[[faults]]
at = "10m"
action = "disk-loss"
node = "node-a"
backup = true
for = "1m"
"""


def back_after_restore(restore: str) -> tuple[float, float, float]:
    """(restore_started, restore_finished, running again), in seconds after the disk-loss ends (11m)."""
    extra = f'boot_time = "10s"\nattest_time = "2s"\nrestore_time = "{restore}"'
    text = TEXT.format(enclave="sgx", extra=extra).replace('at = "5m"', 'at = "2m"') + DISK_LOSS
    events = run_scenario(load_scenario_text(text), keep_events=True).events
    start = next(e.t for e in events if e.kind == "scenario_start")

    def first(kind: str, **match: object) -> float:
        found = [
            e.t - start - 11 * 60
            for e in events
            if e.kind == kind
            and e.t - start >= 11 * 60
            and all(e.fields.get(k) == v for k, v in match.items())
        ]
        return found[0] if found else float("nan")

    return first("restore_started"), first("restore_finished"), first("node_state", state="running")


def test_a_restore_from_backup_delays_the_nodes_return_by_the_restore_time() -> None:
    started, finished, running = back_after_restore("45s")
    assert started == 0.0 and finished == 45.0
    assert 45.0 + 12.0 <= running < 45.0 + 12.0 + 5  # then the boot: start and attestation
    instant = back_after_restore("0s")
    assert instant[2] < 12.0 + 5 and instant[2] + 45.0 == pytest.approx(running, abs=2.0)


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
