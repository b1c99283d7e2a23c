"""The management flows after pairing: unpairing, callback handler updates, renaming, adding a co-signer,
cancelling a request, the node's reports on commands, and requests a node itself sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from cosigner_ha import wire
from cosigner_ha.policy.vocabulary import Role
from cosigner_ha.saas_sim.approvers import Verdict
from cosigner_ha.saas_sim.context import SaasContext, WorkspaceState
from cosigner_ha.saas_sim.errors import Conflict, NotFound, PairingRefused, ValidationError
from cosigner_ha.saas_sim.management import ManagementRequest, RequestKind, RequestState
from cosigner_ha.saas_sim.pairing import PairingService
from cosigner_ha.saas_sim.registry import Cosigner
from cosigner_ha.saas_sim.request_steps import RequestSteps
from cosigner_ha.saas_sim.workspace import UserStatus, check_api_user_name


class CosignerManagement(RequestSteps):
    def __init__(self, ctx: SaasContext, pairing: PairingService) -> None:
        super().__init__(ctx)
        self.pairing = pairing
        #: Called with (co-signer id, API user name) when a pairing is undone (open sessions must close).
        self.on_unpaired: Callable[[str, str], object] = lambda cosigner_id, api_user: None

    def _admin(self, state: WorkspaceState) -> str:
        """Who approves an unpairing: the first ADMIN, else NON_SIGNING_ADMIN, else the OWNER."""
        for role in (Role.ADMIN, Role.NON_SIGNING_ADMIN, Role.OWNER):
            for user in state.workspace.users.values():
                if user.role is role:
                    return user.name
        return state.workspace.owner.name

    def request_unpair(self, state: WorkspaceState, api_user: str, *, requested_by: str) -> ManagementRequest:
        user = state.workspace.api_user(api_user)
        self._check_requester(state, requested_by)
        if user.cosigner_id is None:
            raise Conflict(f"API user {api_user!r} is not paired with any co-signer")
        req = self.open_request(RequestKind.UNPAIR_API_KEY, state, requested_by, user.cosigner_id, user.name)
        self.ctx.spawn(self._unpair_when_approved, state, req)
        return req

    def resume(self, state: WorkspaceState, req: ManagementRequest) -> None:
        """Pick up an unpairing or callback update a restarted SaaS found open."""
        if req.kind is RequestKind.UNPAIR_API_KEY:
            if req.status is RequestState.WAITING_FOR_APPROVAL:
                self.ctx.spawn(self._unpair_when_approved, state, req)
            elif req.status is RequestState.APPROVED and req.cosigner_id is not None:
                cosigner = self.ctx.registry.get(req.cosigner_id)
                user_id = state.workspace.api_user(req.api_user or "").id
                if user_id not in cosigner.unpairing:  # stopped between undoing the pairing and telling
                    cosigner.unpairing[user_id] = req.id
                    self.ctx.mailbox(cosigner.id).put(wire.UnpairCommand(req.id, user_id))
                self.ctx.spawn(self.await_unpair_confirmation, cosigner, user_id, req)
        elif (
            req.kind is RequestKind.UPDATE_CALLBACK_HANDLER
            and req.status is RequestState.WAITING_FOR_APPROVAL
        ):
            self.ctx.spawn(self._callback_when_approved, state, req)

    async def _unpair_when_approved(self, state: WorkspaceState, req: ManagementRequest) -> None:
        verdict = await self._decide(state, req, self._admin(state), self.ctx.config.owner_approval_timeout)
        if verdict is not Verdict.APPROVE:
            return
        user = state.workspace.api_user(req.api_user or "")
        cosigner_id, user_id = user.cosigner_id, user.id
        if cosigner_id is None or cosigner_id != req.cosigner_id:
            # another unpairing approved first (and perhaps a new pairing since): this request has
            # nothing left to undo, and must not undo a pairing made after it was asked for
            self.move(req, RequestState.CANCELLED, "the API user was unpaired meanwhile")
            return
        self.unpair_now(state, user.name)
        cosigner = self.ctx.registry.get(cosigner_id)
        # The node hears it on its channel; its access tokens stay valid until it confirms (or
        # `unpair_confirm_timeout` passes), so that it can still poll for the command.
        cosigner.unpairing[user_id] = req.id
        self.ctx.mailbox(cosigner.id).put(wire.UnpairCommand(req.id, user_id))
        await self.await_unpair_confirmation(cosigner, user_id, req)

    async def await_unpair_confirmation(
        self, cosigner: Cosigner, user_id: str, req: ManagementRequest
    ) -> None:
        """The node's confirmation of an approved unpairing, or the revocation of its tokens after the
        confirmation timeout (also where a restarted SaaS picks an approved unpairing up again)."""
        with anyio.move_on_after(self.ctx.config.unpair_confirm_timeout):
            await self.ctx.requests.wait_final(req)
        if not req.final:
            self._unpair_confirmed(
                cosigner, user_id, req, "the node did not confirm; its access tokens are revoked"
            )

    def _unpair_confirmed(
        self, cosigner: Cosigner, user_id: str, req: ManagementRequest, detail: str
    ) -> None:
        cosigner.unpairing.pop(user_id, None)
        cosigner.generation += 1  # revokes every access token issued before
        if not req.final:
            self.move(req, RequestState.COMPLETED, detail)

    def unpair_now(self, state: WorkspaceState, api_user: str) -> None:
        """Undo a pairing: shares destroyed in both clouds, refresh token revoked, API user back to pending."""
        user = state.workspace.api_user(api_user)
        if user.cosigner_id is None:
            raise Conflict(f"API user {api_user!r} is not paired")
        cosigner = self.ctx.registry.get(user.cosigner_id)
        self.ctx.registry.remove_pairing(cosigner, state.workspace.id, user.name)
        for cloud in self.ctx.clouds:
            cloud.forget_user(state.workspace.id, user.id)
        state.user_keys.pop(user.name, None)
        self.pairing.forget_completed(user.id)
        user.status = UserStatus.PENDING_ACTIVATION
        user.cosigner_id = None
        self.on_unpaired(cosigner.id, user.name)
        self.ctx.record("unpaired", workspace=state.workspace.name, api_user=user.name, cosigner=cosigner.id)

    def request_callback_update(
        self, state: WorkspaceState, api_user: str, handler: dict[str, Any], *, requested_by: str
    ) -> ManagementRequest:
        user = state.workspace.api_user(api_user)
        if user.cosigner_id is None:
            raise Conflict(f"API user {api_user!r} is not paired with any co-signer")
        if not isinstance(handler, dict) or not isinstance(handler.get("url", ""), str):
            raise ValidationError(
                "callback_handler", f"expected a table with a 'url' string, got {handler!r}"
            )
        req = self.open_request(
            RequestKind.UPDATE_CALLBACK_HANDLER,
            state,
            requested_by,
            user.cosigner_id,
            user.name,
            {"callback_handler": dict(handler)},
        )
        self.ctx.spawn(self._callback_when_approved, state, req)
        return req

    async def _callback_when_approved(self, state: WorkspaceState, req: ManagementRequest) -> None:
        owner = state.workspace.owner.name
        verdict = await self._decide(state, req, owner, self.ctx.config.owner_approval_timeout)
        if verdict is Verdict.APPROVE:
            user = state.workspace.api_user(req.api_user or "")
            if req.cosigner_id is None or user.cosigner_id != req.cosigner_id:
                self.move(req, RequestState.CANCELLED, "the API user was unpaired meanwhile")
                return
            handler = dict(req.payload["callback_handler"])
            self.ctx.mailbox(req.cosigner_id).put(wire.CallbackUpdateCommand(req.id, user.id, handler))

    def rename(
        self, cosigner_id: str, name: str, *, requested_by: str, workspace_id: str = ""
    ) -> ManagementRequest:
        cosigner = self.ctx.registry.get(cosigner_id)
        self.ctx.registry.rename(cosigner, name)
        req = self.ctx.requests.create(
            RequestKind.RENAME_COSIGNER,
            workspace_id=workspace_id or (cosigner.workspaces() or [""])[0],
            requested_by=requested_by,
            cosigner_id=cosigner_id,
            payload={"name": name},
        )
        self.move(req, RequestState.APPROVED, "renaming needs no approval")
        self.move(req, RequestState.COMPLETED, f"renamed to {name!r}")
        return req

    def add_cosigner(
        self,
        state: WorkspaceState,
        cosigner_id: str,
        *,
        name: str,
        type_: str,
        api_user: str,
        requested_by: str,
    ) -> ManagementRequest:
        """The console's "Add co-signer": an entry pending pairing, completed when its first pairing is."""
        self._check_requester(state, requested_by)
        check_api_user_name(api_user, "api_user")
        user = state.workspace.api_user(api_user)
        if user.status is not UserStatus.PENDING_ACTIVATION:
            raise Conflict(f"API user {api_user!r} is already paired; choose an API user not paired yet")
        cosigner = self.ctx.registry.register(cosigner_id, type_, "", name=name)
        self.ctx.registry.check_can_pair(cosigner, state.workspace)
        req = self.open_request(
            RequestKind.ADD_COSIGNER, state, requested_by, cosigner.id, api_user, {"name": name}
        )
        self.move(req, RequestState.APPROVED, "pending pairing")
        return req

    def cancel_request(self, request_id: str, *, by: str) -> ManagementRequest:
        req = self.ctx.requests.get(request_id)
        if req.status is not RequestState.WAITING_FOR_APPROVAL:
            raise Conflict(
                f"request {request_id} is {req.status.value}; only a request waiting for approval is cancelled"
            )
        self.move(req, RequestState.CANCELLED, f"cancelled by {by}")
        if req.kind is RequestKind.PAIR_API_KEY and req.api_user is not None:
            self.ctx.workspace(req.workspace_id).workspace.api_user(
                req.api_user
            ).status = UserStatus.PENDING_ACTIVATION
        return req

    def command_result(self, cosigner: Cosigner, msg: wire.CommandResult) -> None:
        """The node's report on an AddUserCommand, CallbackUpdateCommand or UnpairCommand."""
        req = self.ctx.requests.get(msg.request_id)
        if req.cosigner_id != cosigner.id:
            raise NotFound(f"request {msg.request_id} was not sent to co-signer {cosigner.id!r}")
        self.ctx.record(
            "command_result",
            request=req.id,
            type=req.kind.value,
            cosigner=cosigner.id,
            ok=msg.ok,
            detail=msg.detail,
        )
        state = self.ctx.workspace(req.workspace_id)
        if req.kind is RequestKind.PAIR_API_KEY:
            if not msg.ok and not req.final:
                self.move(req, RequestState.CANCELLED, f"the co-signer could not pair: {msg.detail}")
                user = state.workspace.api_user(req.api_user or "")
                if user.status is UserStatus.PENDING_DEVICE_SETUP:
                    user.status = UserStatus.PENDING_ACTIVATION
        elif req.kind is RequestKind.UPDATE_CALLBACK_HANDLER:
            if req.status is not RequestState.APPROVED:
                raise Conflict(f"request {req.id} is {req.status.value}, not waiting for the co-signer")
            if msg.ok:
                state.workspace.api_user(req.api_user or "").callback = dict(req.payload["callback_handler"])
                self.move(req, RequestState.COMPLETED, "callback handler updated")
            else:
                self.move(req, RequestState.CANCELLED, f"the co-signer could not apply it: {msg.detail}")
        elif req.kind is RequestKind.UNPAIR_API_KEY:
            user_id = next((u for u, r in cosigner.unpairing.items() if r == req.id), None)
            if user_id is None:
                raise Conflict(f"request {req.id} is not an unpairing waiting for this co-signer")
            detail = "unpaired" if msg.ok else f"unpaired; the co-signer reported: {msg.detail}"
            self._unpair_confirmed(cosigner, user_id, req, detail)
        else:
            raise Conflict(f"request {req.id} ({req.kind.value}) takes no command result")

    # --- node-initiated management -------------------------------------------------------------------------

    def management(self, cosigner: Cosigner, msg: wire.ManagementRequest) -> wire.RequestAccepted:
        pairing = next((p for p in cosigner.pairings if p.api_user_id == msg.api_user), None)
        if pairing is None:
            raise NotFound(f"API user {msg.api_user!r} is not paired with co-signer {cosigner.id!r}")
        state = self.ctx.workspace(pairing.workspace_id)
        by = f"cosigner:{cosigner.id}"
        kind = _MANAGEMENT_KINDS.get(msg.kind)
        if kind is RequestKind.UNPAIR_API_KEY:
            req = self.request_unpair(state, pairing.api_user, requested_by=by)
        elif kind is RequestKind.UPDATE_CALLBACK_HANDLER:
            req = self.request_callback_update(state, pairing.api_user, dict(msg.payload), requested_by=by)
        elif kind is RequestKind.RENAME_COSIGNER:
            name = msg.payload.get("name")
            if not isinstance(name, str):
                raise ValidationError("payload.name", f"expected the new co-signer name, got {name!r}")
            req = self.rename(cosigner.id, name, requested_by=by, workspace_id=state.workspace.id)
        elif msg.kind == "ADD_USER":
            raise PairingRefused("pair another API user with `Pair` and that user's pairing token")
        else:
            raise ValidationError("kind", f"expected one of {', '.join(_MANAGEMENT_KINDS)}, got {msg.kind!r}")
        return wire.RequestAccepted(req.id, req.status.value)


_MANAGEMENT_KINDS = {
    "UNPAIR": RequestKind.UNPAIR_API_KEY,
    "UNPAIR_API_KEY": RequestKind.UNPAIR_API_KEY,
    "CALLBACK_UPDATE": RequestKind.UPDATE_CALLBACK_HANDLER,
    "UPDATE_CALLBACK_HANDLER": RequestKind.UPDATE_CALLBACK_HANDLER,
    "RENAME": RequestKind.RENAME_COSIGNER,
    "RENAME_COSIGNER": RequestKind.RENAME_COSIGNER,
}
