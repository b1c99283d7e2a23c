"""The guarantees of DESIGN.md section 6, checked on every run from its trace alone.

Each check reads only events, so anyone holding a `--trace` file can run the same checks: the signatures
are verified with `cryptography`'s standard Ed25519 verifier, not with the code that produced them.

Each check is a fold (`feed` one event at a time, `verdict` at any point), so a run checks its events as
they are written and keeps none of them: what a check remembers is only what a later event could need
(the transactions signed, the nonces used, the decisions a later signature is held to), in compact form
(identifiers interned, shared tuples, nonce ids as 32 bytes each in one sorted blob a party). The functions of the same names fold a sequence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha.cluster.id_sets import IdMap, IdSet, IdToId
from cosigner_ha.env import Event
from cosigner_ha.mpc import NONCE_ID_SIZE, ConsumedNonces, NonceReuseError
from cosigner_ha.wire import CLOUD_IDENTIFIERS, NODE_IDENTIFIER

TERMINAL_KINDS = ("completed", "failed", "rejected", "blocked", "cancelled")
SIGNABLE_STATUSES = ("PENDING_SIGNATURE", "PENDING_AUTHORIZATION")
#: The parties of every share set: the node and the two cloud co-signers.
ALL_THREE = frozenset((NODE_IDENTIFIER, *CLOUD_IDENTIFIERS))
#: Source kinds (the prefix of a `submitted` event's `source`) that allow exactly one signer.
EXCHANGE_OR_FIAT = ("exchange", "fiat")
#: Examples a verdict names (`listed`); a fold keeps only these beside the count.
SHOWN = 5


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    detail: str


def listed(items: Sequence[str], limit: int = SHOWN, total: int | None = None) -> str:
    """The first `limit` items, and how many more (of `total`, when only the first few were kept)."""
    total = len(items) if total is None else total
    shown = ", ".join(items[:limit])
    return shown + (f" and {total - limit} more" if total > limit else "")


class Fold(Protocol):
    """One check as a fold over events: `feed` each in trace order, `verdict` on what came so far.
    `KINDS` are the event kinds it reads; feeding it others is allowed and changes nothing."""

    KINDS: tuple[str, ...]

    def feed(self, e: Event) -> None: ...

    def verdict(self) -> Verdict: ...


def _id(value: object) -> str:
    """An identifier as the checks compare it (`str`).

    A string is kept as it is, not interned: in a run the events carry the SaaS's and the nodes' own id
    objects, so the folds share one string per id already, and interning added an entry per transaction
    and per session to the interpreter's table of interned strings for the whole run (a table that
    doubles as it fills: 1.9 MB more between one and two and a half busy hours)."""
    return value if type(value) is str else str(value)


class _Examples:
    """What a check found wrong: counted, the first `SHOWN` kept for the verdict (a broken run may find
    a wrong thing per transaction; the verdict names a few)."""

    __slots__ = ("count", "first")

    def __init__(self) -> None:
        self.count = 0
        self.first: list[str] = []

    def add(self, item: str) -> None:
        self.count += 1
        if len(self.first) < SHOWN:
            self.first.append(item)

    def __bool__(self) -> bool:
        return self.count > 0

    def listed(self) -> str:
        return listed(self.first, total=self.count)


class AtMostOneSignature:
    KINDS: tuple[str, ...] = ("signed",)

    def __init__(self) -> None:
        self.signed = IdSet()
        self.twice: set[str] = set()

    def feed(self, e: Event) -> None:
        if e.kind == "signed":
            tx = str(e.fields["tx"])
            if tx in self.signed:
                self.twice.add(tx)
            self.signed.add(tx)

    def verdict(self) -> Verdict:
        if self.twice:
            twice = sorted(self.twice)
            return Verdict(False, f"{len(twice)} transaction(s) signed more than once: {listed(twice)}")
        return Verdict(True, f"{len(self.signed)} signature(s), none twice for one transaction")


class SignaturesVerify:
    KINDS: tuple[str, ...] = ("signed",)

    def __init__(self) -> None:
        self.count = 0
        self.bad = _Examples()
        #: The latest public key, as the trace writes it and parsed: a run signs under a few group keys
        #: (one a workspace), so most signatures reuse it; each signature is still verified.
        self._key: tuple[str, Ed25519PublicKey] | None = None

    def feed(self, e: Event) -> None:
        if e.kind != "signed":
            return
        self.count += 1
        f = e.fields
        try:
            written = f["public_key"]
            if self._key is not None and self._key[0] == written:
                key = self._key[1]
            else:
                key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(written))
                self._key = (written, key)
            key.verify(bytes.fromhex(f["signature"]), bytes.fromhex(f["message"]))
        except (InvalidSignature, ValueError):
            self.bad.add(str(f["tx"]))

    def verdict(self) -> Verdict:
        if self.bad:
            return Verdict(
                False,
                f"{self.bad.count} released signature(s) fail Ed25519 verification: {self.bad.listed()}",
            )
        return Verdict(
            True, f"all {self.count} released signature(s) verify with a standard Ed25519 verifier"
        )


class SignedWithinPolicy:
    """Each signature follows a decision that allowed signing, by one of the rule's designated signers."""

    KINDS: tuple[str, ...] = ("policy_decision", "approval", "signed")

    def __init__(self) -> None:
        #: tx -> (status, designated signers) of its latest decision; equal decisions share one tuple.
        self.decisions: IdMap[tuple[Any, tuple[Any, ...]]] = IdMap()
        self.approved = IdSet()
        self.wrong = _Examples()

    def feed(self, e: Event) -> None:
        kind = e.kind
        if kind == "policy_decision":
            f = e.fields
            self.decisions[str(f.get("tx"))] = (f.get("status"), tuple(f.get("designated_signers") or ()))
        elif kind == "approval" and e.fields.get("outcome") == "APPROVED":
            self.approved.add(str(e.fields.get("tx")))
        elif kind == "signed":
            tx = str(e.fields.get("tx"))
            found = self.decisions.get(tx)
            if found is None:
                self.wrong.add(f"{tx} (no policy decision)")
                return
            status, signers = found
            if status not in SIGNABLE_STATUSES:
                self.wrong.add(f"{tx} (decided {status})")
            elif status == "PENDING_AUTHORIZATION" and tx not in self.approved:
                self.wrong.add(f"{tx} (2-TIER approval not granted)")
            elif e.fields["api_user"] not in signers:
                self.wrong.add(f"{tx} (signed by {e.fields['api_user']}, not a designated signer)")

    def verdict(self) -> Verdict:
        if self.wrong:
            return Verdict(False, f"{self.wrong.count} signature(s) against policy: {self.wrong.listed()}")
        return Verdict(True, "every signature followed an allowing decision by a designated signer")


class _Pairs:
    """A set of (transaction, party) pairs, kept as a set of transactions per party (a handful)."""

    __slots__ = ("_by",)

    def __init__(self) -> None:
        self._by: dict[str, IdSet] = {}

    def add(self, tx: str, party: str) -> None:
        found = self._by.get(party)
        if found is None:  # a new party (a handful a run): its name interned once
            found = self._by[_id(party)] = IdSet()
        found.add(tx)

    def __contains__(self, pair: tuple[str, str]) -> bool:
        tx, party = pair
        found = self._by.get(party)
        return found is not None and tx in found


class SignedWithCallbackApproval:
    """Each signature had its callback handler's APPROVE before it was released.

    Two witnesses must agree: the SaaS saw the node report APPROVE for that transaction, and, wherever the
    node consulted a handler for it, the node itself recorded the handler's APPROVE answer.
    """

    KINDS: tuple[str, ...] = ("callback_result", "callback_request", "callback_response", "signed")

    def __init__(self) -> None:
        self.saas_approved = _Pairs()
        self.asked = _Pairs()
        self.node_approved = _Pairs()
        self.wrong = _Examples()

    def feed(self, e: Event) -> None:
        kind = e.kind
        f = e.fields
        if kind == "callback_result" and f.get("action") == "APPROVE":
            self.saas_approved.add(str(f.get("tx")), str(f.get("cosigner")))
        elif kind == "callback_request":  # `tx` names the transaction; `request` is the request's own id
            self.asked.add(str(f.get("tx", f.get("request"))), str(f.get("node")))
        elif kind == "callback_response" and f.get("action") == "APPROVE":
            self.node_approved.add(str(f.get("tx", f.get("request"))), str(f.get("node")))
        elif kind == "signed":
            tx, node = str(f["tx"]), str(f.get("node"))
            if (tx, str(f.get("cosigner"))) not in self.saas_approved:
                self.wrong.add(f"{tx} (no APPROVE reported to the SaaS)")
            elif (tx, node) in self.asked and (tx, node) not in self.node_approved:
                self.wrong.add(f"{tx} (node {node} asked its handler but recorded no APPROVE)")

    def verdict(self) -> Verdict:
        if self.wrong:
            return Verdict(
                False,
                f"{self.wrong.count} signature(s) without the callback's APPROVE: {self.wrong.listed()}",
            )
        return Verdict(True, "every signature followed its callback handler's APPROVE")


class SignedWithNodeShare:
    """No signature without the node's share: each `signed` event follows a `share_released` by that
    node for a session of that transaction, and that session's rounds named all three parties (3-of-3)."""

    KINDS: tuple[str, ...] = ("dispatched", "mpc_round", "share_released", "signed")

    def __init__(self) -> None:
        self.sessions: dict[str, str] = {}
        self.released = _Pairs()
        self.signers: dict[str, tuple[Any, ...]] = {}
        self._shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.wrong = _Examples()

    def feed(self, e: Event) -> None:
        kind = e.kind
        if kind == "dispatched":
            self.sessions[_id(e.fields["session"])] = _id(e.fields["tx"])
        elif kind == "mpc_round":
            signers = tuple(e.fields.get("signers") or ())
            self.signers[_id(e.fields["session"])] = self._shared.setdefault(signers, signers)
        elif kind == "share_released":
            # the session's facts are not needed once its share is out (what `signed` reads is `released`):
            # dropped, so they do not stay for the whole run, one pair of entries a transaction
            session = str(e.fields["session"])
            tx = self.sessions.pop(session, None)
            if tx is not None and ALL_THREE.issubset(self.signers.pop(session, ())):
                self.released.add(tx, str(e.fields["node"]))
        elif kind == "signed" and (str(e.fields["tx"]), str(e.fields["node"])) not in self.released:
            self.wrong.add(f"{e.fields['tx']} by {e.fields['node']}")

    def verdict(self) -> Verdict:
        if self.wrong:
            return Verdict(
                False,
                f"{self.wrong.count} signature(s) without the node's released share: {self.wrong.listed()}",
            )
        return Verdict(True, "every signature followed its node's share in a 3-of-3 session")


class AttestationGatesSecrets:
    """A node running a tampered image (an `attestation` fault) never opens its secrets: it does not
    reach `running` and releases no share until the signed image is back. The tampered image runs from the
    node's next change of state after the fault (its restart on it: at once in simulation; in the runtime
    once the launcher has killed the process still on the signed image, whose last shares are its own)."""

    KINDS: tuple[str, ...] = ("fault", "fault_end", "share_released", "node_state")

    def __init__(self) -> None:
        self.swapped: dict[int, str] = {}  # fault index -> node, still on the image it booted
        self.tampered: dict[int, str] = {}  # fault index -> node, restarted since the swap
        self.wrong = _Examples()

    def feed(self, e: Event) -> None:
        kind = e.kind
        if kind == "fault" and e.fields.get("action") == "attestation":
            for node in e.fields.get("nodes") or ():
                self.swapped[int(e.fields["index"])] = str(node)
        elif kind == "fault_end" and e.fields.get("action") == "attestation":
            self.swapped.pop(int(e.fields["index"]), None)
            self.tampered.pop(int(e.fields["index"]), None)
            return
        if not (self.swapped or self.tampered):
            return
        node = str(e.fields.get("node"))
        if kind == "node_state":
            for index in [i for i, n in self.swapped.items() if n == node]:
                self.tampered[index] = self.swapped.pop(index)
        if node in self.tampered.values() and (
            kind == "share_released" or (kind == "node_state" and e.fields.get("state") == "running")
        ):
            self.wrong.add(f"{node} {kind} at {e.t:g} s")

    def verdict(self) -> Verdict:
        if self.wrong:
            return Verdict(False, f"a node on a tampered image used its secrets: {self.wrong.listed()}")
        return Verdict(True, "no node on a tampered image opened its secrets")


def _nonce_key(value: object) -> bytes | str:
    """A nonce as the check remembers it: raw bytes (32 of them, not 64 hex digits or a bytes repr)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    text = str(value)
    if len(text) % 2 == 0 and text == text.lower():
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return text


class NoNonceReuse:
    """No party ever uses a signing nonce twice: the cloud co-signers (`nonce_used`) and the nodes
    (`share_released`, recorded after the node persisted the nonce as consumed)."""

    KINDS: tuple[str, ...] = ("nonce_used", "share_released")

    def __init__(self) -> None:
        # party -> the 32-byte nonce ids it used, compact (one per signature for the whole run), and
        # anything else a trace names a nonce by
        self.seen: dict[str, ConsumedNonces] = defaultdict(ConsumedNonces)
        self.other: dict[str, set[bytes | str]] = defaultdict(set)
        self.count = 0
        self.reused: set[tuple[str, bytes | str]] = set()

    def _use(self, party: object, nonce: object) -> None:
        key, who = _nonce_key(nonce), _id(party)
        if isinstance(key, bytes) and len(key) == NONCE_ID_SIZE:
            try:
                self.seen[who].mark(key)  # refuses an id it holds: one search, not a test and a mark
            except NonceReuseError:
                pass
            else:
                self.count += 1
                return
        else:
            others = self.other[who]
            if key not in others:
                others.add(key)
                self.count += 1
                return
        self.reused.add((str(party), key))

    def feed(self, e: Event) -> None:
        if e.kind == "nonce_used":
            self._use(e.fields.get("party"), e.fields["nonce"])
        elif e.kind == "share_released":
            self._use(e.fields.get("node"), e.fields["nonce_id"])

    def verdict(self) -> Verdict:
        if self.reused:
            reused = sorted(
                f"{party}:{(key.hex() if isinstance(key, bytes) else key)[:16]}" for party, key in self.reused
            )
            return Verdict(False, f"{len(reused)} nonce(s) used twice: {listed(reused)}")
        return Verdict(True, f"{self.count} nonce(s) used, each once")


class StandbyOnlyWhenNoActive:
    """A standby co-signer is chosen only when no active one answered available in that probe round
    (DESIGN.md section 2, step 4). Who is a standby comes from the configuration (`standby_set`), not from
    the selection's own belief; a round is the probes sent for a transaction since its last `probe_result`."""

    KINDS: tuple[str, ...] = ("standby_set", "probe_sent", "probe_answered", "probe_result")

    def __init__(self) -> None:
        self.configured: dict[str, bool] = {}  # cosigner -> standby, as configured
        self.probed: dict[str, bool] = {}  # cosigner -> standby, as probed (when nothing was configured)
        self.probes = IdToId("probe")  # probe id -> tx
        self.available: dict[str, list[str]] = defaultdict(list)  # tx -> co-signers that answered available
        self.wrong = _Examples()

    def _is_standby(self, cosigner: str) -> bool:
        return self.configured.get(cosigner, self.probed.get(cosigner, False))

    def feed(self, e: Event) -> None:
        kind = e.kind
        f = e.fields
        if kind == "standby_set":
            self.configured[str(f["cosigner"])] = bool(f["standby"])
        elif kind == "probe_sent":
            self.probes[str(f["probe"])] = str(f["tx"])
            self.probed[str(f["cosigner"])] = bool(f.get("standby"))
        elif kind == "probe_answered" and not f.get("late") and f.get("available"):
            tx = self.probes.get(str(f["probe"]))
            if tx is not None:
                self.available[tx].append(_id(f["cosigner"]))
        elif kind == "probe_result":
            tx, chosen = str(f["tx"]), f.get("chosen")
            active = [c for c in self.available.pop(tx, []) if not self._is_standby(c)]
            if chosen is not None and self._is_standby(str(chosen)) and active:
                self.wrong.add(f"{tx} (standby {chosen} chosen; {listed(active)} answered available)")

    def verdict(self) -> Verdict:
        if self.wrong:
            return Verdict(
                False,
                f"{self.wrong.count} standby choice(s) over an available active node: {self.wrong.listed()}",
            )
        return Verdict(True, "no standby was chosen while an active co-signer answered available")


class ExchangeFiatSingleSigner:
    """A transfer from an exchange or fiat account is signed only by the one API user its rule allows
    (tap-policy.md section 3: such sources take exactly one signer, never a group), however the cluster
    fails over: no co-signer of another API user takes it when that one is unavailable."""

    KINDS: tuple[str, ...] = ("submitted", "policy_decision", "signed")

    def __init__(self) -> None:
        self.restricted = IdSet()  # transactions from an exchange or fiat source
        self.signers: IdMap[tuple[str, ...]] = IdMap()  # their designated signers
        self.wrong = _Examples()

    def feed(self, e: Event) -> None:
        kind = e.kind
        if kind == "submitted":
            tx = str(e.fields.get("tx"))
            if str(e.fields.get("source", "")).partition(":")[0] in EXCHANGE_OR_FIAT:
                self.restricted.add(tx)
            else:
                self.restricted.discard(tx)
        elif kind == "policy_decision":
            self.signers[str(e.fields.get("tx"))] = tuple(map(str, e.fields.get("designated_signers") or ()))
        elif kind == "signed":
            tx = str(e.fields.get("tx"))
            if tx not in self.restricted:
                return
            allowed = self.signers.get(tx) or ()
            if len(allowed) != 1:
                self.wrong.add(f"{tx} (its rule names {len(allowed)} signers)")
            elif e.fields["api_user"] != allowed[0]:
                self.wrong.add(f"{tx} (signed by {e.fields['api_user']}, not {allowed[0]})")

    def verdict(self) -> Verdict:
        if self.wrong:
            return Verdict(
                False,
                f"{self.wrong.count} exchange/fiat transfer(s) not signed by their one signer: "
                f"{self.wrong.listed()}",
            )
        return Verdict(True, "every exchange/fiat transfer was signed by the one API user its rule allows")


class AllTerminal:
    KINDS: tuple[str, ...] = ("submitted", *TERMINAL_KINDS)

    def __init__(self) -> None:
        self.open: dict[str, int] = {}  # submitted and not ended (times submitted), in submission order
        self.submitted = 0
        self.ended = IdSet()

    def feed(self, e: Event) -> None:
        if e.kind == "submitted":
            tx = _id(e.fields["tx"])
            self.submitted += 1
            if tx not in self.ended:
                self.open[tx] = self.open.get(tx, 0) + 1
        elif e.kind in TERMINAL_KINDS:
            tx = str(e.fields["tx"])
            self.ended.add(tx)
            self.open.pop(tx, None)

    def verdict(self) -> Verdict:
        if self.open:
            count = sum(self.open.values())
            first = list(islice((tx for tx, n in self.open.items() for _ in range(n)), SHOWN))
            return Verdict(
                False,
                f"{count} of {self.submitted} transaction(s) not terminal: {listed(first, total=count)}",
            )
        return Verdict(True, f"all {self.submitted} transaction(s) reached a terminal status")


class NoInternalErrors:
    KINDS: tuple[str, ...] = ("internal_error",)

    def __init__(self) -> None:
        self.count = 0
        self.first: Any = None

    def feed(self, e: Event) -> None:
        if e.kind == "internal_error":
            self.count += 1
            if self.first is None:
                self.first = e.fields

    def verdict(self) -> Verdict:
        if self.count:
            return Verdict(
                False, f"{self.count} internal error(s); first: {self.first.get('error') or self.first}"
            )
        return Verdict(True, "no component reported an internal error")


def folded(fold: Fold, events: Iterable[Event]) -> Verdict:
    """The verdict of `fold` over `events`."""
    for e in events:
        fold.feed(e)
    return fold.verdict()


def _check(make: Callable[[], Fold], name: str) -> Callable[[Sequence[Event]], Verdict]:
    def check(events: Sequence[Event]) -> Verdict:
        return folded(make(), events)

    check.__name__ = check.__qualname__ = name
    check.__doc__ = make.__doc__
    return check


#: The one registry of invariants, as folds: every `cosigner-ha run` report, `explore`, the pytest plugin
#: and the tests check these, under these names, in this order.
FOLDS: dict[str, Callable[[], Fold]] = {
    "at_most_one_signature": AtMostOneSignature,
    "signatures_verify": SignaturesVerify,
    "signed_within_policy": SignedWithinPolicy,
    "signed_with_callback_approval": SignedWithCallbackApproval,
    "signed_with_node_share": SignedWithNodeShare,
    "no_nonce_reuse": NoNonceReuse,
    "attestation_gates_secrets": AttestationGatesSecrets,
    "standby_only_when_no_active": StandbyOnlyWhenNoActive,
    "exchange_fiat_single_signer": ExchangeFiatSingleSigner,
    "all_terminal": AllTerminal,
    "no_internal_errors": NoInternalErrors,
}

at_most_one_signature = _check(AtMostOneSignature, "at_most_one_signature")
signatures_verify = _check(SignaturesVerify, "signatures_verify")
signed_within_policy = _check(SignedWithinPolicy, "signed_within_policy")
signed_with_callback_approval = _check(SignedWithCallbackApproval, "signed_with_callback_approval")
signed_with_node_share = _check(SignedWithNodeShare, "signed_with_node_share")
no_nonce_reuse = _check(NoNonceReuse, "no_nonce_reuse")
attestation_gates_secrets = _check(AttestationGatesSecrets, "attestation_gates_secrets")
standby_only_when_no_active = _check(StandbyOnlyWhenNoActive, "standby_only_when_no_active")
exchange_fiat_single_signer = _check(ExchangeFiatSingleSigner, "exchange_fiat_single_signer")
all_terminal = _check(AllTerminal, "all_terminal")
no_internal_errors = _check(NoInternalErrors, "no_internal_errors")


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


class Checks:
    """Every invariant of `FOLDS` at once, fed each event as a run writes it: an event goes only to the
    checks that read its kind."""

    def __init__(self) -> None:
        self.folds = {name: make() for name, make in FOLDS.items()}
        self._by_kind: dict[str, list[Callable[[Event], None]]] = defaultdict(list)
        for fold in self.folds.values():
            for kind in fold.KINDS:
                self._by_kind[kind].append(fold.feed)

    def feed(self, e: Event) -> None:
        for feed in self._by_kind.get(e.kind, ()):
            feed(e)

    def handlers(self) -> dict[str, list[Callable[[Event], None]]]:
        """What `feed` calls, by kind: for a caller that dispatches on kind once for several folds."""
        return {kind: list(feeds) for kind, feeds in self._by_kind.items()}

    def verdicts(self) -> dict[str, Verdict]:
        return {name: fold.verdict() for name, fold in self.folds.items()}


def check_all(events: Iterable[Event]) -> dict[str, Verdict]:
    checks = Checks()
    for e in events:
        checks.feed(e)
    return checks.verdicts()
