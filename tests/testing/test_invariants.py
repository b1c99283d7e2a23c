"""The invariant checks find what they claim to find, on a real run's trace and on tampered copies of it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cosigner_ha.cluster.bundled import find_scenario, load
from cosigner_ha.cluster.runner import RunResult, run_scenario
from cosigner_ha.cluster.scenario import Fault, FaultAction, Scenario
from cosigner_ha.env import Event
from cosigner_ha.testing import invariants as inv


@pytest.fixture(scope="module")
def good(single_cosigner: Scenario) -> RunResult:
    return run_scenario(single_cosigner, keep_events=True)


def _replace(events: list[Event], kind: str, **fields: object) -> list[Event]:
    """The events with the first of `kind` changed."""
    out = list(events)
    i = next(i for i, e in enumerate(out) if e.kind == kind)
    out[i] = dataclasses.replace(out[i], fields={**out[i].fields, **fields})
    return out


def test_a_clean_run_passes_every_check(good: RunResult) -> None:
    verdicts = inv.check_invariants(good, {**inv.SAFETY, **inv.liveness()})
    assert all(v.ok for v in verdicts.values()), verdicts
    inv.assert_invariants(good)
    inv.assert_passed(good)


def test_a_second_release_for_one_transaction_is_caught(good: RunResult) -> None:
    signed = next(e for e in good.events if e.kind == "signed")
    with pytest.raises(
        inv.InvariantViolation, match=r"at_most_one_signature: 1 transaction\(s\) signed more"
    ):
        inv.assert_invariants([*good.events, signed], inv.SAFETY)


def test_a_forged_signature_is_caught(good: RunResult) -> None:
    signed = next(e for e in good.events if e.kind == "signed")
    forged = "00" + signed.fields["signature"][2:]
    verdict = inv.signatures_verify(_replace(good.events, "signed", signature=forged))
    assert not verdict.ok and signed.fields["tx"] in verdict.detail


def test_a_signature_without_the_node_share_is_caught(good: RunResult) -> None:
    events = [e for e in good.events if not (e.kind == "share_released" and e.fields["node"] == "nitro-a")]
    verdict = inv.signed_with_node_share(events)
    assert not verdict.ok and "without the node's released share" in verdict.detail
    assert inv.signed_with_node_share(good.events).ok
    two_of_three = [
        dataclasses.replace(e, fields={**e.fields, "signers": [2, 3]}) if e.kind == "mpc_round" else e
        for e in good.events
    ]
    assert not inv.signed_with_node_share(two_of_three).ok


def test_a_node_on_a_tampered_image_must_not_open_its_secrets(good: RunResult) -> None:
    fault = Event(
        10.0, "fault", {"index": 0, "action": "attestation", "target": "nitro-a", "nodes": ["nitro-a"]}
    )
    running = Event(11.0, "node_state", {"node": "nitro-a", "state": "running", "reason": ""})
    end = Event(
        20.0, "fault_end", {"index": 0, "action": "attestation", "target": "nitro-a", "nodes": ["nitro-a"]}
    )
    assert not inv.attestation_gates_secrets([fault, running, end]).ok
    assert inv.attestation_gates_secrets([fault, end, running]).ok
    # the tampered image runs from the node's restart on it: a share the process still on the signed image
    # released before it was killed (the runtime's launcher kills it a moment after the fault) is its own
    share = Event(10.01, "share_released", {"node": "nitro-a", "nonce_id": "n1"})
    crashed = Event(10.02, "node_state", {"node": "nitro-a", "state": "crashed", "reason": "killed"})
    late = Event(12.0, "share_released", {"node": "nitro-a", "nonce_id": "n2"})
    assert inv.attestation_gates_secrets([fault, share, crashed, end]).ok
    assert not inv.attestation_gates_secrets([fault, share, crashed, late, end]).ok
    assert not inv.attestation_gates_secrets([fault, crashed, running, end]).ok


def test_the_attestation_check_holds_on_a_real_tampered_image(single_cosigner: Scenario) -> None:
    scenario = dataclasses.replace(
        single_cosigner, faults=(Fault(300.0, FaultAction.ATTESTATION, node="nitro-a", for_=300.0),)
    )
    result = run_scenario(scenario, keep_events=True)
    assert any(e.kind == "fault" and e.fields["action"] == "attestation" for e in result.events)
    assert inv.attestation_gates_secrets(result.events).ok
    assert inv.signed_with_node_share(result.events).ok


def test_a_standby_is_chosen_only_when_no_active_node_answered_available() -> None:
    def round_(chosen: str, active_available: bool) -> list[Event]:
        return [
            Event(1.0, "probe_sent", {"tx": "t1", "probe": "p1", "cosigner": "c-active", "standby": False}),
            Event(1.0, "probe_sent", {"tx": "t1", "probe": "p2", "cosigner": "c-standby", "standby": True}),
            Event(
                1.1,
                "probe_answered",
                {"tx": "t1", "probe": "p2", "cosigner": "c-standby", "available": True, "late": False},
            ),
            Event(
                1.2,
                "probe_answered",
                {
                    "tx": "t1",
                    "probe": "p1",
                    "cosigner": "c-active",
                    "available": active_available,
                    "late": False,
                },
            ),
            Event(4.0, "probe_result", {"tx": "t1", "chosen": chosen}),
        ]

    wrong = inv.standby_only_when_no_active(round_("c-standby", True))
    assert not wrong.ok and "c-standby" in wrong.detail and "c-active" in wrong.detail
    assert inv.standby_only_when_no_active(round_("c-active", True)).ok
    assert inv.standby_only_when_no_active(round_("c-standby", False)).ok  # the active one was not available
    # An active answer of an earlier round does not excuse or condemn a later round.
    later = [Event(5.0, "probe_result", {"tx": "t1", "chosen": "c-standby"})]
    assert inv.standby_only_when_no_active(round_("c-active", True) + later).ok


def test_the_standby_check_holds_on_the_bundled_active_active_passive_run() -> None:
    result = run_scenario(load(find_scenario("active-active-passive")), keep_events=True)
    chosen = {e.fields.get("chosen") for e in result.events if e.kind == "probe_result"}
    standby = {e.fields["cosigner"] for e in result.events if e.kind == "probe_sent" and e.fields["standby"]}
    assert chosen & standby  # the region outage hands work to the standby
    assert inv.standby_only_when_no_active(result.events).ok


def test_liveness_checks_an_open_transaction_and_a_late_one(good: RunResult) -> None:
    cut = [e for e in good.events if e.kind != "completed"]
    assert not inv.all_terminal(cut).ok
    check = inv.terminal_within(0.001)
    verdict = check(good.events)
    assert not verdict.ok and "ended later than 0 s" in verdict.detail
    assert inv.terminal_within(3600)(good.events).ok


def test_assert_passed_names_a_failed_expectation(single_cosigner: Scenario) -> None:
    scenario = dataclasses.replace(
        single_cosigner, faults=(Fault(600.0, FaultAction.CRASH, node="nitro-a", for_=300.0),)
    )
    result = run_scenario(scenario, keep_events=True)
    with pytest.raises(inv.InvariantViolation) as caught:
        inv.assert_passed(result)
    assert list(caught.value.failed) == ["expectation max_failover"]
    assert "seed 7" in str(caught.value) and "nitro-a recovered by itself" in str(caught.value)


def test_a_trace_file_reads_back_to_the_same_checks(single_cosigner: Scenario, tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    result = run_scenario(single_cosigner, trace_path=path, keep_events=True)
    events = inv.read_trace(path)
    assert [(e.t, e.kind) for e in events] == [(e.t, e.kind) for e in result.events]
    assert inv.check_invariants(events) == inv.check_invariants(result)


def test_an_exchange_or_fiat_transfer_signed_by_anyone_but_its_one_signer_is_caught() -> None:
    def trace(source: str, allowed: list[str], signer: str) -> list[Event]:
        return [
            Event(0.0, "submitted", {"tx": "t1", "source": source}),
            Event(0.1, "policy_decision", {"tx": "t1", "designated_signers": allowed}),
            Event(2.0, "signed", {"tx": "t1", "api_user": signer}),
        ]

    check = inv.exchange_fiat_single_signer
    assert check(trace("exchange:exch-main", ["bot"], "bot")).ok
    wrong = check(trace("exchange:exch-main", ["bot"], "signer-a"))
    assert not wrong.ok and "signed by signer-a, not bot" in wrong.detail
    assert "names 2 signers" in check(trace("fiat:bank-usd", ["a", "b"], "a")).detail
    assert check(trace("vault:hot", ["a", "b"], "a")).ok  # a vault source may go to a group


def test_the_single_signer_check_holds_on_the_bundled_seed_method_runs() -> None:
    for name in ("seed-method-1", "seed-method-2"):
        result = run_scenario(load(find_scenario(name)), keep_events=True)
        exchange = [
            e for e in result.events if e.kind == "submitted" and e.fields["source"][:4] in ("exch", "fiat")
        ]
        assert exchange
        assert inv.exchange_fiat_single_signer(result.events).ok
