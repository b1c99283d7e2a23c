"""A transaction from submission to a terminal status: validation, the policy decision, 2-TIER approvals
by simulated console users, then signing; with the authorization and signing timeouts and cancellation by
the initiator.

Submission either refuses (raising, with nothing recorded but a `submission_refused` event) or creates the
transaction and decides its policy in the same step, so the amount-over-time ledger sees transactions in
submission order.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import anyio

from cosigner_ha import policy
from cosigner_ha.env import scopes
from cosigner_ha.policy.vocabulary import INITIATING_ROLES
from cosigner_ha.saas_sim.approvers import Verdict
from cosigner_ha.saas_sim.causes import Cause
from cosigner_ha.saas_sim.context import SaasContext, WorkspaceState
from cosigner_ha.saas_sim.errors import Conflict, Forbidden, NotFound, SaasError, ValidationError
from cosigner_ha.saas_sim.sign_request import signing_message
from cosigner_ha.saas_sim.signing import SigningService
from cosigner_ha.saas_sim.transactions import CANCELLABLE, Status, SubStatus, Transaction, shared_text
from cosigner_ha.saas_sim.workspace import AccountKind, AccountRef

SOURCE_KINDS = (AccountKind.VAULT, AccountKind.EXCHANGE, AccountKind.FIAT)


@dataclasses.dataclass(slots=True, eq=False)
class Running:
    scope: anyio.CancelScope


class TransactionService:
    def __init__(self, ctx: SaasContext) -> None:
        self.ctx = ctx
        self.signing = SigningService(ctx, self.finish)
        self._running: dict[str, Running] = {}
        #: The policy decision of each unfinished transaction (a durable SaaS keeps it to resume from).
        self.decisions: dict[str, policy.Decision] = {}

    # --- submission ----------------------------------------------------------------------------------------

    def submit(
        self,
        workspace: str,
        *,
        initiator: str,
        asset: str,
        amount: Any,
        source: str,
        destination: str,
        operation: str = "TRANSFER",
        destination_address: str | None = None,
        external_id: str | None = None,
        note: str = "",
        extra_parameters: Mapping[str, Any] | None = None,
    ) -> Transaction:
        state = self.ctx.workspace_named(workspace)
        fields = {
            "initiator": initiator,
            "asset": asset,
            "amount": str(amount),
            "source": source,
            "destination": destination,
            "external_id": external_id,
        }
        try:
            if not self.ctx.running:
                raise RuntimeError("the SaaS is not running: start `await saas.run()` in a task group first")
            ptx = self._validate(
                state,
                initiator,
                operation,
                asset,
                amount,
                source,
                destination,
                destination_address,
                external_id,
            )
        except SaasError as exc:
            self.ctx.record(
                "submission_refused",
                workspace=state.workspace.name,
                code=exc.code,
                reason=exc.message,
                **fields,
            )
            raise
        now = self.ctx.env.clock.now()
        tx = Transaction(
            id=self.ctx.env.ids.sequence("tx"),
            workspace_id=state.workspace.id,
            initiator=initiator,
            # the few distinct words every record repeats, one string each (a day's records are many)
            operation=shared_text(operation),
            asset=asset,
            amount=_decimal(amount),
            source=source,
            destination=destination,
            destination_address=shared_text(str(ptx.destination_address)),
            external_id=external_id,
            note=note,
            created_at=now,
            extra_parameters=None if extra_parameters is None else dict(extra_parameters),
        )
        self.ctx.transactions[tx.id] = tx
        if external_id is not None:
            state.external_ids[external_id] = tx.id
        self.ctx.record(
            "submitted",
            tx=tx.id,
            workspace=state.workspace.name,
            initiator=initiator,
            operation=operation,
            asset=asset,
            amount=str(tx.amount),
            source=source,
            destination=destination,
            destination_address=tx.destination_address,
            external_id=external_id,
        )
        decision = self._decide(state, tx, ptx)
        self._start(tx, state, decision)
        return tx

    def _start(self, tx: Transaction, state: WorkspaceState, decision: policy.Decision) -> None:
        self.decisions[tx.id] = decision
        scope = anyio.CancelScope()
        self._running[tx.id] = Running(scope)
        self.ctx.spawn(self._run, tx, state, decision, scope)

    def resume(self, tx: Transaction, decision: policy.Decision | None) -> None:
        """Carry on a transaction that a restarted SaaS found unfinished, from the status it was saved in,
        with the time its timeouts have already run."""
        if tx.signature is not None:  # signed just before the restart: released now, never signed again
            self.finish(tx, Status.COMPLETED, None, f"signed by {tx.signed_by}", cause=None)
            return
        state = self.ctx.workspace(tx.workspace_id)
        if decision is None and tx.status is Status.SUBMITTED:  # stopped before the policy decided
            ptx = policy.Transaction(
                initiator=tx.initiator,
                operation=tx.operation,
                asset=tx.asset,
                amount=tx.amount,
                source=tx.source,
                destination=tx.destination,
                destination_address=tx.destination_address,
                at=tx.created_at,
            )
            decision = self._decide(state, tx, ptx)
        elif decision is None:  # past the decision: only the designated signers matter from here
            decision = policy.Decision(tx.rule, tx.action, tx.status.value, None, tx.designated_signers, None)
        self._start(tx, state, decision)

    def _validate(
        self,
        state: WorkspaceState,
        initiator: str,
        operation: str,
        asset: str,
        amount: Any,
        source: str,
        destination: str,
        destination_address: str | None,
        external_id: str | None,
    ) -> policy.Transaction:
        ws = state.workspace
        try:
            role = ws.role_of(initiator)
        except NotFound:
            raise ValidationError(
                "transaction.initiator", f"{initiator!r} is not a user of workspace {ws.name!r}"
            ) from None
        if role not in INITIATING_ROLES:
            raise Forbidden(
                f"transaction.initiator: {initiator!r} has role {role.value}, which cannot initiate transactions "
                f"(allowed: {', '.join(r.value for r in INITIATING_ROLES)})"
            )
        if asset not in ws.prices_usd:
            raise ValidationError(
                "transaction.asset",
                f"workspace {ws.name!r} has no asset {asset!r}; known: {', '.join(ws.prices_usd)}",
            )
        value = _decimal(amount)
        # A contract call, typed message, raw signing or approval may carry no value (an ERC-20 transfer()
        # is a contract call of 0 ETH); a transfer moves something.
        zero_ok = operation != "TRANSFER"
        if not value.is_finite() or value < 0 or (value == 0 and not zero_ok):
            what = "a non-negative" if zero_ok else "a positive"
            raise ValidationError("transaction.amount", f"expected {what} amount in {asset}, got {amount!r}")
        src = AccountRef.parse(source, "transaction.source")
        if src.kind not in SOURCE_KINDS:
            raise ValidationError(
                "transaction.source", f"a source is a vault, exchange or fiat account, got {source!r}"
            )
        dst = AccountRef.parse(destination, "transaction.destination")
        for path, ref in (("transaction.source", src), ("transaction.destination", dst)):
            if not ws.account_exists(ref):
                hint = " (only whitelisted wallets)" if ref.kind is AccountKind.WALLET else ""
                raise ValidationError(path, f"workspace {ws.name!r} has no {ref.kind.value} {ref.id!r}{hint}")
        if external_id is not None:
            if not isinstance(external_id, str) or not external_id:
                raise ValidationError(
                    "transaction.external_id", f"expected a non-empty string, got {external_id!r}"
                )
            if external_id in state.external_ids:
                raise Conflict(
                    f"transaction.external_id: {external_id!r} is already used by "
                    f"{state.external_ids[external_id]} in workspace {ws.name!r}; external ids are unique"
                )
        try:
            return policy.Transaction(
                initiator=initiator,
                operation=operation,
                asset=asset,
                amount=value,
                source=source,
                destination=destination,
                destination_address=destination_address,
                at=self.ctx.env.clock.now(),
            )
        except policy.PolicyError as exc:
            raise ValidationError(f"transaction.{exc.field or 'body'}", exc.problem) from None

    def _decide(self, state: WorkspaceState, tx: Transaction, ptx: policy.Transaction) -> policy.Decision:
        engine = state.engine
        if engine is None:
            decision = policy.Decision(None, None, "BLOCKED", "BLOCKED_BY_POLICY", (), None)
            why = "no policy is published: the catch-all rule blocks"
        else:
            try:
                decision = engine.decide_and_record(ptx)
                why = (
                    "first matching rule"
                    if decision.rule is not None
                    else "no rule matched: the catch-all blocks"
                )
            except policy.PolicyError as exc:
                decision = policy.Decision(None, None, "FAILED", SubStatus.INTERNAL_ERROR.value, (), None)
                why = f"the policy could not be evaluated: {exc}"
        tx.rule = decision.rule
        tx.action = decision.action
        tx.designated_signers = decision.designated_signers
        self.decisions[tx.id] = decision
        self.ctx.record(
            "policy_decision",
            tx=tx.id,
            rule=decision.rule,
            action=decision.action,
            status=decision.status,
            sub_status=decision.sub_status,
            designated_signers=list(decision.designated_signers),
            approvers=None if decision.approvers is None else decision.approvers.to_json(),
            reason=why,
        )
        return decision

    # --- the run -------------------------------------------------------------------------------------------

    async def _run(
        self, tx: Transaction, state: WorkspaceState, decision: policy.Decision, scope: anyio.CancelScope
    ) -> None:
        try:
            if tx.terminal:  # cancelled (or failed) between submission and this task's start
                return
            with scope:
                await self._drive(tx, state, decision)
        finally:
            self._running.pop(tx.id, None)

    async def _drive(self, tx: Transaction, state: WorkspaceState, decision: policy.Decision) -> None:
        status = decision.status
        if tx.status is Status.PENDING_SIGNATURE:  # resumed after a restart
            await self._sign(tx, state, self._candidates(tx, state))
            return
        if tx.status is Status.PENDING_AUTHORIZATION:  # resumed after a restart
            if not await self._authorize(tx, state, decision):
                return
        elif status in ("BLOCKED", "FAILED"):
            cause, why = {
                "SIGNER_NOT_FOUND": (
                    Cause.SIGNER_NOT_FOUND,
                    "no single API user may sign for this source (exchange/fiat rules name one)",
                ),
                "BLOCKED_BY_POLICY": (
                    Cause.POLICY_BLOCK,
                    "blocked by the catch-all (no rule matched)"
                    if decision.rule is None
                    else f"blocked by rule {decision.rule}",
                ),
            }.get(decision.sub_status or "", (Cause.POLICY_ERROR, "refused by policy"))
            self.finish(tx, Status(status), decision.sub_status, why, cause=cause)
            return
        elif status == "PENDING_AUTHORIZATION":
            self._move(tx, Status.PENDING_AUTHORIZATION, "waiting for the rule's approvers")
            if not await self._authorize(tx, state, decision):
                return
        candidates = self._candidates(tx, state)
        if not candidates:
            self.finish(
                tx,
                Status.FAILED,
                SubStatus.SIGNER_NOT_FOUND,
                "no designated signer is an API user that can sign (console-user signing is not simulated)",
                cause=Cause.SIGNER_NOT_FOUND,
            )
            return
        tx.message = signing_message(tx)
        self._move(tx, Status.PENDING_SIGNATURE, f"candidates {', '.join(candidates)}")
        await self._sign(tx, state, candidates)

    @staticmethod
    def _candidates(tx: Transaction, state: WorkspaceState) -> list[str]:
        return [
            name
            for name in tx.designated_signers
            if name in state.workspace.api_users and state.workspace.api_users[name].can_sign
        ]

    async def _sign(self, tx: Transaction, state: WorkspaceState, candidates: list[str]) -> None:
        timeout = self.ctx.config.signing_timeout
        began = tx.pending_signature_at
        left = timeout if began is None else timeout - (self.ctx.env.clock.now() - began)
        with scopes.move_on_after(left):
            await self.signing.sign(tx, state, candidates)
        if not tx.terminal:
            last = next((a for a in reversed(tx.attempts) if a.cause), None)
            self.finish(
                tx,
                Status.CANCELLED,
                self.ctx.config.signing_timeout_sub_status,
                f"not signed within the signing timeout of {timeout:.0f} s"
                + (
                    f"; {len(tx.attempts)} attempt(s), the last: {last.reason}"
                    if last
                    else "; no co-signer was available"
                ),
                cause=last.cause if last else Cause.NO_COSIGNER_AVAILABLE,
            )

    async def _authorize(self, tx: Transaction, state: WorkspaceState, decision: policy.Decision) -> bool:
        assert decision.approvers is not None
        tracker = policy.ApprovalTracker(decision.approvers, tx.initiator)
        for name, verdict in tx.approvals:  # answers given before a restart stand
            if verdict == Verdict.APPROVE.value:
                tracker.approve(name)
            else:
                tracker.reject(name)
        if not tracker.eligible:
            self.finish(
                tx,
                Status.FAILED,
                SubStatus.AUTHORIZER_NOT_FOUND,
                "the rule names no eligible approver",
                cause=Cause.AUTHORIZER_NOT_FOUND,
            )
            return False
        done = anyio.Event()
        details = tx.summary()

        async def ask(name: str) -> None:
            answer = await self.ctx.approver(state, name).decide(details)
            if tracker.outcome != "PENDING" or tx.terminal:
                return
            verdict = answer.verdict
            outcome = tracker.approve(name) if verdict is Verdict.APPROVE else tracker.reject(name)
            tx.approvals = (*tx.approvals, (name, verdict.value))
            self.ctx.record(
                "approval",
                tx=tx.id,
                approver=name,
                verdict=verdict.value,
                latency=answer.latency,
                outcome=outcome,
            )
            if outcome != "PENDING":
                done.set()

        timeout = self.ctx.config.authorization_timeout
        entered = [h.at for h in tx.history if h.status is Status.PENDING_AUTHORIZATION]
        left = timeout - (self.ctx.env.clock.now() - entered[-1]) if entered else timeout
        with scopes.move_on_after(left):
            async with anyio.create_task_group() as tasks:
                for name in tracker.awaiting:
                    tasks.start_soon(ask, name)
                if tracker.outcome == "PENDING":
                    await done.wait()
                tasks.cancel_scope.cancel()
        if tracker.outcome == "APPROVED":
            return True
        if tracker.outcome == "REJECTED":
            who = next(n for n, v in tx.approvals if v != Verdict.APPROVE.value)
            self.finish(
                tx,
                Status.REJECTED,
                SubStatus.REJECTED_BY_USER,
                f"rejected by approver {who}",
                cause=Cause.APPROVER_REJECT,
            )
        else:
            self.finish(
                tx,
                Status.FAILED,
                self.ctx.config.authorization_timeout_sub_status,
                f"not authorized within the authorization timeout of {timeout:.0f} s",
                cause=Cause.AUTHORIZATION_TIMEOUT,
            )
        return False

    # --- status changes ------------------------------------------------------------------------------------

    def _move(self, tx: Transaction, status: Status, reason: str) -> None:
        previous = tx.move(status, at=self.ctx.env.clock.now(), reason=reason)
        self.ctx.record("tx_status", tx=tx.id, status=status.value, previous=previous.value, reason=reason)

    def finish(
        self, tx: Transaction, status: Status, sub_status: str | None, reason: str, *, cause: str | None
    ) -> bool:
        """Enter a terminal status once, record it with its `cause` (saas_sim/causes.py; None only for
        COMPLETED), and stop the transaction's own task."""
        if tx.terminal:
            return False
        now = self.ctx.env.clock.now()
        tx.move(status, at=now, sub_status=sub_status, reason=reason)
        tx.cause = None if cause is None else str(cause)
        fields: dict[str, Any] = {
            "tx": tx.id,
            "status": status.value,
            "sub_status": sub_status,
            "reason": reason,
            "latency": round(now - tx.created_at, 6),
        }
        if status is not Status.COMPLETED:
            fields["cause"] = tx.cause
            fields["rule"] = tx.rule
        if status is Status.COMPLETED:
            fields["cosigner"] = tx.signed_by
            fields["api_user"] = tx.signed_api_user
            fields["attempts"] = len(tx.attempts)
        self.ctx.record(status.value.lower(), **fields)
        self.decisions.pop(tx.id, None)
        running = self._running.get(tx.id)
        if running is not None:
            running.scope.cancel()
        return True

    def cancel(self, tx_id: str, *, by: str) -> Transaction:
        """Cancellation by the initiator, while no signature has been released."""
        tx = self.transaction(tx_id)
        if by != tx.initiator:
            raise Forbidden(f"only the initiator {tx.initiator!r} may cancel {tx.id}, not {by!r}")
        if tx.status not in CANCELLABLE:
            raise Conflict(f"{tx.id} is {tx.status.value}; it can no longer be cancelled")
        self.finish(
            tx,
            Status.CANCELLED,
            SubStatus.CANCELLED_BY_USER,
            f"cancelled by {by}",
            cause=Cause.CANCELLED_BY_USER,
        )
        return tx

    def transaction(self, tx_id: str) -> Transaction:
        try:
            return self.ctx.transactions[tx_id]
        except KeyError:
            raise NotFound(f"no transaction {tx_id!r}") from None

    def by_external_id(self, workspace: str, external_id: str) -> Transaction:
        state = self.ctx.workspace_named(workspace)
        tx_id = state.external_ids.get(external_id)
        if tx_id is None:
            raise NotFound(f"workspace {workspace!r} has no transaction with external id {external_id!r}")
        return self.ctx.transactions[tx_id]


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValidationError("transaction.amount", f"expected a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("transaction.amount", f"expected a finite amount, got {value!r}")
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError("transaction.amount", f"expected a number, got {value!r}") from None
