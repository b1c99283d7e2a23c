"""Signing work: a signing request goes to the callback handler; on APPROVE the node commits to nonces and
sends the commitments with the approval, whose answer is round two; round two releases its signature share
once; an abort or the end of a session drops the session's nonces."""

from __future__ import annotations

from cosigner_ha.node.admin import LocalAdmin
from cosigner_ha.node.callback import (
    CallbackFailure,
)
from cosigner_ha.wire import (
    CallbackResult,
    Error,
    Response,
    SignAbort,
    SignatureShare,
    SignRequest,
    SignRound2,
)


class SigningWork(LocalAdmin):
    """The node's part of the FROST rounds, after its callback handler's decision."""

    async def _on_sign_request(self, item: SignRequest) -> None:
        session = item.session_id
        self.proc.sessions[session] = (item.api_user, item.deadline)
        try:
            await self._callback_then_commit(item)
        except BaseException:
            self._end_session(session)
            raise

    async def _callback_then_commit(self, item: SignRequest) -> None:
        session, api_user = item.session_id, item.api_user
        ok, why = self.can_sign(api_user)
        user = next((u for u in self._users() if u.api_user == api_user), None)
        if not ok or user is None:
            await self._report(
                item, "FAILED", f"this co-signer cannot sign for {api_user}: {why}", cause="CANNOT_SIGN"
            )
            self._end_session(session)
            return
        body = dict(item.request)
        body.setdefault("txId", item.tx_id)
        body.setdefault("requestId", item.tx_id)
        body.setdefault("signerId", api_user)
        try:
            decision = await self.callbacks.ask("tx", api_user, user.callback, body, deadline=item.deadline)
        except CallbackFailure as failure:
            await self._report(item, "FAILED", failure.detail, cause=failure.kind)
            self._end_session(session)
            return
        if decision.action != "APPROVE":
            await self._report(item, decision.action, decision.reason)
            self._end_session(session)
            return
        signer = self.proc.signers.get(api_user)
        if signer is None or session not in self.proc.sessions:
            if session in self.proc.sessions:  # unpaired while the handler decided
                await self._report(item, "FAILED", f"no key share for {api_user} here", cause="CANNOT_SIGN")
            self._end_session(session)
            return
        # Protocol v2: the approval carries the node's commitments and is answered with round two.
        async with self.signing.round():
            if session not in self.proc.sessions:
                return  # aborted while it queued for the enclave
            commitments = signer.commit(session, item.message, self.proc.nonce_rand)
        self.env.trace.record(
            "commitments_sent",
            node=self.name,
            tx=item.tx_id,
            session=session,
            api_user=api_user,
            nonce_id=commitments.nonce_id.hex(),
        )
        answer = await self._report(item, "APPROVE", decision.reason, commitments=commitments.to_bytes())
        if isinstance(answer, SignRound2) and answer.session_id == session:
            await self._round2(session, answer.signing_package)
            return
        if isinstance(answer, Error):
            self._log_signer.warn(
                "commit", f"session {session}: commitments refused: {answer.code}: {answer.message}"
            )
        else:
            self._log_signer.warn(
                "commit", f"session {session}: the SaaS answered the approval with {answer.TYPE}"
            )
        self._end_session(session)

    async def _report(
        self, item: SignRequest, action: str, reason: str, *, cause: str = "", commitments: bytes = b""
    ) -> Response:
        """Tell the SaaS what the handler decided; a failure carries its kind (`wire.CALLBACK_FAILURES`)."""
        what = f"{action} {cause}" if cause else action
        self._log_signer.info("callback", f"tx {item.tx_id} for {item.api_user}: {what} {reason}".rstrip())
        return await self._call(
            lambda token: CallbackResult(token, item.session_id, action, reason, cause, commitments),
            until=item.deadline,
        )

    async def _round2(self, session: str, signing_package: bytes) -> None:
        known = self.proc.sessions.get(session)
        signer = self.proc.signers.get(known[0]) if known else None
        if known is None or signer is None:
            self.env.trace.record("round2_refused", node=self.name, session=session, reason="unknown session")
            self._log_signer.warn(
                "sign", f"session {session}: no nonce pair here (restarted or aborted); not signing"
            )
            return
        api_user, deadline = known
        async with self.signing.round():
            if session not in self.proc.sessions:
                return  # aborted while it queued for the enclave
            share, nonce_id = signer.sign(session, signing_package, persist=self._persist_nonce)
        self.env.trace.record(
            "share_released", node=self.name, session=session, api_user=api_user, nonce_id=nonce_id.hex()
        )
        self._log_signer.info("sign", f"session {session}: signature share released for {api_user}")
        try:
            await self._call(lambda token: SignatureShare(token, session, share), until=deadline)
        finally:
            self._end_session(session)

    def _persist_nonce(self, nonce_id: bytes) -> None:
        assert self.proc.db is not None
        self.proc.db.consume(nonce_id)

    def _on_abort(self, item: SignAbort) -> None:
        known = self.proc.sessions.get(item.session_id)
        self._end_session(item.session_id)
        self.env.trace.record("session_aborted", node=self.name, session=item.session_id, reason=item.reason)
        if known:
            self._log_signer.info("abort", f"session {item.session_id} aborted by the SaaS: {item.reason}")

    def _end_session(self, session: str) -> None:
        known = self.proc.sessions.pop(session, None)
        if known is not None:
            self._notify()
            signer = self.proc.signers.get(known[0])
            if signer is not None:
                signer.drop(session)
