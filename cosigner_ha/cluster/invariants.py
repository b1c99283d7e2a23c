"""The guarantees of DESIGN.md section 6, checked on every run from its trace alone.

Each check reads only events, so anyone holding a `--trace` file can run the same checks: the signatures
are verified with `cryptography`'s standard Ed25519 verifier, not with the code that produced them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha.env import Event

TERMINAL_KINDS = ("completed", "failed", "rejected", "blocked", "cancelled")
SIGNABLE_STATUSES = ("PENDING_SIGNATURE", "PENDING_AUTHORIZATION")
#: Source kinds (the prefix of a `submitted` event's `source`) that allow exactly one signer.
EXCHANGE_OR_FIAT = ("exchange", "fiat")


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    detail: str


def listed(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def at_most_one_signature(events: Sequence[Event]) -> Verdict:
    counts = Counter(e.fields["tx"] for e in events if e.kind == "signed")
    twice = sorted(tx for tx, n in counts.items() if n > 1)
    if twice:
        return Verdict(False, f"{len(twice)} transaction(s) signed more than once: {listed(twice)}")
    return Verdict(True, f"{len(counts)} signature(s), none twice for one transaction")


def signatures_verify(events: Sequence[Event]) -> Verdict:
    signed = [e for e in events if e.kind == "signed"]
    bad: list[str] = []
    for e in signed:
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(e.fields["public_key"]))
            key.verify(bytes.fromhex(e.fields["signature"]), bytes.fromhex(e.fields["message"]))
        except (InvalidSignature, ValueError):
            bad.append(str(e.fields["tx"]))
    if bad:
        return Verdict(False, f"{len(bad)} released signature(s) fail Ed25519 verification: {listed(bad)}")
    return Verdict(True, f"all {len(signed)} released signature(s) verify with a standard Ed25519 verifier")


def signed_within_policy(events: Sequence[Event]) -> Verdict:
    """Each signature follows a decision that allowed signing, by one of the rule's designated signers."""
    decisions: dict[str, Event] = {}
    approved: set[str] = set()
    wrong: list[str] = []
    for e in events:
        tx = str(e.fields.get("tx"))
        if e.kind == "policy_decision":
            decisions[tx] = e
        elif e.kind == "approval" and e.fields.get("outcome") == "APPROVED":
            approved.add(tx)
        elif e.kind == "signed":
            decision = decisions.get(tx)
            if decision is None:
                wrong.append(f"{tx} (no policy decision)")
            elif decision.fields["status"] not in SIGNABLE_STATUSES:
                wrong.append(f"{tx} (decided {decision.fields['status']})")
            elif decision.fields["status"] == "PENDING_AUTHORIZATION" and tx not in approved:
                wrong.append(f"{tx} (2-TIER approval not granted)")
            elif e.fields["api_user"] not in decision.fields["designated_signers"]:
                wrong.append(f"{tx} (signed by {e.fields['api_user']}, not a designated signer)")
    if wrong:
        return Verdict(False, f"{len(wrong)} signature(s) against policy: {listed(wrong)}")
    return Verdict(True, "every signature followed an allowing decision by a designated signer")


def signed_with_callback_approval(events: Sequence[Event]) -> Verdict:
    """Each signature had its callback handler's APPROVE before it was released.

    Two witnesses must agree: the SaaS saw the node report APPROVE for that transaction, and, wherever the
    node consulted a handler for it, the node itself recorded the handler's APPROVE answer.
    """
    saas_approved: set[tuple[str, str]] = set()
    asked: set[tuple[str, str]] = set()
    node_approved: set[tuple[str, str]] = set()
    wrong: list[str] = []
    for e in events:
        f = e.fields
        if e.kind == "callback_result" and f.get("action") == "APPROVE":
            saas_approved.add((str(f.get("tx")), str(f.get("cosigner"))))
        elif e.kind == "callback_request":  # `tx` names the transaction; `request` is the request's own id
            asked.add((str(f.get("tx", f.get("request"))), str(f.get("node"))))
        elif e.kind == "callback_response" and f.get("action") == "APPROVE":
            node_approved.add((str(f.get("tx", f.get("request"))), str(f.get("node"))))
        elif e.kind == "signed":
            tx, node = str(f["tx"]), str(f.get("node"))
            if (tx, str(f.get("cosigner"))) not in saas_approved:
                wrong.append(f"{tx} (no APPROVE reported to the SaaS)")
            elif (tx, node) in asked and (tx, node) not in node_approved:
                wrong.append(f"{tx} (node {node} asked its handler but recorded no APPROVE)")
    if wrong:
        return Verdict(False, f"{len(wrong)} signature(s) without the callback's APPROVE: {listed(wrong)}")
    return Verdict(True, "every signature followed its callback handler's APPROVE")


def signed_with_node_share(events: Sequence[Event]) -> Verdict:
    """No signature without the node's share: each `signed` event follows a `share_released` by that
    node for a session of that transaction, and that session's rounds named all three parties (3-of-3)."""
    sessions: dict[str, str] = {}
    released: set[tuple[str, str]] = set()  # (tx, node)
    signers: dict[str, tuple[int, ...]] = {}
    wrong: list[str] = []
    for e in events:
        if e.kind == "dispatched":
            sessions[str(e.fields["session"])] = str(e.fields["tx"])
        elif e.kind == "mpc_round":
            signers[str(e.fields["session"])] = tuple(e.fields.get("signers") or ())
        elif e.kind == "share_released":
            session = str(e.fields["session"])
            tx = sessions.get(session)
            if tx is not None and set(signers.get(session, ())) >= {1, 2, 3}:
                released.add((tx, str(e.fields["node"])))
        elif e.kind == "signed" and (str(e.fields["tx"]), str(e.fields["node"])) not in released:
            wrong.append(f"{e.fields['tx']} by {e.fields['node']}")
    if wrong:
        return Verdict(False, f"{len(wrong)} signature(s) without the node's released share: {listed(wrong)}")
    return Verdict(True, "every signature followed its node's share in a 3-of-3 session")


def attestation_gates_secrets(events: Sequence[Event]) -> Verdict:
    """A node running a tampered image (an `attestation` fault) never opens its secrets: it does not
    reach `running` and releases no share until the signed image is back. The tampered image runs from the
    node's next change of state after the fault (its restart on it: at once in simulation; in the runtime
    once the launcher has killed the process still on the signed image, whose last shares are its own)."""
    swapped: dict[int, str] = {}  # fault index -> node, still on the image it booted
    tampered: dict[int, str] = {}  # fault index -> node, restarted since the swap
    wrong: list[str] = []
    for e in events:
        if e.kind == "fault" and e.fields.get("action") == "attestation":
            for node in e.fields.get("nodes") or ():
                swapped[int(e.fields["index"])] = str(node)
        elif e.kind == "fault_end" and e.fields.get("action") == "attestation":
            swapped.pop(int(e.fields["index"]), None)
            tampered.pop(int(e.fields["index"]), None)
            continue
        node = str(e.fields.get("node"))
        if e.kind == "node_state":
            for index in [i for i, n in swapped.items() if n == node]:
                tampered[index] = swapped.pop(index)
        if node in tampered.values() and (
            e.kind == "share_released" or (e.kind == "node_state" and e.fields.get("state") == "running")
        ):
            wrong.append(f"{node} {e.kind} at {e.t:g} s")
    if wrong:
        return Verdict(False, f"a node on a tampered image used its secrets: {listed(wrong)}")
    return Verdict(True, "no node on a tampered image opened its secrets")


def no_nonce_reuse(events: Sequence[Event]) -> Verdict:
    """No party ever uses a signing nonce twice: the cloud co-signers (`nonce_used`) and the nodes
    (`share_released`, recorded after the node persisted the nonce as consumed)."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for e in events:
        if e.kind == "nonce_used":
            seen[(str(e.fields.get("party")), str(e.fields["nonce"]))] += 1
        elif e.kind == "share_released":
            seen[(str(e.fields.get("node")), str(e.fields["nonce_id"]))] += 1
    reused = sorted(f"{party}:{nonce[:16]}" for (party, nonce), n in seen.items() if n > 1)
    if reused:
        return Verdict(False, f"{len(reused)} nonce(s) used twice: {listed(reused)}")
    return Verdict(True, f"{len(seen)} nonce(s) used, each once")


def standby_only_when_no_active(events: Sequence[Event]) -> Verdict:
    """A standby co-signer is chosen only when no active one answered available in that probe round
    (DESIGN.md section 2, step 4). Who is a standby comes from the configuration (`standby_set`), not from
    the selection's own belief; a round is the probes sent for a transaction since its last `probe_result`."""
    configured: dict[str, bool] = {}  # cosigner -> standby, as configured
    probed: dict[str, bool] = {}  # cosigner -> standby, as the SaaS probed it (when nothing was configured)
    probes: dict[str, str] = {}  # probe id -> tx
    available: dict[str, list[str]] = defaultdict(list)  # tx -> co-signers that answered available
    wrong: list[str] = []

    def is_standby(cosigner: str) -> bool:
        return configured.get(cosigner, probed.get(cosigner, False))

    for e in events:
        f = e.fields
        if e.kind == "standby_set":
            configured[str(f["cosigner"])] = bool(f["standby"])
        elif e.kind == "probe_sent":
            probes[str(f["probe"])] = str(f["tx"])
            probed[str(f["cosigner"])] = bool(f.get("standby"))
        elif e.kind == "probe_answered" and not f.get("late") and f.get("available"):
            tx = probes.get(str(f["probe"]))
            if tx is not None:
                available[tx].append(str(f["cosigner"]))
        elif e.kind == "probe_result":
            tx, chosen = str(f["tx"]), f.get("chosen")
            active = [c for c in available.pop(tx, []) if not is_standby(c)]
            if chosen is not None and is_standby(str(chosen)) and active:
                wrong.append(f"{tx} (standby {chosen} chosen; {listed(active)} answered available)")
    if wrong:
        return Verdict(
            False, f"{len(wrong)} standby choice(s) over an available active node: {listed(wrong)}"
        )
    return Verdict(True, "no standby was chosen while an active co-signer answered available")


def exchange_fiat_single_signer(events: Sequence[Event]) -> Verdict:
    """A transfer from an exchange or fiat account is signed only by the one API user its rule allows
    (tap-policy.md section 3: such sources take exactly one signer, never a group), however the cluster
    fails over: no co-signer of another API user takes it when that one is unavailable."""
    sources: dict[str, str] = {}
    signers: dict[str, list[str]] = {}
    wrong: list[str] = []
    for e in events:
        tx = str(e.fields.get("tx"))
        if e.kind == "submitted":
            sources[tx] = str(e.fields.get("source", ""))
        elif e.kind == "policy_decision":
            signers[tx] = [str(s) for s in e.fields.get("designated_signers") or ()]
        elif e.kind == "signed" and sources.get(tx, "").split(":", 1)[0] in EXCHANGE_OR_FIAT:
            allowed = signers.get(tx, [])
            if len(allowed) != 1:
                wrong.append(f"{tx} (its rule names {len(allowed)} signers)")
            elif e.fields["api_user"] != allowed[0]:
                wrong.append(f"{tx} (signed by {e.fields['api_user']}, not {allowed[0]})")
    if wrong:
        return Verdict(
            False, f"{len(wrong)} exchange/fiat transfer(s) not signed by their one signer: {listed(wrong)}"
        )
    return Verdict(True, "every exchange/fiat transfer was signed by the one API user its rule allows")


def all_terminal(events: Sequence[Event]) -> Verdict:
    submitted = [e.fields["tx"] for e in events if e.kind == "submitted"]
    ended = {e.fields["tx"] for e in events if e.kind in TERMINAL_KINDS}
    open_ = [tx for tx in submitted if tx not in ended]
    if open_:
        return Verdict(
            False, f"{len(open_)} of {len(submitted)} transaction(s) not terminal: {listed(open_)}"
        )
    return Verdict(True, f"all {len(submitted)} transaction(s) reached a terminal status")


def no_internal_errors(events: Sequence[Event]) -> Verdict:
    errors = [e for e in events if e.kind == "internal_error"]
    if errors:
        first = errors[0].fields
        return Verdict(False, f"{len(errors)} internal error(s); first: {first.get('error') or first}")
    return Verdict(True, "no component reported an internal error")


Check = Callable[[Sequence[Event]], Verdict]

#: The one registry of invariants: every `cosigner-ha run` report, `explore`, the pytest plugin and the
#: tests check these, under these names, in this order.
INVARIANTS: dict[str, Check] = {
    "at_most_one_signature": at_most_one_signature,
    "signatures_verify": signatures_verify,
    "signed_within_policy": signed_within_policy,
    "signed_with_callback_approval": signed_with_callback_approval,
    "signed_with_node_share": signed_with_node_share,
    "no_nonce_reuse": no_nonce_reuse,
    "attestation_gates_secrets": attestation_gates_secrets,
    "standby_only_when_no_active": standby_only_when_no_active,
    "exchange_fiat_single_signer": exchange_fiat_single_signer,
    "all_terminal": all_terminal,
    "no_internal_errors": no_internal_errors,
}
#: Liveness: holds once a run has drained (every fault over, every timeout passed).
LIVENESS: dict[str, Check] = {"all_terminal": all_terminal}
#: Safety: holds on every prefix of a trace, whatever faults or expectations a scenario has.
SAFETY: dict[str, Check] = {name: check for name, check in INVARIANTS.items() if name not in LIVENESS}


def check_all(events: Iterable[Event]) -> dict[str, Verdict]:
    listed = list(events)
    return {name: check(listed) for name, check in INVARIANTS.items()}
