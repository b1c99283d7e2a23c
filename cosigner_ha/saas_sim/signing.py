"""Availability probing, dispatch to one co-signer node, and the FROST signing it runs with the two cloud
co-signers, relayed and aggregated here.

The safety argument is local to this module: a signature exists only when `_release` runs, `_release`
runs only while the transaction is PENDING_SIGNATURE and moves it to COMPLETED in the same synchronous
step, and COMPLETED is terminal. Everything between awaits is synchronous, so no timeout, cancellation or
second session can slip in between the check and the move. The cloud co-signers' compute time (each
round waits for `cloud_slots`) comes before a round's checks, never between them: the session is looked
up again after the wait. An abandoned session's cloud nonces are
discarded, so a late share from that node finds nothing to combine with.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NoReturn, Protocol

from cosigner_ha import mpc, wire
from cosigner_ha.env import scopes
from cosigner_ha.saas_sim.causes import Cause, callback_cause, callback_failure_sub_status
from cosigner_ha.saas_sim.config import Selection
from cosigner_ha.saas_sim.context import SaasContext, WorkspaceState
from cosigner_ha.saas_sim.errors import SessionClosed, UnknownSession
from cosigner_ha.saas_sim.keyholders import NODE_ID, USER_IDS
from cosigner_ha.saas_sim.registry import Cosigner
from cosigner_ha.saas_sim.selection import Answer, choose, settled
from cosigner_ha.saas_sim.sign_request import callback_request
from cosigner_ha.saas_sim.transactions import Attempt, Status, SubStatus, Transaction
from cosigner_ha.saas_sim.workspace import ApiUser


class Finish(Protocol):
    """`Lifecycle.finish`: enter a terminal status once, with its cause."""

    def __call__(
        self, tx: Transaction, status: Status, sub_status: str | None, reason: str, *, cause: str | None
    ) -> bool: ...


# Outcomes of one attempt.
COMPLETED, REJECTED, FAILED, RETRY, ABANDONED = "completed", "rejected", "failed", "retry", "abandoned"


@dataclasses.dataclass(slots=True, eq=False)
class ProbeRound:
    """One transaction's probes. The dispatch waiting on it wakes once the answers settle the choice: an
    answer that cannot (a standby's while an active node may still answer) is only noted."""

    tx_id: str
    answers: list[Answer]
    selection: Selection
    _seq: int = 0
    settled: scopes.Flag = dataclasses.field(default_factory=scopes.Flag)

    def record(self, answer: Answer, available: bool) -> None:
        answer.available = available
        answer.seq = self._seq
        self._seq += 1
        if settled(self.answers, self.selection):
            self.settled.set()


@dataclasses.dataclass(slots=True, eq=False)
class Session:
    """One dispatch of a transaction to one node: phases callback -> commit -> share -> closed."""

    id: str
    tx: Transaction
    state: WorkspaceState
    cosigner: Cosigner
    api_user: ApiUser
    attempt: Attempt
    #: The clock the attempt's timeouts run on, and when the node last moved the session on.
    now: Callable[[], float]
    progressed_at: float
    phase: str = "callback"
    package: mpc.SigningPackage | None = None
    #: The round's public values (binding factors, R, challenge) for the clouds and the aggregator, built
    #: with the package: that multiplication checks the node's binding commitment before round two is sent.
    signing: mpc.SigningSession | None = None
    node_commitments: bytes = b""  # as the node sent them: a resent approval is recognised by them
    outcome: str | None = None
    reason: str = ""
    _waiters: list[scopes.Flag] = dataclasses.field(default_factory=list)

    def progress(self) -> None:
        """The node moved the session on (or it ended). Only an end wakes the attempt: a move on just
        pushes its idle deadline back, which the attempt reads when it wakes at the old one."""
        self.progressed_at = self.now()
        if self.outcome is not None:
            self.nudge()

    def nudge(self) -> None:
        """Something the attempt watches changed (the node's connections)."""
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            event.set()

    async def wait(self, timeout: float) -> None:
        event = scopes.Flag()
        self._waiters.append(event)
        await event.wait(timeout)


class SigningService:
    def __init__(self, ctx: SaasContext, finish: Finish) -> None:
        self.ctx = ctx
        self._finish = finish
        #: Whether a co-signer has an open, authenticated connection (set by the SaaS from its gateway).
        self.connected: Callable[[str], bool] = lambda cosigner_id: True
        self._probes: dict[str, tuple[ProbeRound, Answer]] = {}
        # recent probe id -> tx id, to name late answers; ordered so that the oldest leaves in O(1) (a dict's
        # `next(iter(...))` walks past every key dropped before it until the dict is rebuilt)
        self._closed_probes: OrderedDict[str, str] = OrderedDict()
        self._sessions: dict[str, Session] = {}

    # --- the loop of one transaction -----------------------------------------------------------------------

    async def sign(self, tx: Transaction, state: WorkspaceState, candidates: Sequence[str]) -> None:
        """Probe, dispatch, fail over, until the transaction is terminal. The caller bounds it in time."""
        tried: list[str] = []
        quiet = False  # a run of rounds without any online candidate is recorded once
        while not tx.terminal:
            answer, had_candidates = await self._probe_round(tx, state, candidates, tried, quiet=quiet)
            quiet = not had_candidates
            if tx.terminal:
                return
            if answer is None:
                await self.ctx.env.clock.sleep(self.ctx.config.reprobe_interval)
                continue
            outcome, reason = await self._attempt(tx, state, answer)
            if outcome == RETRY and not tx.terminal:
                tried.append(answer.cosigner_id)
                self.ctx.record("failover", tx=tx.id, cosigner=answer.cosigner_id, reason=reason)

    def _candidates(self, state: WorkspaceState, names: Sequence[str], tried: Sequence[str]) -> list[Answer]:
        """Every online co-signer paired with a candidate API user, in listed order."""
        found: list[tuple[int, int, Cosigner, ApiUser]] = []
        listed = self.ctx.config.listed_order
        for rank, name in enumerate(names):
            user = state.workspace.api_users.get(name)
            if user is None or user.name not in state.user_keys:
                continue
            for cosigner in self.ctx.registry.paired_with(state.workspace.id, name):
                if self.ctx.registry.is_online(cosigner):
                    place = listed.index(cosigner.id) if cosigner.id in listed else len(listed)
                    found.append((place, rank, cosigner, user))
        found.sort(key=lambda item: (item[0], item[1]))
        return [
            Answer(
                probe_id=self.ctx.env.ids.sequence("probe"),
                cosigner_id=cosigner.id,
                api_user=user.name,
                order=order,
                standby=self.ctx.is_standby(cosigner.id),
                tried=cosigner.id in tried,
            )
            for order, (_, _, cosigner, user) in enumerate(found)
        ]

    async def _probe_round(
        self,
        tx: Transaction,
        state: WorkspaceState,
        names: Sequence[str],
        tried: Sequence[str],
        *,
        quiet: bool = False,
    ) -> tuple[Answer | None, bool]:
        """The chosen answer (or None), and whether there was any online candidate to probe."""
        answers = self._candidates(state, names, tried)
        selection = self.ctx.config.selection
        if not answers:
            if not quiet:
                self.ctx.record(
                    "probe_result", tx=tx.id, selection=selection, candidates=0, chosen=None, answered=[]
                )
            return None, False
        window = self.ctx.config.probe_window
        deadline = self.ctx.env.clock.wall() + window
        probe_round = ProbeRound(tx.id, answers, selection)
        for answer in answers:
            self._probes[answer.probe_id] = (probe_round, answer)
            user = state.workspace.api_user(answer.api_user)
            self.ctx.mailbox(answer.cosigner_id).put(
                wire.AvailabilityProbe(answer.probe_id, tx.id, user.id, deadline)
            )
            self.ctx.record(
                "probe_sent",
                tx=tx.id,
                probe=answer.probe_id,
                cosigner=answer.cosigner_id,
                api_user=answer.api_user,
                standby=answer.standby,
            )
        try:
            await probe_round.settled.wait(window)
        finally:
            for answer in answers:
                self._probes.pop(answer.probe_id, None)
                self._closed_probes[answer.probe_id] = tx.id
            while len(self._closed_probes) > 10_000:
                self._closed_probes.popitem(last=False)
        chosen = choose(answers, selection)
        self.ctx.record(
            "probe_result",
            tx=tx.id,
            selection=selection,
            candidates=len(answers),
            chosen=None if chosen is None else chosen.cosigner_id,
            answered=[
                a.cosigner_id for a in sorted(answers, key=lambda a: a.seq or 0) if a.available is not None
            ],
        )
        return chosen, True

    def on_probe_answer(self, cosigner: Cosigner, probe_id: str, available: bool) -> None:
        """A probe's answer, on its own (`ProbeAnswer`) or carried by the node's next `Poll`. The same answer
        twice is taken once: a node sends its poll's answers again when it never saw the poll's result."""
        found = self._probes.get(probe_id)
        if found is None:
            self.ctx.record(
                "probe_answered",
                tx=self._closed_probes.get(probe_id),
                probe=probe_id,
                cosigner=cosigner.id,
                available=available,
                late=True,
            )
            return
        probe_round, answer = found
        if answer.cosigner_id != cosigner.id:
            raise UnknownSession(f"probe {probe_id} was not sent to co-signer {cosigner.id!r}")
        if answer.answered:
            if answer.available == available:
                return
            raise SessionClosed(f"probe {probe_id} was already answered (available: {answer.available})")
        probe_round.record(answer, available)
        self.ctx.record(
            "probe_answered",
            tx=probe_round.tx_id,
            probe=probe_id,
            cosigner=cosigner.id,
            available=available,
            late=False,
        )

    # --- one attempt ---------------------------------------------------------------------------------------

    async def _attempt(self, tx: Transaction, state: WorkspaceState, answer: Answer) -> tuple[str, str]:
        cosigner = self.ctx.registry.get(answer.cosigner_id)
        user = state.workspace.api_user(answer.api_user)
        session_id = self.ctx.env.ids.uuid()
        attempt = Attempt(session_id, cosigner.id, user.name, self.ctx.env.clock.now())
        tx.attempts = (*tx.attempts, attempt)
        clock = self.ctx.env.clock
        session = Session(session_id, tx, state, cosigner, user, attempt, clock.now, clock.now())
        self._sessions[session_id] = session
        timeout = self.ctx.config.attempt_timeout
        self.ctx.mailbox(cosigner.id).put(
            wire.SignRequest(
                session_id=session_id,
                tx_id=tx.id,
                api_user=user.id,
                request=callback_request(tx, state, user),
                message=tx.message,
                participants=list(USER_IDS),
                deadline=self.ctx.env.clock.wall() + timeout,
            )
        )
        self.ctx.record(
            "dispatched",
            tx=tx.id,
            session=session_id,
            cosigner=cosigner.id,
            node=cosigner.name,
            api_user=user.name,
            attempt=len(tx.attempts),
        )
        grace = self.ctx.config.disconnect_grace
        lost_since: float | None = None
        try:
            # Wakes at the end of the session, when the node's connections change, or at the earlier of
            # the idle deadline (from the node's last progress) and the end of a lost connection's grace.
            while session.outcome is None:
                now = clock.now()
                idle_deadline = session.progressed_at + timeout
                if self.connected(cosigner.id):
                    lost_since = None
                elif lost_since is None:
                    lost_since = now
                if now >= idle_deadline:
                    why = f"no progress from the node for {timeout:.0f} s (phase {session.phase})"
                    self._close(session, RETRY, why, Cause.COSIGNER_LOST)
                elif lost_since is not None and now >= lost_since + grace:
                    why = f"the node lost its connection for {grace:.0f} s (phase {session.phase})"
                    self._close(session, RETRY, why, Cause.COSIGNER_LOST)
                else:
                    wake = idle_deadline if lost_since is None else min(idle_deadline, lost_since + grace)
                    await session.wait(wake - now)
        finally:
            if session.outcome is None:
                why = (
                    f"the transaction ended {tx.status.value}"
                    if tx.terminal
                    else "signing was stopped (timeout)"
                )
                self._close(session, ABANDONED, why)
        return session.outcome, session.reason

    def _close(self, session: Session, outcome: str, reason: str, cause: str = "") -> None:
        """End the attempt; `cause` (saas_sim/causes.py) says why one that did not complete ended."""
        if session.outcome is not None:
            return
        session.outcome = outcome
        session.reason = reason
        session.phase = "closed"
        session.attempt.outcome = outcome
        session.attempt.reason = reason
        session.attempt.cause = cause
        self._sessions.pop(session.id, None)
        for cloud in self.ctx.clouds:
            cloud.discard(session.id)  # unused nonces are dropped, never reused
        if outcome != COMPLETED:
            box = self.ctx.mailbox(session.cosigner.id)
            box.drop(lambda item: getattr(item, "session_id", None) == session.id)
            box.put(wire.SignAbort(session.id, reason))
        self.ctx.record(
            "attempt_ended",
            tx=session.tx.id,
            session=session.id,
            cosigner=session.cosigner.id,
            outcome=outcome,
            reason=reason,
            **({"cause": cause} if cause else {}),
        )
        session.progress()

    def connection_changed(self, cosigner_id: str) -> None:
        """A connection of the co-signer opened or closed: its attempts re-check whether it is still there."""
        for session in self._sessions.values():
            if session.cosigner.id == cosigner_id:
                session.nudge()

    def abort_for(self, cosigner_id: str, api_user: str, reason: str) -> int:
        """Close the open sessions of one pairing (it was undone)."""
        victims = [
            s for s in self._sessions.values() if s.cosigner.id == cosigner_id and s.api_user.name == api_user
        ]
        for session in victims:
            self._close(session, RETRY, reason, Cause.COSIGNER_CANNOT_SIGN)
        return len(victims)

    def _session(self, cosigner: Cosigner, session_id: str, phase: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionClosed(f"signing session {session_id} is closed or unknown")
        if session.cosigner.id != cosigner.id:
            raise UnknownSession(f"signing session {session_id} belongs to another co-signer")
        if session.phase != phase:
            raise SessionClosed(
                f"signing session {session_id} is in phase {session.phase}, not expecting {phase}"
            )
        if session.api_user.name not in session.state.user_keys:
            self._close(
                session, RETRY, f"API user {session.api_user.name!r} was unpaired", Cause.COSIGNER_CANNOT_SIGN
            )
            raise SessionClosed(
                f"API user {session.api_user.name!r} was unpaired; session {session_id} is closed"
            )
        return session

    # --- messages from the chosen node ---------------------------------------------------------------------

    async def on_callback_result(self, cosigner: Cosigner, msg: wire.CallbackResult) -> wire.Response:
        """The handler's decision; an APPROVE carries the node's commitments and is answered with round two.

        The node sends it again when it lost the answer (it retries while the SaaS is unreachable): an
        APPROVE with the same commitments for a session already in round two gets round two again."""
        known = self._sessions.get(msg.session_id)
        if (
            known is not None
            and known.phase == "share"
            and known.cosigner.id == cosigner.id
            and msg.action == "APPROVE"
            and msg.commitments == known.node_commitments
            and known.package is not None
        ):
            return wire.SignRound2(known.id, known.package.to_bytes())
        session = self._session(cosigner, msg.session_id, "callback")
        tx = session.tx
        config = self.ctx.config
        failed = msg.action not in ("APPROVE", "REJECT")
        cause = callback_cause(msg.cause) if failed else None
        self.ctx.record(
            "callback_result",
            tx=tx.id,
            session=session.id,
            cosigner=cosigner.id,
            api_user=session.api_user.name,
            action=msg.action,
            reason=msg.reason,
            **({"cause": cause, "error": msg.cause} if cause else {}),
        )
        if msg.action == "APPROVE":
            session.phase = "commit"
            session.progress()
            return await self._on_commitments(cosigner, session.id, msg.commitments)
        if msg.action == "REJECT":
            # Final: one rejection denies the transaction; no other node is tried.
            self._close(session, REJECTED, f"callback handler rejected: {msg.reason}", Cause.CALLBACK_REJECT)
            self._finish(
                tx,
                Status.REJECTED,
                config.reject_sub_status,
                f"callback REJECT: {msg.reason}",
                cause=Cause.CALLBACK_REJECT,
            )
        else:
            assert cause is not None
            why = f"callback {msg.cause or msg.action} on {cosigner.name}: {msg.reason}"
            if config.callback_failure == "fail":
                self._close(session, FAILED, why, cause)
                self._finish(tx, Status.FAILED, callback_failure_sub_status(cause, config), why, cause=cause)
            else:
                self._close(session, RETRY, why, cause)
        return wire.Ack()

    async def _cloud_round(self, cosigner: Cosigner, session_id: str, phase: str) -> Session:
        """The cloud co-signers compute their part of a round (in parallel, as long as one round takes, after
        waiting for a free slot), then the session is checked again: anything may have closed it meanwhile."""
        self._session(cosigner, session_id, phase)  # refuse at once what is already wrong
        # shielded: the node's message was received, so the round goes on even if its connection drops
        # meanwhile (as when it was handled at once); the attempt then fails over as for any lost node
        with scopes.cancel_scope(shield=True):
            async with self.ctx.cloud_slots.round():
                pass
        return self._session(cosigner, session_id, phase)

    async def _on_commitments(self, cosigner: Cosigner, session_id: str, data: bytes) -> wire.SignRound2:
        session = await self._cloud_round(cosigner, session_id, "commit")
        try:
            node = mpc.SigningCommitments.from_bytes(data)  # its binding point: checked by the session
            if node.identifier != NODE_ID:
                raise mpc.UnknownIdentifierError(
                    f"the node signs as participant {NODE_ID}, not {node.identifier}"
                )
        except (mpc.MpcError, ValueError) as exc:
            self._refuse_commitments(session, exc)
        ws_id, user_id = session.state.workspace.id, session.api_user.id
        commitments = {NODE_ID: node}
        for cloud in self.ctx.clouds:
            commitments[cloud.identifier] = cloud.commit(session.id, ws_id, user_id)
        package = mpc.SigningPackage(session.tx.message, commitments)
        try:
            signing = self._signing_session(session, package)
        except mpc.InvalidElementError as exc:  # the node's binding commitment (the clouds' are their own)
            self._refuse_commitments(session, exc)
        session.package, session.signing = package, signing
        session.node_commitments = data
        session.phase = "share"
        self.ctx.record(
            "mpc_round",
            tx=session.tx.id,
            session=session.id,
            cosigner=cosigner.id,
            round=1,
            signers=list(USER_IDS),
        )
        session.progress()
        return wire.SignRound2(session.id, session.package.to_bytes())

    def _refuse_commitments(self, session: Session, exc: Exception) -> NoReturn:
        self._close(session, RETRY, f"bad commitments from the node: {exc}", Cause.SIGNING_ERROR)
        raise SessionClosed(f"commitments refused: {exc}") from None

    async def on_signature_share(self, cosigner: Cosigner, msg: wire.SignatureShare) -> None:
        session = await self._cloud_round(cosigner, msg.session_id, "share")
        tx = session.tx
        try:
            node_share = mpc.SignatureShare.from_bytes(msg.share)
        except (mpc.MpcError, ValueError) as exc:
            self._close(session, RETRY, f"bad signature share from the node: {exc}", Cause.SIGNING_ERROR)
            raise SessionClosed(f"signature share refused: {exc}") from None
        if tx.status is not Status.PENDING_SIGNATURE or tx.signature is not None:
            self._close(session, ABANDONED, f"the transaction is {tx.status.value}")
            raise SessionClosed(f"transaction {tx.id} is {tx.status.value}; no signature is released")
        self._release(session, node_share)

    def _signing_session(self, session: Session, package: mpc.SigningPackage) -> mpc.SigningSession:
        """The cloud co-signers and the aggregator share this process: R, the binding factors and the
        challenge are computed once for the three of them, the clouds' nonce terms folded into one
        base-point multiplication (the node's term costs the one variable-base multiplication, which
        validates its binding commitment)."""
        return mpc.SigningSession(
            package,
            session.state.user_keys[session.api_user.name],
            local_nonces=[cloud.nonces(session.id) for cloud in self.ctx.clouds],
        )

    def _release(self, session: Session, node_share: mpc.SignatureShare) -> None:
        """Cloud shares, aggregate (a standard Ed25519 verification), COMPLETED: one synchronous step."""
        tx, state, package, signing = session.tx, session.state, session.package, session.signing
        assert package is not None and signing is not None
        ws_id, user_id = state.workspace.id, session.api_user.id
        public = state.user_keys[session.api_user.name]
        if signing.public_key_package is not public:  # the user's key package changed since round one
            signing = self._signing_session(session, package)
        shares = {NODE_ID: node_share}
        for cloud in self.ctx.clouds:
            share, nonce_id = cloud.sign(session.id, ws_id, user_id, signing)
            shares[cloud.identifier] = share
            self.ctx.record("nonce_used", party=cloud.name, nonce=nonce_id, session=session.id, tx=tx.id)
        try:
            # libsodium's standard RFC 8032 verifier (crypto_sign_open) checks the aggregate: a signature is
            # released only if it verifies. The invariant checker verifies it again, independently (OpenSSL).
            signature = signing.aggregate(shares)
        except mpc.InvalidSignatureShareError as exc:
            self.ctx.record(
                "mpc_error", tx=tx.id, session=session.id, culprits=list(exc.culprits), error=str(exc)
            )
            self._close(
                session,
                RETRY,
                f"invalid signature share from participant(s) {list(exc.culprits)}",
                Cause.SIGNING_ERROR,
            )
            raise SessionClosed(f"the signature share does not verify: {exc}") from None
        except mpc.KeyMismatchError:  # every share checks out, yet the aggregate fails standard verification
            self._close(
                session,
                FAILED,
                "the aggregate signature failed standard Ed25519 verification",
                Cause.SIGNING_ERROR,
            )
            self._finish(
                tx,
                Status.FAILED,
                SubStatus.SIGNING_ERROR,
                "aggregate signature did not verify",
                cause=Cause.SIGNING_ERROR,
            )
            raise SessionClosed("the aggregate signature failed standard verification") from None
        self.ctx.record(
            "mpc_round",
            tx=tx.id,
            session=session.id,
            cosigner=session.cosigner.id,
            round=2,
            signers=list(USER_IDS),
        )
        tx.signature = signature
        tx.signed_by = session.cosigner.id
        tx.signed_api_user = session.api_user.name
        self.ctx.record(
            "signed",
            tx=tx.id,
            node=session.cosigner.name,
            cosigner=session.cosigner.id,
            api_user=session.api_user.name,
            scheme=mpc.scheme,
            public_key=public.group_public_key.hex(),
            message=tx.message.hex(),
            signature=signature.hex(),
        )
        self._close(session, COMPLETED, "signed")
        self._finish(tx, Status.COMPLETED, None, f"signed by {session.cosigner.id}", cause=None)

    @property
    def open_sessions(self) -> list[Session]:
        return list(self._sessions.values())
