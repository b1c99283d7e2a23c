"""The scenarios in `scenarios/`: each loads, says what it teaches, runs at full length with its
expectations met, and shows in its trace what its header comment claims.

Each bundled file runs once per test session (the `full` fixture caches it); the default scenario, the
longest, is marked slow (`make demo` and the CLI test run it too).
"""

from __future__ import annotations

import dataclasses
import functools

import pytest

from cosigner_ha.cluster.bundled import SCENARIOS
from cosigner_ha.cluster.runner import run_scenario
from cosigner_ha.cluster.scenario import (
    CallbackFailurePolicy,
    Fault,
    FaultAction,
    Scenario,
    load_scenario,
    load_scenario_text,
    to_toml,
)
from cosigner_ha.node import boot_timing
from tests.cluster.runs import MINUTE, Run

BUNDLED = (
    "active-active-passive",
    "callback-timeout",
    "capacity-saturation",
    "expired-pairing-token",
    "multi-workspace",
    "rolling-upgrade",
    "seed-method-1",
    "seed-method-2",
    "sgx-disk-loss",
    "sgx-disk-loss-no-backup",
    "single-cosigner",
)
SLOW = frozenset({"active-active-passive"})


def bundled(name: str) -> Scenario:
    return load_scenario(SCENARIOS / f"{name}.toml")


def as_run(scenario: Scenario) -> Run:
    result = run_scenario(scenario, keep_events=True)
    start = next(i for i, e in enumerate(result.events) if e.kind == "scenario_start")
    return Run(result, result.events[start].t, start)


@functools.cache
def full(name: str) -> Run:
    return as_run(bundled(name))


def each(names: tuple[str, ...] = BUNDLED) -> list[object]:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


# -- the files ------------------------------------------------------------------------------------------


def test_the_bundled_scenarios_are_these() -> None:
    assert sorted(p.stem for p in SCENARIOS.glob("*.toml")) == sorted(BUNDLED)


@pytest.mark.parametrize("name", BUNDLED)
def test_each_loads_is_named_after_its_file_and_writes_back(name: str) -> None:
    scenario = bundled(name)
    assert scenario.name == name
    assert scenario.scenario.description
    assert load_scenario_text(to_toml(scenario)) == scenario


@pytest.mark.parametrize("name", BUNDLED)
def test_each_opens_with_a_comment_saying_what_it_teaches(name: str) -> None:
    text = (SCENARIOS / f"{name}.toml").read_text(encoding="utf-8")
    header = text[: text.index("[scenario]")]
    assert all(line.startswith("#") or not line.strip() for line in header.splitlines())
    assert "What it teaches:" in header
    assert len(header.splitlines()) >= 5


@pytest.mark.parametrize("name", each())
def test_each_meets_its_expectations_at_full_length(name: str) -> None:
    report = full(name).report
    failed = {
        label: check.detail
        for label, check in {**report.invariants, **report.expectations}.items()
        if not check.ok
    }
    assert report.passed and not failed, failed
    assert report.transactions_total >= 15
    assert report.simulated_seconds >= bundled(name).duration


# -- what each one shows ---------------------------------------------------------------------------------


def treasury_transfers(r: Run, *workloads: str) -> list[str]:
    return [
        e.fields["tx"] for e in r.of("submitted") if e.fields["external_id"].rsplit("-", 1)[0] in workloads
    ]


@pytest.mark.parametrize("name", ["seed-method-1", "seed-method-2"])
def test_seed_methods_sign_exchange_and_fiat_with_the_initiators_co_signer_then_fail_them(name: str) -> None:
    r = full(name)
    before = treasury_transfers(r, "exchange-sweep", "fiat-payout")
    signed = {e.fields["tx"]: e.fields for e in r.of("signed")}
    assert len(before) == 5
    assert {(signed[tx]["api_user"], signed[tx]["node"]) for tx in before} == {
        ("treasury-bot", "sgx-treasury")
    }
    approved = {e.fields["tx"] for e in r.of("approval", approver="tywin", outcome="APPROVED")}
    assert set(before) <= approved, "rule 2 (Method 1) / rule 1 (Method 2): Tywin approves first"
    published = r.of("policy_published")
    assert [r.at(e) for e in published] == [61 * MINUTE], "the edit, once Tywin approved it"
    after = treasury_transfers(r, "exchange-sweep-after", "fiat-payout-after")
    failed = {e.fields["tx"]: e.fields for e in r.of("failed")}
    assert set(after) == set(failed)
    assert {failed[tx]["sub_status"] for tx in after} == {"SIGNER_NOT_FOUND"}
    assert all("exchange/fiat rules name one" in failed[tx]["reason"] for tx in after)
    assert not any(r.of("dispatched", tx=tx) for tx in after), "failed at the policy decision, never probed"


def test_single_cosigner_holds_only_because_nothing_fails() -> None:
    r = full("single-cosigner")
    assert r.report.failovers == () and r.report.expectations["max_failover"].ok
    crashed = as_run(
        dataclasses.replace(
            bundled("single-cosigner"),
            faults=(Fault(at=300.0, action=FaultAction.CRASH, node="nitro-a", for_=300.0),),
        )
    )
    check = crashed.report.expectations["max_failover"]
    assert not check.ok and "nitro-a recovered by itself" in check.detail
    assert not crashed.report.passed
    (impact,) = crashed.report.impacts
    # the crash lasts 5 minutes; nobody could sign from the first waiting transaction until nitro-a came back
    assert impact.self_recovered and impact.resumed_by == "nitro-a" and not impact.took_over
    assert impact.in_flight + impact.arrived > 0 and impact.unavailable_seconds is not None
    assert 60 < impact.unavailable_seconds <= 300
    assert impact.added_latency_max is not None and impact.added_latency_max > 60


def test_callback_timeout_fails_the_batch_unless_the_saas_tries_the_next_node() -> None:
    r = full("callback-timeout")
    batch = treasury_transfers(r, "month-end-payouts")
    errors = r.between("callback_error", 60 * MINUTE, 71 * MINUTE)
    assert errors and {e.fields["error"] for e in errors} == {"TIMEOUT"}
    assert all(len(r.of("dispatched", tx=tx)) == 1 for tx in batch), "fail: no other node is tried"
    assert not r.between("signed", 60 * MINUTE + 1, 70 * MINUTE)

    scenario = bundled("callback-timeout")
    patient = as_run(
        dataclasses.replace(
            scenario,
            saas=dataclasses.replace(scenario.saas, callback_failure=CallbackFailurePolicy.NEXT_NODE),
        )
    )
    assert set(patient.statuses()) == {"COMPLETED"}
    batch = treasury_transfers(patient, "month-end-payouts")
    signed_at = {e.fields["tx"]: patient.at(e) for e in patient.of("signed")}
    assert all(signed_at[tx] >= 70 * MINUTE for tx in batch), "signed once the handler answers again"
    assert all(len(patient.of("dispatched", tx=tx)) > 1 for tx in batch), "tried on node after node"


def test_rolling_upgrade_restarts_each_node_once_and_loses_nothing() -> None:
    r = full("rolling-upgrade")
    for at, node in ((20, "nitro-a"), (40, "nitro-b"), (60, "nitro-c")):
        states = [(t, s) for t, s, _ in r.states(node)]
        assert states == [(at * MINUTE, "draining"), (at * MINUTE, "stopped"), *states[2:]]
        assert [s for _, s in states[2:]] == ["booting", "running"]
    assert set(r.statuses()) == {"COMPLETED"}
    assert not r.of("failover"), "no attempt had to move to another node"


def test_sgx_disk_loss_with_a_backup_comes_back_with_the_same_share() -> None:
    r = full("sgx-disk-loss")
    boot = r.of("node_boot", node="sgx-dc1")
    sgx = boot_timing.DEFAULTS["SGX"]  # back at 50m, then the restore, the enclave start and attestation
    back = 50 * MINUTE + sgx.restore + sgx.boot
    assert len(boot) == 1 and r.at(boot[0]) == pytest.approx(back, abs=1) and boot[0].fields["users"]
    (restored,) = r.of("restore_finished", node="sgx-dc1")
    assert r.at(restored) == pytest.approx(50 * MINUTE + sgx.restore, abs=0.001)
    keys = {e.fields["public_key"] for e in r.of("signed", node="sgx-dc1")}
    assert len(keys) == 1, "the same signing key before and after the restore"
    assert r.signed("sgx-dc2", 0, 30 * MINUTE) == 0 and r.signed("sgx-dc2", 30 * MINUTE, 50 * MINUTE) > 10


def test_sgx_disk_loss_without_a_backup_needs_a_new_pairing() -> None:
    r = full("sgx-disk-loss-no-backup")
    boot = r.of("node_boot", node="sgx-dc1")
    assert len(boot) == 1 and boot[0].fields["users"] == [], "a brand-new co-signer"
    assert r.signed("sgx-dc1", 30 * MINUTE, 66 * MINUTE) == 0
    users = {e.fields["api_user"] for e in r.between("signed", 67 * MINUTE, 90 * MINUTE, node="sgx-dc1")}
    assert users == {"signer-3"}


def test_expired_pairing_token_is_refused_and_a_fresh_one_pairs() -> None:
    r = full("expired-pairing-token")
    errors = r.of("fault_error")
    assert len(errors) == 1 and r.at(errors[0]) == 45 * MINUTE
    assert errors[0].fields["code"] == "TOKEN_EXPIRED" and errors[0].fields["api_user"] == "signer-b"
    paired = r.of("paired", node="nitro-b")
    assert len(paired) == 1 and r.at(paired[0]) == pytest.approx(51 * MINUTE, abs=1)
    assert r.signed("nitro-b", 21 * MINUTE, 51 * MINUTE) == 0 and r.signed("nitro-b", 52 * MINUTE) > 10


@pytest.mark.slow
def test_active_active_passive_falls_back_to_the_standby_only_while_the_region_is_down() -> None:
    r = full("active-active-passive")
    assert r.signed("sgx-dc1", 0, 120 * MINUTE) == 0
    assert r.signed("sgx-dc1", 121 * MINUTE, 165 * MINUTE) > 50
    assert r.signed("sgx-dc1", 170 * MINUTE) == 0


def test_capacity_saturation_one_cosigner_saturates_where_two_do_not() -> None:
    """The same load, four minutes of it: two nodes keep the p99 within the expectation, one does not."""
    base = bundled("capacity-saturation")
    short = dataclasses.replace(base, scenario=dataclasses.replace(base.scenario, duration=4 * MINUTE))
    two = as_run(short).report
    one = as_run(dataclasses.replace(short, nodes=short.nodes[:1])).report
    assert two.passed, two.failed_checks()
    assert set(two.signed_by) == {"nitro-a", "nitro-b"}  # the busy node answers probes later: work spreads
    assert one.transactions_total == two.transactions_total  # the same offered load
    assert two.latency.p99 is not None and one.latency.p99 is not None
    assert two.latency.p99 <= 30.0 < one.latency.p99
    assert one.latency.p99 > 4 * two.latency.p99
    assert not one.expectations["max_signing_latency_p99"].ok
