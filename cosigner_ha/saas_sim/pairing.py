"""Pairing API users with co-signers, access tokens, and the management requests that change pairings.

A pairing token (a JWT bound to one workspace and one API user pending activation, single use, valid one
hour) is presented in `Pair`; the owner approves after a latency (or refuses); on approval the owner's
device and both cloud co-signers reshare the workspace key to a fresh 3-of-3 set for that API user, the
node's pieces sealed to its transport key. The node then holds a refresh token, which it trades for
short-lived access tokens that every later request carries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from cosigner_ha import mpc, wire
from cosigner_ha.saas_sim.approvers import Verdict
from cosigner_ha.saas_sim.context import PairingTokenRecord, SaasContext, WorkspaceState
from cosigner_ha.saas_sim.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PairingRefused,
    SaasError,
    TokenForeign,
    TokenReplayed,
    TokenRevoked,
    ValidationError,
)
from cosigner_ha.saas_sim.keyholders import NODE_ID, THRESHOLD, USER_IDS
from cosigner_ha.saas_sim.management import ManagementRequest, RequestKind, RequestState
from cosigner_ha.saas_sim.registry import Cosigner, CosignerType, Pairing
from cosigner_ha.saas_sim.sealing import seal
from cosigner_ha.saas_sim.tokens import Claims
from cosigner_ha.saas_sim.workspace import ADMIN_ROLES, ApiUser, Role, UserStatus, check_api_user_name


class PairingService:
    def __init__(self, ctx: SaasContext) -> None:
        self.ctx = ctx
        self._completed: dict[str, wire.PairCompleted] = {}
        #: Called with (co-signer id, API user name) when a pairing is undone (open sessions must close).
        self.on_unpaired: Callable[[str, str], object] = lambda cosigner_id, api_user: None

    # --- tokens --------------------------------------------------------------------------------------------

    def issue_pairing_token(self, state: WorkspaceState, api_user: str, *, ttl: float | None = None) -> str:
        """The console's "Pair API user" dialog: a token for an API user still pending activation."""
        return self._issue(state, api_user, ttl)[0]

    def _issue(
        self, state: WorkspaceState, api_user: str, ttl: float | None
    ) -> tuple[str, PairingTokenRecord]:
        user = state.workspace.api_user(api_user)
        if user.status is not UserStatus.PENDING_ACTIVATION:
            raise Conflict(
                f"API user {api_user!r} is {user.status.value}; a pairing token is issued only to an API user "
                "pending activation (unpair it first to re-enroll)"
            )
        token, claims = self.ctx.tokens.issue_pairing(
            workspace_id=state.workspace.id, api_user_id=user.id, ttl=ttl or self.ctx.config.pairing_token_ttl
        )
        assert claims.expires_at is not None
        record = state.pairing_tokens[claims.jti] = PairingTokenRecord(
            claims.jti, state.workspace.id, user.name, self.ctx.env.clock.wall(), claims.expires_at
        )
        self.ctx.record(
            "pairing_token_issued",
            workspace=state.workspace.name,
            api_user=user.name,
            jti=claims.jti,
            expires_at=claims.expires_at,
        )
        return token, record

    def pair_api_key(
        self,
        state: WorkspaceState,
        cosigner_id: str,
        api_user: str,
        *,
        callback: dict[str, Any] | None = None,
        requested_by: str,
    ) -> ManagementRequest:
        """The console's "Pair API user" on an existing co-signer: the node is commanded through its channel
        (`AddUserCommand`), pairs with the enclosed token, and the owner approves as for any pairing."""
        self._check_requester(state, requested_by)
        cosigner = self.ctx.registry.get(cosigner_id)
        user = state.workspace.api_user(api_user)
        if user.status is not UserStatus.PENDING_ACTIVATION:
            raise Conflict(
                f"API user {api_user!r} is {user.status.value}; only an API user pending activation pairs"
            )
        if not user.can_sign:
            raise PairingRefused(
                f"API user {api_user!r} has role {user.role.value}; only SIGNER and ADMIN API users hold key shares"
            )
        self.ctx.registry.check_can_pair(cosigner, state.workspace)
        handler = dict(callback or {})
        req = self.ctx.requests.create(
            RequestKind.PAIR_API_KEY,
            workspace_id=state.workspace.id,
            requested_by=requested_by,
            cosigner_id=cosigner.id,
            api_user=user.name,
            payload={"callback_handler": handler},
        )
        token, record = self._issue(state, api_user, None)
        record.request_id = req.id
        self.ctx.mailbox(cosigner.id).put(wire.AddUserCommand(req.id, token, handler))
        self.ctx.spawn(self._expire_unused, req, record)
        return req

    async def _expire_unused(self, req: ManagementRequest, record: PairingTokenRecord) -> None:
        await self.ctx.env.clock.sleep(max(0.0, record.expires_at - self.ctx.env.clock.wall()))
        if record.used_at is None and not req.final:
            self.move(
                req, RequestState.CANCELLED, "the co-signer did not pair before the pairing token expired"
            )

    def _pairing_claims(self, token: str) -> tuple[Claims, WorkspaceState, ApiUser, PairingTokenRecord]:
        """Verify a pairing token down to its record; expiry is checked by the caller after single use."""
        claims = self.ctx.tokens.verify(token, "pairing", check_expiry=False)
        state = self.ctx.workspaces.get(claims.workspace_id or "")
        if state is None:
            raise TokenForeign(
                f"the pairing token is for workspace {claims.workspace_id!r}, unknown to this SaaS"
            )
        record = state.pairing_tokens.get(claims.jti)
        if record is None:
            raise TokenForeign(
                f"the pairing token {claims.jti} was not issued for workspace {state.workspace.name!r}"
            )
        try:
            user = state.workspace.api_user_by_id(claims.subject)
        except NotFound:
            raise TokenForeign(
                f"the pairing token is bound to API user {claims.subject!r}, not of workspace {state.workspace.name!r}"
            ) from None
        return claims, state, user, record

    # --- Pair / PairStatus ---------------------------------------------------------------------------------

    def pair(self, msg: wire.Pair) -> wire.Response:
        claims, state, user, record = self._pairing_claims(msg.pairing_token)
        if record.used_at is not None:
            retry = self._same_pairing_again(msg, record)
            if retry is not None:
                return retry
            raise TokenReplayed(
                f"the pairing token for API user {user.name!r} was already used at {record.used_at:.0f} "
                f"(request {record.request_id}); a pairing token pairs once"
            )
        self.ctx.tokens.check_expiry(claims)
        workspace = state.workspace
        if record.request_id is not None:
            bound = self.ctx.requests.get(record.request_id)
            if bound.cosigner_id != msg.cosigner_id:
                raise TokenForeign(
                    f"the pairing token was sent to co-signer {bound.cosigner_id!r}, not {msg.cosigner_id!r}"
                )
            if bound.final:
                raise PairingRefused(f"pairing request {bound.id} is {bound.status.value}")
        if user.status is not UserStatus.PENDING_ACTIVATION:
            raise PairingRefused(
                f"API user {user.name!r} is {user.status.value}, not pending activation; unpair it before pairing again"
            )
        if not user.can_sign:
            raise PairingRefused(
                f"API user {user.name!r} has role {user.role.value}; only SIGNER and ADMIN API users hold key shares"
            )
        for name, key in (("config_key", msg.config_key), ("transport_key", msg.transport_key)):
            if len(key) != 32:
                raise ValidationError(f"pair.{name}", f"expected a 32-byte public key, got {len(key)} bytes")
        existing = self.ctx.registry.find(msg.cosigner_id)
        if existing is not None:
            self.ctx.registry.register(msg.cosigner_id, msg.cosigner_type, msg.version)  # checks the type
            self.ctx.registry.check_can_pair(existing, workspace)
        else:
            prospective = Cosigner(
                msg.cosigner_id, msg.cosigner_id, _cosigner_type(msg.cosigner_type), msg.version
            )
            self.ctx.registry.check_can_pair(prospective, workspace)
        # Everything checked: from here on the token is spent and the request exists.
        cosigner = self.ctx.registry.register(msg.cosigner_id, msg.cosigner_type, msg.version)
        cosigner.transport_key = msg.transport_key
        keys = {"jti": record.jti, "config_key": msg.config_key, "transport_key": msg.transport_key}
        if record.request_id is not None:
            # A console pairing (AddUserCommand): the request exists and waits for this Pair.
            req = self.ctx.requests.get(record.request_id)
            req.payload.update(keys)
        else:
            req = self.ctx.requests.create(
                RequestKind.PAIR_API_KEY,
                workspace_id=workspace.id,
                requested_by=f"cosigner:{cosigner.id}",
                cosigner_id=cosigner.id,
                api_user=user.name,
                payload=keys,
            )
            record.request_id = req.id
        record.used_at = self.ctx.env.clock.wall()
        user.status = UserStatus.PENDING_DEVICE_SETUP
        self.ctx.record(
            "pairing_requested",
            workspace=workspace.name,
            api_user=user.name,
            cosigner=cosigner.id,
            type=cosigner.type.value,
            request=req.id,
        )
        self.ctx.spawn(self._owner_decides, state, req)
        return wire.PairPending(req.id, req.status.value)

    def _same_pairing_again(self, msg: wire.Pair, record: PairingTokenRecord) -> wire.Response | None:
        """A node that lost the answer to its `Pair` (a crash, a broken connection) and sends the very same
        request again gets the request's current state; anything else presenting a spent token is a replay."""
        if record.request_id is None:
            return None
        req = self.ctx.requests.get(record.request_id)
        same = (
            req.cosigner_id == msg.cosigner_id
            and req.payload.get("config_key") == msg.config_key
            and req.payload.get("transport_key") == msg.transport_key
        )
        if not same or req.status in (RequestState.REJECTED, RequestState.CANCELLED):
            return None
        done = self._completed.get(req.id)
        if done is not None:
            return done
        return None if req.status is RequestState.COMPLETED else wire.PairPending(req.id, req.status.value)

    async def pair_status(self, msg: wire.PairStatus) -> wire.Response:
        """Held like a poll: answers when the owner decided, or after the long-poll interval."""
        _, _, _, record = self._pairing_claims(msg.pairing_token)
        req = self.ctx.requests.get(msg.request_id)
        if record.request_id != req.id or req.cosigner_id != msg.cosigner_id:
            raise TokenForeign(
                f"the pairing token does not belong to request {msg.request_id!r} of this co-signer"
            )
        if not req.final:
            await self.ctx.requests.wait_change(req, self.ctx.config.long_poll_interval)
        if req.status is RequestState.COMPLETED:
            done = self._completed.get(req.id)
            if done is None:
                raise Conflict(f"pairing request {req.id} completed but was undone since (API user unpaired)")
            return done
        if req.status in (RequestState.REJECTED, RequestState.CANCELLED):
            return wire.Error(f"PAIRING_{req.status.value}", req.detail)
        return wire.PairPending(req.id, req.status.value)

    async def _owner_decides(self, state: WorkspaceState, req: ManagementRequest) -> None:
        owner = state.workspace.owner
        decision = await self._decide(state, req, owner.name, self.ctx.config.owner_approval_timeout)
        if decision is None:
            return
        user = state.workspace.api_user(req.api_user or "")
        if decision is not Verdict.APPROVE:
            user.status = UserStatus.PENDING_ACTIVATION
            return
        try:
            self._complete_pairing(state, req, user)
        except (mpc.MpcError, SaasError) as exc:
            user.status = UserStatus.PENDING_ACTIVATION
            self.move(req, RequestState.CANCELLED, f"resharing failed: {exc}")

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

    def _complete_pairing(self, state: WorkspaceState, req: ManagementRequest, user: ApiUser) -> None:
        cosigner = self.ctx.registry.get(req.cosigner_id or "")
        workspace = state.workspace
        # The type rules again: another pairing may have completed while the owner was deciding.
        self.ctx.registry.check_can_pair(cosigner, workspace)
        dealers = (state.owner_device, *self.ctx.clouds)
        dealt = {holder.identifier: holder.reshare_contribute(workspace.id) for holder in dealers}
        commitments = {i: commitment for i, (commitment, _) in dealt.items()}
        publics = [
            cloud.reshare_combine(
                workspace.id,
                user.id,
                state.public_package,
                commitments,
                {i: shares[cloud.identifier] for i, (_, shares) in dealt.items()},
            )
            for cloud in self.ctx.clouds
        ]
        if publics[0] != publics[1]:
            raise mpc.KeyMismatchError("the cloud co-signers derived different public key packages")
        public = publics[0]
        transport_key: bytes = req.payload["transport_key"]
        contributions = [
            seal(
                transport_key,
                wire.encode(
                    wire.ShareContribution(
                        sender=i,
                        receiver=NODE_ID,
                        new_identifiers=list(USER_IDS),
                        new_threshold=THRESHOLD,
                        commitment=list(commitments[i].commitment),
                        share=shares[NODE_ID].to_dict()["value"],
                        old_public_package=state.public_package.to_bytes(),
                    )
                ),
                self.ctx.env.randbytes,
            )
            for i, (_, shares) in sorted(dealt.items())
        ]
        refresh_token, refresh = self.ctx.tokens.issue_refresh(
            workspace_id=workspace.id, api_user_id=user.id, cosigner_id=cosigner.id
        )
        self.ctx.registry.add_pairing(
            cosigner,
            Pairing(
                workspace.id,
                user.name,
                user.id,
                self.ctx.env.clock.now(),
                refresh.jti,
                req.payload["config_key"],
            ),
        )
        state.user_keys[user.name] = public
        # An unpairing the node never confirmed (its disk was lost, say) leaves its UnpairCommand queued;
        # delivered after this pairing, it would undo it. The old unpairing has taken effect already.
        self.ctx.mailbox(cosigner.id).drop(
            lambda item: isinstance(item, wire.UnpairCommand) and item.api_user == user.id
        )
        if req.payload.get("callback_handler"):
            user.callback = dict(req.payload["callback_handler"])
        user.status = UserStatus.READY
        user.cosigner_id = cosigner.id
        self._completed[req.id] = wire.PairCompleted(
            request_id=req.id,
            workspace_id=workspace.id,
            api_user=user.id,
            refresh_token=refresh_token,
            identifier=NODE_ID,
            contributions=contributions,
            public_package=public.to_bytes(),
        )
        self.move(req, RequestState.COMPLETED, f"key shares created for API user {user.name!r}")
        self.ctx.record(
            "paired",
            workspace=workspace.name,
            api_user=user.name,
            api_user_id=user.id,
            cosigner=cosigner.id,
            request=req.id,
            public_key=public.group_public_key,
        )
        for other in self.ctx.requests.all():
            if (
                other.kind is RequestKind.ADD_COSIGNER
                and other.cosigner_id == cosigner.id
                and not other.final
            ):
                self.move(other, RequestState.COMPLETED, f"paired with API user {user.name!r}")

    # --- access tokens -------------------------------------------------------------------------------------

    def refresh(self, msg: wire.RefreshAccess) -> wire.TokenGrant:
        claims = self.ctx.tokens.verify(msg.refresh_token, "refresh")
        if claims.cosigner_id != msg.cosigner_id:
            raise TokenForeign(
                f"the refresh token belongs to co-signer {claims.cosigner_id!r}, not {msg.cosigner_id!r}"
            )
        cosigner = self.ctx.registry.find(msg.cosigner_id)
        pairing = None
        if cosigner is not None and not cosigner.archived:
            pairing = next(
                (
                    p
                    for p in cosigner.pairings
                    if p.api_user_id == claims.subject and p.workspace_id == claims.workspace_id
                ),
                None,
            )
        if cosigner is None or pairing is None or pairing.refresh_jti != claims.jti:
            raise TokenRevoked("the refresh token's pairing was undone (unpaired or re-enrolled)")
        token, access = self.ctx.tokens.issue_access(
            cosigner_id=cosigner.id, ttl=self.ctx.config.access_token_ttl, generation=cosigner.generation
        )
        assert access.expires_at is not None
        self.ctx.record(
            "access_granted", cosigner=cosigner.id, api_user=pairing.api_user, expires_at=access.expires_at
        )
        return wire.TokenGrant(token, access.expires_at)

    def authenticate(self, token: str, cosigner_id: str | None = None) -> Cosigner:
        """Every request after pairing: a valid, current access token of a registered co-signer."""
        claims = self.ctx.tokens.verify(token, "access")
        if cosigner_id is not None and claims.subject != cosigner_id:
            raise TokenForeign(
                f"the access token was issued to co-signer {claims.subject!r}, not {cosigner_id!r}"
            )
        cosigner = self.ctx.registry.find(claims.subject)
        if cosigner is None or cosigner.archived:
            raise TokenRevoked(f"co-signer {claims.subject!r} is no longer registered")
        if claims.raw.get("gen") != cosigner.generation or not (cosigner.pairings or cosigner.unpairing):
            raise TokenRevoked(
                f"a pairing of co-signer {cosigner.id!r} was undone since this access token was issued; refresh it"
            )
        return cosigner

    # --- management requests -------------------------------------------------------------------------------

    def move(self, req: ManagementRequest, status: RequestState, detail: str = "") -> None:
        """Move a request and tell its co-signer (pairing requests are followed with PairStatus instead)."""
        self.ctx.requests.move(req, status, detail)
        if req.cosigner_id is not None and req.kind is not RequestKind.PAIR_API_KEY:
            self.ctx.mailbox(req.cosigner_id).put(wire.RequestStatus(req.id, status.value, detail))

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
        req = self.ctx.requests.create(
            RequestKind.UNPAIR_API_KEY,
            workspace_id=state.workspace.id,
            requested_by=requested_by,
            cosigner_id=user.cosigner_id,
            api_user=user.name,
        )
        self.ctx.spawn(self._unpair_when_approved, state, req)
        return req

    async def _unpair_when_approved(self, state: WorkspaceState, req: ManagementRequest) -> None:
        verdict = await self._decide(state, req, self._admin(state), self.ctx.config.owner_approval_timeout)
        if verdict is not Verdict.APPROVE:
            return
        user = state.workspace.api_user(req.api_user or "")
        cosigner_id, user_id = user.cosigner_id, user.id
        self.unpair_now(state, user.name)
        if cosigner_id is None:
            self.move(req, RequestState.COMPLETED, "the API user was no longer paired")
            return
        cosigner = self.ctx.registry.get(cosigner_id)
        # The node hears it on its channel; its access tokens stay valid until it confirms (or
        # `unpair_confirm_timeout` passes), so that it can still poll for the command.
        cosigner.unpairing[user_id] = req.id
        self.ctx.mailbox(cosigner.id).put(wire.UnpairCommand(req.id, user_id))
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
        for req_id, done in list(self._completed.items()):
            if done.api_user == user.id:
                del self._completed[req_id]
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
        req = self.ctx.requests.create(
            RequestKind.UPDATE_CALLBACK_HANDLER,
            workspace_id=state.workspace.id,
            requested_by=requested_by,
            cosigner_id=user.cosigner_id,
            api_user=user.name,
            payload={"callback_handler": dict(handler)},
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
        req = self.ctx.requests.create(
            RequestKind.ADD_COSIGNER,
            workspace_id=state.workspace.id,
            requested_by=requested_by,
            cosigner_id=cosigner.id,
            api_user=api_user,
            payload={"name": name},
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

    def _check_requester(self, state: WorkspaceState, requested_by: str) -> None:
        if requested_by.startswith("cosigner:"):
            return
        role = state.workspace.role_of(requested_by)
        if role not in ADMIN_ROLES:
            raise Forbidden(
                f"{requested_by!r} has role {role.value}; co-signer management needs Owner, Admin or Non-Signing Admin"
            )

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


def _cosigner_type(value: str) -> CosignerType:
    try:
        return CosignerType(value)
    except ValueError:
        allowed = ", ".join(t.value for t in CosignerType)
        raise ValidationError("pair.cosigner_type", f"expected one of {allowed}, got {value!r}") from None
