"""What every management request goes through: a simulated person decides, the request moves and its
co-signer hears of it, and only a workspace admin (or a co-signer itself) may ask.

Shared by pairing (`pairing.py`) and the other management flows (`cosigner_management.py`).
"""

from __future__ import annotations

from typing import Any

import anyio

from cosigner_ha import wire
from cosigner_ha.policy.vocabulary import ADMIN_ROLES
from cosigner_ha.saas_sim.approvers import Verdict
from cosigner_ha.saas_sim.context import SaasContext, WorkspaceState
from cosigner_ha.saas_sim.errors import Forbidden
from cosigner_ha.saas_sim.management import ManagementRequest, RequestKind, RequestState
from cosigner_ha.saas_sim.workspace import UserStatus


class RequestSteps:
    def __init__(self, ctx: SaasContext) -> None:
        self.ctx = ctx

    def open_request(
        self,
        kind: RequestKind,
        state: WorkspaceState,
        requested_by: str,
        cosigner_id: str | None,
        api_user: str | None,
        payload: dict[str, Any] | None = None,
    ) -> ManagementRequest:
        """A new management request of `state`'s workspace, waiting for approval."""
        return self.ctx.requests.create(
            kind,
            workspace_id=state.workspace.id,
            requested_by=requested_by,
            cosigner_id=cosigner_id,
            api_user=api_user,
            payload=payload,
        )

    def move(self, req: ManagementRequest, status: RequestState, detail: str = "") -> None:
        """Move a request and tell its co-signer (pairing requests are followed with PairStatus instead)."""
        self.ctx.requests.move(req, status, detail)
        if req.cosigner_id is not None and req.kind is not RequestKind.PAIR_API_KEY:
            self.ctx.mailbox(req.cosigner_id).put(wire.RequestStatus(req.id, status.value, detail))

    async def _decide(
        self, state: WorkspaceState, req: ManagementRequest, approver_name: str, timeout: float
    ) -> Verdict | None:
        """Ask a simulated person; move the request to APPROVED / REJECTED / CANCELLED (timeout)."""
        approver = self.ctx.approver(state, approver_name)
        self.ctx.record("approval_requested", request=req.id, type=req.kind.value, approver=approver_name)
        details: dict[str, Any] = {
            "kind": req.kind.value,
            "api_user": req.api_user,
            "cosigner": req.cosigner_id,
        }
        with anyio.move_on_after(timeout):
            decision = await approver.decide(details)
            if req.final:  # cancelled meanwhile
                return None
            self.ctx.record(
                "approval_decided",
                request=req.id,
                type=req.kind.value,
                approver=approver_name,
                verdict=decision.verdict.value,
                reason=decision.reason,
            )
            if decision.verdict is Verdict.APPROVE:
                self.move(req, RequestState.APPROVED, f"approved by {approver_name}")
            else:
                self.move(req, RequestState.REJECTED, f"refused by {approver_name}: {decision.reason}")
            return decision.verdict
        if not req.final:
            self.move(req, RequestState.CANCELLED, f"{approver_name} did not answer within {timeout:.0f} s")
            if req.kind is RequestKind.PAIR_API_KEY:
                state.workspace.api_user(req.api_user or "").status = UserStatus.PENDING_ACTIVATION
        return None

    def _check_requester(self, state: WorkspaceState, requested_by: str) -> None:
        if requested_by.startswith("cosigner:"):
            return
        role = state.workspace.role_of(requested_by)
        if role not in ADMIN_ROLES:
            raise Forbidden(
                f"{requested_by!r} has role {role.value}; co-signer management needs Owner, Admin or Non-Signing Admin"
            )
