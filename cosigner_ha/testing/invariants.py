"""The guarantees of DESIGN.md section 6 as functions over a run's trace, for any test to call.

Each check takes the events of a run (a `RunResult`, a `LiveCluster`'s events so far, or a `--trace`
file read back with `read_trace`) and returns a `Verdict(ok, detail)`. They read only the trace, so a
check never trusts the code that produced what it checks.

Safety checks hold at every instant, so they may be run on any prefix of a trace (the stateful test
runs them after every step). Liveness checks hold only once a run has drained.

    result = simulate(scenario)
    assert_invariants(result)                       # every safety and liveness check
    assert_invariants(cluster.events, SAFETY)       # mid-run: safety only
    assert_passed(result)                           # plus the scenario's own [expect]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cosigner_ha.cluster import invariants as cluster_invariants
from cosigner_ha.cluster.invariants import TERMINAL_KINDS, Verdict, listed
from cosigner_ha.cluster.runner import RunResult
from cosigner_ha.cluster.scenario import SaasSettings
from cosigner_ha.env import Event

Check = Callable[[Sequence[Event]], Verdict]
Events = RunResult | Sequence[Event]

# The one registry (cosigner_ha.cluster.invariants): every run's report, `explore`, the pytest plugin and
# the tests check the same functions under the same names.
at_most_one_signature = cluster_invariants.at_most_one_signature
signatures_verify = cluster_invariants.signatures_verify
signed_within_policy = cluster_invariants.signed_within_policy
signed_with_callback_approval = cluster_invariants.signed_with_callback_approval
signed_with_node_share = cluster_invariants.signed_with_node_share
attestation_gates_secrets = cluster_invariants.attestation_gates_secrets
no_nonce_reuse = cluster_invariants.no_nonce_reuse
standby_only_when_no_active = cluster_invariants.standby_only_when_no_active
exchange_fiat_single_signer = cluster_invariants.exchange_fiat_single_signer
no_internal_errors = cluster_invariants.no_internal_errors
all_terminal = cluster_invariants.all_terminal
#: Checks that hold on every prefix of a trace: run them mid-run as often as you like.
SAFETY: dict[str, Check] = dict(cluster_invariants.SAFETY)
#: Checks that hold once a run has drained (every fault over, every timeout passed).
LIVENESS: dict[str, Check] = dict(cluster_invariants.LIVENESS)


def terminal_within(limit: float) -> Check:
    """Liveness bound: every transaction that ended did so within `limit` seconds of its submission."""

    def check(events: Sequence[Event]) -> Verdict:
        submitted = {e.fields["tx"]: e.t for e in events if e.kind == "submitted"}
        late = [
            f"{e.fields['tx']} after {e.t - submitted[e.fields['tx']]:.0f} s"
            for e in events
            if e.kind in TERMINAL_KINDS
            and e.fields.get("tx") in submitted
            and e.t - submitted[e.fields["tx"]] > limit
        ]
        if late:
            return Verdict(
                False, f"{len(late)} transaction(s) ended later than {limit:.0f} s: {listed(late)}"
            )
        return Verdict(True, f"every transaction that ended did so within {limit:.0f} s")

    check.__name__ = "terminal_within_timeouts"
    return check


def timeout_bound(saas: SaasSettings) -> float:
    """How long the SaaS may take to end a transaction: authorization, then signing, plus a callback's
    retry schedule and the drain step's slack."""
    retries = saas.callback_retry_attempts * saas.callback_retry_interval
    return saas.authorization_timeout + saas.signing_timeout + retries + 15 * 60


def liveness(saas: SaasSettings | None = None) -> dict[str, Check]:
    """The liveness checks, with the time bound of `saas`'s timeouts when given."""
    checks = dict(LIVENESS)
    if saas is not None:
        checks["terminal_within_timeouts"] = terminal_within(timeout_bound(saas))
    return checks


def events_of(source: Events) -> Sequence[Event]:
    return source.events if isinstance(source, RunResult) else source


def check_invariants(source: Events, checks: Mapping[str, Check] | None = None) -> dict[str, Verdict]:
    """Run `checks` (default: every safety and liveness check) over a run or a list of events."""
    events = events_of(source)
    chosen = checks if checks is not None else {**SAFETY, **LIVENESS}
    return {name: check(events) for name, check in chosen.items()}


class InvariantViolation(AssertionError):
    """A guarantee did not hold. `failed` maps each broken check to its verdict."""

    def __init__(self, failed: Mapping[str, Verdict], context: str = "") -> None:
        self.failed = dict(failed)
        lines = [f"{len(failed)} check(s) failed{f' ({context})' if context else ''}:"]
        lines += [f"  {name}: {verdict.detail}" for name, verdict in failed.items()]
        super().__init__("\n".join(lines))


def _describe(source: Events) -> str:
    if isinstance(source, RunResult):
        return f"scenario {source.report.scenario!r}, seed {source.report.seed}"
    return f"{len(source)} events"


def assert_invariants(source: Events, checks: Mapping[str, Check] | None = None) -> None:
    """Raise `InvariantViolation` naming every check in `checks` (default: all) that failed."""
    failed = {name: v for name, v in check_invariants(source, checks).items() if not v.ok}
    if failed:
        raise InvariantViolation(failed, _describe(source))


def assert_passed(result: RunResult) -> None:
    """Every invariant of the run's report, every expectation of its scenario, and the checks here."""
    report = result.report
    failed: dict[str, Verdict] = {}
    for kind, checks in (("invariant", report.invariants), ("expectation", report.expectations)):
        for name, check in checks.items():
            if not check.ok:
                failed[f"{kind} {name}"] = Verdict(False, check.detail)
    failed.update(
        {n: v for n, v in check_invariants(result).items() if not v.ok and n not in report.invariants}
    )
    if failed:
        raise InvariantViolation(failed, _describe(result))


def read_trace(path: str | Path) -> list[Event]:
    """The events of a `--trace` file (its header line left out), to check a run made elsewhere."""
    events: list[Event] = []
    with open(path, encoding="ascii") as handle:
        for line in handle:
            data = json.loads(line)
            kind = data.pop("kind")
            if kind == "header":
                continue
            t = data.pop("t")
            events.append(Event(float(t), kind, data))
    return events
