"""Every fault action of DESIGN.md section 4, injected into a small running cluster, judged by its effect.

The cluster (tests/cluster/runs.py): node `a` (Nitro, aws/us-east-1/a) serves API user `sa`, node `b`
(SGX, onprem/dc1) serves `sb`; the default policy lets either sign; a workload submits three transfers a
minute for twenty minutes. Most faults hit `a` from 5m to 10m: during them `b` must carry the load, after
them `a` must sign again, and no transaction may be lost.
"""

from __future__ import annotations

import statistics

import pytest

from cosigner_ha.cluster.scenario import scenario_from_dict
from cosigner_ha.cluster.world import attempt_timeout, saas_config
from tests.cluster.runs import BASE, MINUTE, Run, run_faults, scenario_dict

FROM, TO = 5 * MINUTE, 10 * MINUTE

#: Boots, attestations and restores that take no time: for the tests below that time a node's return to
#: the instant a fault ends (the per-enclave boot times are tested in test_boot_timing.py).
INSTANT_BOOT = {"boot_time": "0s", "attest_time": "0s", "restore_time": "0s"}


def instant(nodes: list[dict[str, object]] | None = None) -> list[dict[str, object]]:
    """The nodes (default: the base cluster's) with instant boots."""
    return [{**node, **INSTANT_BOOT} for node in (nodes if nodes is not None else BASE["nodes"])]


def all_completed(r: Run) -> None:
    assert r.report.passed, {k: c.detail for k, c in r.report.invariants.items() if not c.ok}
    assert set(r.statuses()) == {"COMPLETED"}, r.statuses()


def fault_span(r: Run, index: int = 0) -> tuple[float, float | None]:
    start = r.at(r.of("fault", index=index)[0])
    ends = r.of("fault_end", index=index)
    return start, (r.at(ends[0]) if ends else None)


def silent_then_back(r: Run, node: str, *, back_within: float = 2 * MINUTE) -> None:
    """`node` released no signature during the fault, the other node did, and `node` is back after it:
    it answers probes available within `back_within` and signs again (when, depends on probe races)."""
    other = "b" if node == "a" else "a"
    assert r.signed(node, FROM + 0.001, TO) == 0
    assert r.signed(other, FROM, TO) >= 10
    available = [r.at(e) for e in r.of("probe_reply", node=node, available=True) if r.at(e) >= TO]
    assert available and available[0] <= TO + back_within, available[:1]
    assert r.signed(node, TO) > 0


def lane(r: Run, node: str) -> tuple[tuple[float, float], ...]:
    return next(x.down for x in r.report.lanes if x.name == node)


# -- process faults -------------------------------------------------------------------------------------


def test_crash_kills_the_process_and_for_boots_it_again() -> None:
    r = run_faults({"at": "5m", "action": "crash", "node": "a", "for": "5m"}, nodes=instant())
    assert fault_span(r) == (FROM, TO)
    states = r.states("a")
    assert states[0] == (FROM, "crashed", "crash fault")
    assert [s for t, s, _ in states if t >= TO][-1] == "running"
    assert r.of("node_boot", node="a")[0].fields["users"], "it came back with its API user"
    silent_then_back(r, "a")
    assert lane(r, "a") == ((FROM, TO),)
    all_completed(r)


def test_crash_without_for_lasts_to_the_end() -> None:
    r = run_faults({"at": "5m", "action": "crash", "site": "aws"})
    assert fault_span(r) == (FROM, None)
    assert [s for _, s, _ in r.states("a")] == ["crashed"]
    assert r.signed("a", FROM + 0.001) == 0
    assert lane(r, "a")[0][0] == FROM and lane(r, "a")[0][1] >= 20 * MINUTE
    all_completed(r)


def test_restart_stops_gracefully_and_boots_at_once_without_losing_a_transaction() -> None:
    r = run_faults({"at": "5m", "action": "restart", "node": "a"}, nodes=instant())
    assert [(t, s) for t, s, _ in r.states("a")] == [
        (FROM, "draining"),
        (FROM, "stopped"),
        (FROM, "booting"),
        (FROM, "running"),
    ]
    assert len(r.of("node_boot", node="a")) == 1
    assert r.signed("a", FROM, TO) > 0
    all_completed(r)


def test_restart_after_a_crash_boots_the_crashed_node() -> None:
    r = run_faults(
        {"at": "5m", "action": "crash", "node": "a"},
        {"at": "8m", "action": "restart", "node": "a"},
        nodes=instant(),
    )
    assert [(t, s) for t, s, _ in r.states("a")][:3] == [
        (FROM, "crashed"),
        (8 * MINUTE, "booting"),
        (8 * MINUTE, "running"),
    ]
    assert r.signed("a", FROM + 0.001, 8 * MINUTE) == 0
    assert r.signed("a", 8 * MINUTE) > 0
    all_completed(r)


def test_pause_freezes_the_node_without_killing_it() -> None:
    r = run_faults({"at": "5m", "action": "pause", "node": "a", "for": "5m"})
    assert r.states("a") == [], "a paused process does not change state"
    assert not r.of("node_boot", node="a"), "and does not boot again"
    silent_then_back(r, "a")
    assert lane(r, "a") == ((FROM, TO),)
    all_completed(r)


def test_site_outage_crashes_every_node_under_the_site_and_powers_them_back() -> None:
    r = run_faults(
        {"at": "5m", "action": "site-outage", "site": "aws/us-east-1", "for": "5m"},
        nodes=instant(
            [
                {"name": "a", "enclave": "nitro", "site": "aws/us-east-1/a", "api_users": ["sa"]},
                {"name": "a2", "enclave": "nitro", "site": "aws/us-east-1/b", "api_users": ["sc"]},
                {"name": "b", "enclave": "sgx", "site": "onprem/dc1", "api_users": ["sb"]},
            ]
        ),
        api_users=[
            {"name": "ops", "role": "EDITOR"},
            {"name": "sa", "role": "SIGNER"},
            {"name": "sb", "role": "SIGNER"},
            {"name": "sc", "role": "SIGNER"},
        ],
    )
    assert r.of("fault")[0].fields["nodes"] == ["a", "a2"]
    for node in ("a", "a2"):
        assert r.states(node)[0] == (FROM, "crashed", "site-outage fault")
        assert r.signed(node, FROM + 0.001, TO) == 0
        assert lane(r, node) == ((FROM, TO),)
    assert r.signed("b", FROM, TO) >= 10
    assert r.signed("a", TO) + r.signed("a2", TO) > 0
    assert r.states("b") == []
    all_completed(r)


# -- network faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [{"node": "a"}, {"site": "aws/us-east-1"}, {"link": ["a", "saas"]}, {"link": ["saas", "a"]}],
    ids=["node", "site", "link", "link-reversed"],
)
def test_partition_cuts_the_node_from_the_saas_until_healed(target: dict[str, object]) -> None:
    r = run_faults({"at": "5m", "action": "partition", "for": "5m", **target})
    assert fault_span(r) == (FROM, TO)
    assert r.states("a") == [], "the process keeps running behind the cut"
    silent_then_back(r, "a")
    assert lane(r, "a") == ((FROM, TO),)
    all_completed(r)


def test_a_link_between_two_nodes_does_not_cut_either_from_the_saas() -> None:
    r = run_faults({"at": "5m", "action": "partition", "link": ["a", "b"], "for": "5m"})
    assert r.signed("a", FROM, TO) > 0 and r.signed("b", FROM, TO) > 0
    all_completed(r)


def probe_round_trips(r: Run, node: str, start: float, stop: float) -> list[float]:
    """Seconds from the SaaS sending a probe to `node` until the node's answer arrived."""
    answered = {e.fields["probe"]: e.t for e in r.of("probe_answered", cosigner=node)}
    return [
        answered[e.fields["probe"]] - e.t
        for e in r.between("probe_sent", start, stop, cosigner=node)
        if e.fields["probe"] in answered
    ]


@pytest.mark.parametrize("target", [{"node": "a"}, {"link": ["a", "saas"]}], ids=["node", "link"])
def test_latency_adds_one_way_delay_and_the_faster_node_wins_the_probes(target: dict[str, object]) -> None:
    r = run_faults({"at": "5m", "action": "latency", "amount": "2s", "for": "5m", **target})
    during = probe_round_trips(r, "a", FROM + 10, TO - 10)
    before = probe_round_trips(r, "a", 0, FROM)
    after = probe_round_trips(r, "a", TO + 10, 20 * MINUTE)
    assert during and min(during) >= 4.0, "a probe and its answer each take the added 2 s"
    assert max(before) < 0.5 and max(after) < 0.5
    assert r.signed("a", FROM + 10, TO) == 0, "b answers every probe first"
    assert r.signed("a", TO + 10) > 0
    all_completed(r)


def test_latency_jitter_spreads_the_delay() -> None:
    r = run_faults(
        {"at": "5m", "action": "latency", "node": "a", "amount": "1s", "jitter": "2s", "for": "5m"}
    )
    during = probe_round_trips(r, "a", FROM + 10, TO - 10)
    assert min(during) >= 2.0
    assert max(during) - min(during) > 1.0, "two draws in [0, 2 s] per round trip"
    all_completed(r)


def test_loss_shows_as_retransmission_delay() -> None:
    r = run_faults({"at": "5m", "action": "loss", "node": "a", "ratio": 0.9, "for": "5m"})
    during = probe_round_trips(r, "a", FROM + 10, TO - 10)
    outside = probe_round_trips(r, "a", 0, FROM) + probe_round_trips(r, "a", TO + 30, 20 * MINUTE)
    assert statistics.median(during) > 10 * statistics.median(outside)
    assert statistics.median(during) > 1.0, "nine in ten transmissions lost, each resent 200 ms later"
    all_completed(r)


def test_total_loss_cuts_the_link_like_a_partition() -> None:
    r = run_faults({"at": "5m", "action": "loss", "node": "a", "ratio": 1.0, "for": "5m"})
    assert fault_span(r) == (FROM, TO)
    silent_then_back(r, "a")
    all_completed(r)


# -- callback handler faults ----------------------------------------------------------------------------

CALLBACK = {"latency": "100ms"}


def outcomes_by_submission(r: Run, start: float, stop: float) -> dict[str, int]:
    """Final status of the transactions submitted in [start, stop)."""
    submitted = {e.fields["tx"] for e in r.between("submitted", start, stop)}
    found: dict[str, int] = {}
    for e in r.events:
        if (
            e.kind in ("completed", "failed", "rejected", "cancelled", "blocked")
            and e.fields["tx"] in submitted
        ):
            key = f"{e.fields['status']}/{e.fields['sub_status']}"
            found[key] = found.get(key, 0) + 1
    return found


def test_callback_timeout_fails_the_requests_it_leaves_unanswered() -> None:
    r = run_faults(
        {"at": "5m", "action": "callback", "callback": "cb", "mode": "timeout", "for": "5m"},
        callback=CALLBACK,
    )
    assert outcomes_by_submission(r, 0, FROM - 60) == {
        "COMPLETED/None": len(r.between("submitted", 0, FROM - 60))
    }
    during = outcomes_by_submission(r, FROM, TO - 60)
    assert set(during) == {"FAILED/TIMEOUT"}, during
    errors = r.between("callback_error", FROM, TO + 60)
    assert errors and {e.fields["error"] for e in errors} == {"TIMEOUT"}
    assert set(outcomes_by_submission(r, TO + 60, 20 * MINUTE)) == {"COMPLETED/None"}
    assert r.report.invariants["signed_with_callback_approval"].ok


def test_callback_reject_rejects_and_no_other_node_is_tried() -> None:
    r = run_faults(
        {"at": "5m", "action": "callback", "callback": "cb", "mode": "reject", "for": "5m"}, callback=CALLBACK
    )
    during = outcomes_by_submission(r, FROM + 1, TO - 1)
    assert set(during) == {"REJECTED/REJECTED_BY_USER"}
    rejected = {e.fields["tx"] for e in r.of("rejected")}
    assert all(len(r.of("dispatched", tx=tx)) == 1 for tx in rejected), "one REJECT is final"
    assert r.signed("a", TO + 1) + r.signed("b", TO + 1) > 0
    assert r.report.invariants["signed_with_callback_approval"].ok


def test_callback_retry_delays_signing_until_the_handler_approves() -> None:
    r = run_faults(
        {"at": "5m", "action": "callback", "callback": "cb", "mode": "retry", "for": "5m"}, callback=CALLBACK
    )
    during = {e.fields["tx"] for e in r.between("submitted", FROM + 1, TO - 1)}
    assert len(during) >= 10
    assert outcomes_by_submission(r, FROM + 1, TO - 1) == {"COMPLETED/None": len(during)}
    retries = [e for e in r.of("callback_response", action="RETRY") if e.fields["tx"] in during]
    assert retries and all(FROM <= r.at(e) < TO for e in retries)
    signed_at = {e.fields["tx"]: r.at(e) for e in r.of("signed")}
    assert all(signed_at[tx] >= TO for tx in during), "signed only once the handler stopped answering RETRY"
    all_completed(r)


@pytest.mark.parametrize(
    "callback, faults, seconds",
    [
        (None, [], 75.0),
        ({"latency": "1s"}, [], 75.0),
        ({"retry_first_n": 1}, [], 75.0 + 20 * 210),
        ({"action": "RETRY"}, [], 75.0 + 20 * 210),
        ({}, [{"at": "1m", "action": "callback", "callback": "cb", "mode": "retry"}], 75.0 + 20 * 210),
        ({}, [{"at": "1m", "action": "callback", "callback": "cb", "mode": "timeout"}], 75.0),
    ],
)
def test_an_attempt_covers_the_retry_schedule_only_where_a_handler_can_answer_retry(
    callback: dict[str, str] | None, faults: list[dict[str, str]], seconds: float
) -> None:
    scenario = scenario_from_dict(scenario_dict(faults, callback=callback))
    assert attempt_timeout(scenario) == seconds
    assert saas_config(scenario).attempt_timeout == seconds


def test_callback_down_fails_the_requests_with_an_http_error() -> None:
    r = run_faults(
        {"at": "5m", "action": "callback", "callback": "cb", "mode": "down", "for": "5m"}, callback=CALLBACK
    )
    during = outcomes_by_submission(r, FROM + 1, TO - 1)
    assert set(during) == {"FAILED/CONNECTIVITY_ERROR"}  # not a timeout: the handler answered HTTP 503
    assert {f.cause for f in r.report.failures} == {"callback-http-error"}
    errors = r.between("callback_error", FROM, TO)
    assert errors and {e.fields["error"] for e in errors} == {"HTTP_STATUS"}
    assert "503" in errors[0].fields["detail"]
    assert set(outcomes_by_submission(r, TO + 1, 20 * MINUTE)) == {"COMPLETED/None"}


def test_scripted_timeout_first_n_leaves_the_first_attempts_unanswered() -> None:
    r = run_faults(
        callback={"latency": "100ms", "timeout_first_n": 1},
        saas={"callback_failure": "next-node"},
    )
    errors = r.of("callback_error")
    assert errors and {e.fields["error"] for e in errors} == {"TIMEOUT"}
    for e in r.of("signed"):
        tries = r.of("dispatched", tx=e.fields["tx"])
        assert len(tries) == 2 and tries[0].fields["node"] != tries[1].fields["node"], "the next node signed"
    all_completed(r)


def test_a_callback_timeout_fails_the_transaction_unless_the_saas_tries_the_next_node() -> None:
    r = run_faults(callback={"latency": "100ms", "timeout_first_n": 1}, scenario={"duration": "5m"})
    assert set(r.statuses()) == {"FAILED"} and set(r.report.by_sub_status) == {"TIMEOUT"}
    assert all(len(r.of("dispatched", tx=e.fields["tx"])) == 1 for e in r.of("failed"))
    assert all(e.fields["reason"].startswith("callback TIMEOUT on ") for e in r.of("failed"))
    assert {e.fields["cause"] for e in r.of("failed")} == {"callback-timeout"}


# -- storage and enclave faults -------------------------------------------------------------------------


def test_sgx_disk_loss_with_a_backup_comes_back_with_its_api_users() -> None:
    r = run_faults({"at": "5m", "action": "disk-loss", "node": "b", "backup": True, "for": "5m"})
    assert r.states("b")[0] == (FROM, "crashed", "disk lost")
    boots = r.of("node_boot", node="b")
    assert len(boots) == 1 and r.at(boots[0]) >= TO
    assert boots[0].fields["users"], "the restored database still holds the API user"
    assert r.signed("b", FROM + 0.001, TO) == 0
    # it signs again once restored; when is the first-responder selection's draw (the other node may win
    # the probes of the next few transactions), so no fixed window after the boot
    assert r.signed("b", r.at(boots[0])) > 0
    all_completed(r)


def test_sgx_disk_loss_without_a_backup_leaves_the_node_with_nothing_to_sign_with() -> None:
    r = run_faults({"at": "5m", "action": "disk-loss", "node": "b", "for": "5m"})
    boots = r.of("node_boot", node="b")
    assert len(boots) == 1 and boots[0].fields["users"] == [] and boots[0].fields["generation"] == 0
    assert r.signed("b", FROM + 0.001) == 0
    assert not r.between("poll_failed", TO, 20 * MINUTE, node="b")
    assert not r.between("probe_reply", FROM, 20 * MINUTE, node="b"), "with no API user it does not even poll"
    assert len(r.between("probe_sent", TO, 20 * MINUTE, cosigner="b")) >= 20, "the SaaS still probes it"
    all_completed(r)


def test_disk_loss_without_for_comes_back_at_once() -> None:
    r = run_faults({"at": "5m", "action": "disk-loss", "node": "b", "backup": True}, nodes=instant())
    assert [(t, s) for t, s, _ in r.states("b")][:2] == [(FROM, "crashed"), (FROM, "booting")]
    assert r.of("node_boot", node="b")[0].fields["users"]
    assert r.signed("b", FROM + 1) > 0
    all_completed(r)


def with_a_as(enclave: str) -> list[dict[str, object]]:
    """The base cluster's nodes with node `a` in another kind of enclave."""
    sites = {"nitro": "aws/us-east-1/a", "gcp": "gcp/europe-west1/b", "sgx": "onprem/dc3"}
    return [
        {"name": "a", "enclave": enclave, "site": sites[enclave], "api_users": ["sa"]},
        {"name": "b", "enclave": "sgx", "site": "onprem/dc1", "api_users": ["sb"]},
    ]


@pytest.mark.parametrize("enclave", ["nitro", "gcp"])
def test_disk_loss_on_a_new_host_restores_from_the_bucket(enclave: str) -> None:
    r = run_faults(
        {"at": "5m", "action": "disk-loss", "node": "a", "new_host": True, "for": "5m"},
        nodes=instant(with_a_as(enclave)),
    )
    booting = [why for t, s, why in r.states("a") if s == "booting"]
    assert booting and "on host a-2" in booting[0], booting
    assert r.of("node_boot", node="a")[0].fields["users"], "the bucket and the KMS key survive the host"
    silent_then_back(r, "a")
    all_completed(r)


def test_sgx_backup_does_not_open_on_a_new_host() -> None:
    r = run_faults(
        {"at": "5m", "action": "disk-loss", "node": "b", "backup": True, "new_host": True, "for": "5m"}
    )
    failed = [why for t, s, why in r.states("b") if s == "failed"]
    assert failed and "WrongHost" in failed[0] and "opens only on the machine that sealed it" in failed[0]
    assert not r.of("node_boot", node="b")
    assert r.signed("b", FROM + 0.001) == 0
    all_completed(r)


def test_pairing_the_same_api_user_again_after_a_disk_loss_keeps_it_paired() -> None:
    r = run_faults(
        {"at": "2m", "action": "disk-loss", "node": "b"},  # no backup, back at once: an empty co-signer
        {"at": "4m", "action": "unpair", "node": "b", "api_user": "sb"},
        {"at": "8m", "action": "pair", "node": "b", "api_user": "sb"},
    )
    assert len(r.of("paired", node="b")) == 1
    assert not r.of("unpaired", node="b"), "the pairing made at 9m is undone by the unpairing of 5m"
    assert r.signed("b", 10 * MINUTE) > 0


def test_sgx_on_a_new_host_without_a_backup_starts_as_an_empty_co_signer() -> None:
    r = run_faults({"at": "5m", "action": "disk-loss", "node": "b", "new_host": True, "for": "5m"})
    booting = [why for t, s, why in r.states("b") if s == "booting"]
    assert booting == ["sgx enclave 1.0.0 on host b-2"]
    boot = r.of("node_boot", node="b")[0].fields
    assert (boot["users"], boot["generation"]) == ([], 0)
    assert r.signed("b", FROM + 0.001) == 0
    all_completed(r)


@pytest.mark.parametrize(
    "enclave, refusal",
    [
        ("nitro", "ImageRejected: nitro enclave image 1.0.0: the EIF signature does not match the image"),
        ("sgx", "ImageRejected: sgx enclave image 1.0.0: the signature does not match the image"),
        ("gcp", "AttestationError: gcp-kms: key 'cmk-a' is bound to image sha256:"),
    ],
)
def test_attestation_failure_keeps_the_node_from_opening_its_secrets_until_the_image_is_fixed(
    enclave: str, refusal: str
) -> None:
    node = "a"
    r = run_faults(
        {"at": "5m", "action": "attestation", "node": node, "for": "5m"}, nodes=instant(with_a_as(enclave))
    )
    failed = [(t, why) for t, s, why in r.states(node) if s == "failed"]
    assert len(failed) >= 5 and all(FROM <= t <= TO for t, _ in failed), "it retries its boot and fails"
    assert all(why.startswith(refusal) for _, why in failed), failed
    boots = r.of("node_boot", node=node)
    assert len(boots) == 1 and r.at(boots[0]) >= TO
    silent_then_back(r, node)
    all_completed(r)


# -- clocks ---------------------------------------------------------------------------------------------


def test_clock_skew_ahead_of_the_access_token_lifetime_makes_every_token_look_expired() -> None:
    r = run_faults({"at": "5m", "action": "clock-skew", "node": "a", "skew": "+1h", "for": "5m"})
    inside = len(r.between("token_refreshed", FROM, TO, node="a"))
    outside = len(r.between("token_refreshed", TO + 1, 20 * MINUTE, node="a"))
    assert inside > 15, "the node refreshes its access token before every request"
    assert outside <= 2
    # b refreshes its own token once in a while (its lifetime is ten minutes): only then can a win a race
    b_refreshes = len(r.between("token_refreshed", FROM, TO, node="b"))
    assert r.signed("a", FROM + 1, TO) <= b_refreshes, "the extra round trips lose the probe races to b"
    assert r.signed("a", TO + 1) > 0
    all_completed(r)


def test_clock_skew_behind_makes_the_saas_refuse_tokens_the_node_still_trusts() -> None:
    r = run_faults({"at": "5m", "action": "clock-skew", "node": "a", "skew": "-30m", "for": "12m"})
    refused = [e for e in r.of("poll_failed", node="a") if "TOKEN_EXPIRED" in e.fields["reason"]]
    assert refused and all(FROM <= r.at(e) < 17 * MINUTE for e in refused)
    assert "SaaS clock" in refused[0].fields["reason"]
    assert r.signed("a", FROM, 17 * MINUTE) > 0, "it refreshes and goes on"
    all_completed(r)


def test_clock_skew_beyond_the_pairing_token_lifetime_breaks_pairing_until_undone() -> None:
    r = run_faults(
        {"at": "1m", "action": "clock-skew", "node": "c", "skew": "+2h", "for": "5m"},
        {"at": "2m", "action": "pair", "node": "c", "api_user": "sc"},
        {"at": "8m", "action": "pair", "node": "c", "api_user": "sd"},
        nodes=[
            {"name": "a", "enclave": "nitro", "site": "aws/us-east-1/a", "api_users": ["sa"]},
            {"name": "b", "enclave": "sgx", "site": "onprem/dc1", "api_users": ["sb"]},
            {"name": "c", "enclave": "sgx", "site": "onprem/dc2"},
        ],
        api_users=[
            {"name": "ops", "role": "EDITOR"},
            {"name": "sa", "role": "SIGNER"},
            {"name": "sb", "role": "SIGNER"},
            {"name": "sc", "role": "SIGNER"},
            {"name": "sd", "role": "SIGNER"},
        ],
    )
    errors = r.of("fault_error")
    assert [(e.fields["index"], e.fields["code"]) for e in errors] == [(1, "TOKEN_EXPIRED")]
    assert r.at(errors[0]) == 2 * MINUTE
    assert "by this co-signer's clock" in errors[0].fields["reason"], "a fresh token, refused by the node"
    paired = r.of("paired", node="c")
    assert len(paired) == 1 and r.at(paired[0]) > 8 * MINUTE, "once the clock is right, pairing works"
    all_completed(r)


# -- configuration ---------------------------------------------------------------------------------------


def test_policy_publishes_a_new_policy_after_the_owners_approval() -> None:
    r = run_faults({"at": "5m", "action": "policy", "rules": [{"action": "BLOCK"}]})
    published = r.of("policy_published")
    assert len(published) == 1 and r.at(published[0]) == FROM + 60, "the owner approves after 1 minute"
    when = r.at(published[0])
    decided = [(r.at(e), e.fields["status"]) for e in r.of("policy_decision")]
    assert {s for t, s in decided if t < when} == {"PENDING_SIGNATURE"}
    assert {s for t, s in decided if t > when} == {"BLOCKED"}
    assert r.report.by_sub_status["BLOCKED_BY_POLICY"] == sum(1 for t, _ in decided if t > when)
    assert r.report.passed


def test_unpair_takes_the_api_user_off_its_node_after_the_admins_approval() -> None:
    r = run_faults({"at": "5m", "action": "unpair", "node": "a", "api_user": "sa"})
    saas_side = [e for e in r.of("unpaired") if "workspace" in e.fields]
    node_side = r.of("unpaired", node="a")
    assert len(saas_side) == 1 and r.at(saas_side[0]) == FROM + 60
    assert len(node_side) == 1 and r.at(node_side[0]) >= FROM + 60
    assert r.signed("a", FROM + 61) == 0
    assert r.signed("b", FROM + 61) >= 25
    all_completed(r)


def test_pair_sets_up_a_fresh_node_and_it_starts_signing() -> None:
    r = run_faults(
        {"at": "5m", "action": "pair", "node": "c", "api_user": "sc"},
        nodes=[
            {"name": "a", "enclave": "nitro", "site": "aws/us-east-1/a", "api_users": ["sa"]},
            {"name": "c", "enclave": "sgx", "site": "onprem/dc2"},
        ],
        api_users=[
            {"name": "ops", "role": "EDITOR"},
            {"name": "sa", "role": "SIGNER"},
            {"name": "sc", "role": "SIGNER"},
        ],
        policy={"rules": [{"action": "ALLOW", "designated_signers": {"users": ["sa", "sc"]}}]},
    )
    assert not r.of("fault_error")
    paired = r.of("paired", node="c")
    assert len(paired) == 1 and r.at(paired[0]) >= FROM + 60, "after the owner's approval"
    assert r.signed("c", 0, FROM) == 0
    assert r.signed("c", r.at(paired[0])) > 0
    all_completed(r)


def test_pair_on_a_node_that_is_down_waits_until_it_runs_again() -> None:
    r = run_faults(
        {"at": "1m", "action": "crash", "node": "c", "for": "5m"},
        {"at": "2m", "action": "pair", "node": "c", "api_user": "sc"},
        nodes=[
            {"name": "a", "enclave": "nitro", "site": "aws/us-east-1/a", "api_users": ["sa"]},
            {"name": "c", "enclave": "nitro", "site": "aws/us-east-1/c"},
        ],
        api_users=[
            {"name": "ops", "role": "EDITOR"},
            {"name": "sa", "role": "SIGNER"},
            {"name": "sc", "role": "SIGNER"},
        ],
    )
    issued = [e for e in r.of("pairing_token_issued") if e.fields["api_user"] == "sc"]
    assert len(issued) == 1 and r.at(issued[0]) == 2 * MINUTE
    requested = r.of("pairing_requested", node="c")
    assert len(requested) == 1 and r.at(requested[0]) >= 6 * MINUTE
    assert len(r.of("paired", node="c")) == 1 and not r.of("fault_error")


def test_pair_moves_an_unpaired_api_user_to_another_node() -> None:
    r = run_faults(
        {"at": "5m", "action": "unpair", "node": "a", "api_user": "sa"},
        {"at": "8m", "action": "pair", "node": "b", "api_user": "sa"},
    )
    paired = r.of("paired", node="b")
    assert len(paired) == 1 and r.at(paired[0]) >= 9 * MINUTE
    by_user = {e.fields["api_user"] for e in r.between("signed", r.at(paired[0]) + 1, 20 * MINUTE, node="b")}
    assert by_user == {"sa", "sb"}, "node b now signs for both API users"
    assert r.signed("a", FROM + 61) == 0
    all_completed(r)


def test_pair_on_a_gcp_node_goes_through_the_saas() -> None:
    r = run_faults(
        {"at": "5m", "action": "pair", "node": "g", "api_user": "sc"},
        nodes=[
            {"name": "a", "enclave": "nitro", "site": "aws/us-east-1/a", "api_users": ["sa"]},
            {"name": "g", "enclave": "gcp", "site": "gcp/europe-west1/b", "api_users": ["sb"]},
        ],
        api_users=[
            {"name": "ops", "role": "EDITOR"},
            {"name": "sa", "role": "SIGNER"},
            {"name": "sb", "role": "SIGNER"},
            {"name": "sc", "role": "SIGNER"},
        ],
        policy={"rules": [{"action": "ALLOW", "designated_signers": {"users": ["sa", "sb", "sc"]}}]},
    )
    assert not r.of("fault_error")
    commands = r.of("command_done", node="g")
    assert commands and commands[0].fields["ok"] and commands[0].fields["command"] == "add_user_command"
    assert {e.fields["api_user"] for e in r.between("signed", 7 * MINUTE, 20 * MINUTE, node="g")} >= {"sc"}
    all_completed(r)


def test_overlapping_attestation_faults_nest_and_the_secrets_stay_shut_until_the_last_ends() -> None:
    # found by explore (search seed 8, budget 40): the first fault's end gave the signed image back while
    # the second was still on, and the second's end put a tampered image back for good
    r = run_faults(
        {"at": "5m", "action": "attestation", "node": "a", "for": "6m"},
        {"at": "8m", "action": "attestation", "node": "a", "for": "6m"},
    )
    boots = r.of("node_boot", node="a")
    assert len(boots) == 1 and r.at(boots[0]) >= 14 * MINUTE  # no boot while either fault holds
    assert r.report.invariants["attestation_gates_secrets"].ok
    assert r.signed("a", 15 * MINUTE) > 0  # back on the signed image once both ended
