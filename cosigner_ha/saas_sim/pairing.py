"""Pairing API users with co-signers, access tokens, and the management requests that change pairings.

A pairing token (a JWT bound to one workspace and one API user pending activation, single use, valid one
hour) is presented in `Pair`; the owner approves after a latency (or refuses); on approval the owner's
device and both cloud co-signers reshare the workspace key to a fresh 3-of-3 set for that API user, the
node's pieces sealed to its transport key. The node then holds a refresh token, which it trades for
short-lived access tokens that every later request carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from cosigner_ha import mpc, wire
from cosigner_ha.saas_sim.approvers import Verdict
from cosigner_ha.saas_sim.context import PairingTokenRecord, SaasContext, WorkspaceState
from cosigner_ha.saas_sim.errors import (
    Conflict,
    NotFound,
    PairingRefused,
    SaasError,
    TokenForeign,
    TokenReplayed,
    ValidationError,
)
from cosigner_ha.saas_sim.keyholders import NODE_ID, OWNER_ID, OwnerContribution, sealed_for_node
from cosigner_ha.saas_sim.management import ManagementRequest, RequestKind, RequestState
from cosigner_ha.saas_sim.registry import Cosigner, CosignerType, Pairing
from cosigner_ha.saas_sim.request_steps import RequestSteps
from cosigner_ha.saas_sim.tokens import Claims
from cosigner_ha.saas_sim.workspace import ApiUser, UserStatus


class PairingService(RequestSteps):
    def __init__(self, ctx: SaasContext) -> None:
        super().__init__(ctx)
        self._completed: dict[str, wire.PairCompleted] = {}

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
            workspace_id=state.workspace.id,
            api_user_id=user.id,
            ttl=self.ctx.config.pairing_token_ttl if ttl is None else ttl,
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
        _check_can_sign(user)
        self.ctx.registry.check_can_pair(cosigner, state.workspace)
        handler = dict(callback or {})
        req = self.open_request(
            RequestKind.PAIR_API_KEY,
            state,
            requested_by,
            cosigner.id,
            user.name,
            {"callback_handler": handler},
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
        _check_can_sign(user)
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
            req = self.open_request(
                RequestKind.PAIR_API_KEY, state, f"cosigner:{cosigner.id}", cosigner.id, user.name, keys
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

    def resume(self, state: WorkspaceState, req: ManagementRequest) -> None:
        """Pick up a pairing request a restarted SaaS found open: the owner is asked again, an approved one
        is completed, a console pairing still waits for the node's `Pair` until its token expires."""
        if req.status is RequestState.APPROVED:
            self.ctx.spawn(self._complete_approved, state, req)
        elif "transport_key" in req.payload:
            self.ctx.spawn(self._owner_decides, state, req)
        else:
            record = next((r for r in state.pairing_tokens.values() if r.request_id == req.id), None)
            if record is not None:
                self.ctx.spawn(self._expire_unused, req, record)

    def restore_completed(self, done: wire.PairCompleted) -> None:
        self._completed[done.request_id] = done

    @property
    def completed(self) -> dict[str, wire.PairCompleted]:
        """Answers to a repeated `Pair`/`PairStatus` of a completed pairing, by request id."""
        return self._completed

    async def _owner_decides(self, state: WorkspaceState, req: ManagementRequest) -> None:
        owner = state.workspace.owner
        decision = await self._decide(state, req, owner.name, self.ctx.config.owner_approval_timeout)
        if decision is None:
            return
        user = state.workspace.api_user(req.api_user or "")
        if decision is not Verdict.APPROVE:
            user.status = UserStatus.PENDING_ACTIVATION
            return
        await self._complete_approved(state, req)

    async def _complete_approved(self, state: WorkspaceState, req: ManagementRequest) -> None:
        user = state.workspace.api_user(req.api_user or "")
        try:
            owner_part = None
            if self.ctx.owner is not None:  # the device deals its part itself, the node's piece sealed
                with anyio.fail_after(self.ctx.config.owner_approval_timeout):
                    owner_part = await self.ctx.owner.contribute(
                        req.id, state.workspace.id, req.payload["transport_key"]
                    )
                if req.final:
                    return
            self._complete_pairing(state, req, user, owner_part)
        except TimeoutError:
            user.status = UserStatus.PENDING_ACTIVATION
            self.move(req, RequestState.CANCELLED, "the owner's device sent no resharing contribution")
        except (mpc.MpcError, SaasError, ValueError) as exc:
            user.status = UserStatus.PENDING_ACTIVATION
            self.move(req, RequestState.CANCELLED, f"resharing failed: {exc}")

    def _complete_pairing(
        self,
        state: WorkspaceState,
        req: ManagementRequest,
        user: ApiUser,
        owner_part: OwnerContribution | None = None,
    ) -> None:
        cosigner = self.ctx.registry.get(req.cosigner_id or "")
        workspace = state.workspace
        # The type rules again: another pairing may have completed while the owner was deciding.
        self.ctx.registry.check_can_pair(cosigner, workspace)
        dealt: dict[int, tuple[mpc.DealerCommitment, Mapping[int, mpc.DealtShare]]] = {}
        if owner_part is None:
            assert state.owner_device is not None, "a remote owner device contributes through owner_part"
            dealt[OWNER_ID] = state.owner_device.reshare_contribute(workspace.id)
        else:
            dealt[OWNER_ID] = (owner_part.commitment, owner_part.cloud_shares)
        for cloud in self.ctx.clouds:
            dealt[cloud.identifier] = cloud.reshare_contribute(workspace.id)
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
            owner_part.sealed_node
            if owner_part is not None and i == OWNER_ID
            else sealed_for_node(
                transport_key, commitments[i], shares[NODE_ID], state.public_package, self.ctx.env.randbytes
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

    def forget_completed(self, api_user_id: str) -> None:
        """An unpaired API user's completed pairings are no longer answered to a repeated `Pair`."""
        for req_id, done in list(self._completed.items()):
            if done.api_user == api_user_id:
                del self._completed[req_id]


def _check_can_sign(user: ApiUser) -> None:
    if not user.can_sign:
        raise PairingRefused(
            f"API user {user.name!r} has role {user.role.value}; only SIGNER and ADMIN API users hold key shares"
        )


def _cosigner_type(value: str) -> CosignerType:
    try:
        return CosignerType(value)
    except ValueError:
        allowed = ", ".join(t.value for t in CosignerType)
        raise ValidationError("pair.cosigner_type", f"expected one of {allowed}, got {value!r}") from None
