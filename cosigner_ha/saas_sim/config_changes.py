"""Configuration-change requests (a new whitelisted wallet, a policy publish): approved by the co-signer of
an ADMIN API user through the long-poll channel, or by the owner when no ADMIN API user is paired.

The answer is an Ed25519 signature under the configuration-change key the node gave in `Pair`, over
`wire.encode(ConfigChangeApproval(request_id, api_user, kind, payload, approved))`. A bad signature is
refused and changes nothing. Until answered, the request is re-sent every `resend_interval`, so a poll
answer lost with its connection does not strand it; nodes treat a repeated `request_id` idempotently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import anyio
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner_ha import wire
from cosigner_ha.policy.vocabulary import Role
from cosigner_ha.saas_sim.approvers import Verdict
from cosigner_ha.saas_sim.context import SaasContext, WorkspaceState
from cosigner_ha.saas_sim.errors import Conflict, NotFound, SaasError, ValidationError
from cosigner_ha.saas_sim.management import FINAL, RequestState
from cosigner_ha.saas_sim.registry import Cosigner
from cosigner_ha.saas_sim.workspace import UserStatus


class BadSignature(SaasError):
    code = "BAD_SIGNATURE"


@dataclasses.dataclass(slots=True, eq=False)
class ConfigChangeRequest:
    id: str
    workspace_id: str
    kind: str  # UNMANAGED_WALLET | POLICY_CHANGE | ...
    payload: dict[str, Any]
    created_at: float
    apply: Callable[[], None] = dataclasses.field(repr=False)
    status: RequestState = RequestState.WAITING_FOR_APPROVAL
    detail: str = ""
    decided_by: str | None = None
    sent_to: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    _waiters: list[anyio.Event] = dataclasses.field(default_factory=list, repr=False)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    async def wait(self) -> RequestState:
        """Until the request is final (approved and applied, rejected or expired)."""
        while not self.final:
            event = anyio.Event()
            self._waiters.append(event)
            await event.wait()
        return self.status


class ConfigChangeService:
    def __init__(self, ctx: SaasContext, *, resend_interval: float = 300.0) -> None:
        self.ctx = ctx
        self.resend_interval = resend_interval
        self._requests: dict[str, ConfigChangeRequest] = {}

    def get(self, request_id: str) -> ConfigChangeRequest:
        try:
            return self._requests[request_id]
        except KeyError:
            raise NotFound(f"no configuration-change request {request_id!r}") from None

    def request(
        self, state: WorkspaceState, kind: str, payload: dict[str, Any], apply: Callable[[], None]
    ) -> ConfigChangeRequest:
        try:  # the payload must travel to the node: plain values only
            wire.decode(wire.encode(wire.ConfigChange("", "", kind, payload)))
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                "payload", f"a configuration change carries plain values only: {exc}"
            ) from None
        req = ConfigChangeRequest(
            self.ctx.env.ids.sequence("cfg"),
            state.workspace.id,
            kind,
            dict(payload),
            self.ctx.env.clock.now(),
            apply,
        )
        self._requests[req.id] = req
        self.ctx.record("config_change_requested", request=req.id, workspace=state.workspace.name, type=kind)
        self.ctx.spawn(self._drive, state, req)
        return req

    def restore(self, req: ConfigChangeRequest) -> None:
        """A request as a restarted SaaS saved it."""
        self._requests[req.id] = req

    def resume(self, state: WorkspaceState, req: ConfigChangeRequest) -> None:
        """An open request a restarted SaaS found: sent to the admins (or the owner) again."""
        self.ctx.spawn(self._drive, state, req)

    @property
    def requests(self) -> list[ConfigChangeRequest]:
        return list(self._requests.values())

    def _admins(self, state: WorkspaceState) -> list[tuple[Cosigner, str, str]]:
        """(co-signer, API user name, API user id) for every paired ADMIN API user, in listed order."""
        out: list[tuple[Cosigner, str, str]] = []
        for user in state.workspace.api_users.values():
            if user.role is Role.ADMIN and user.status is UserStatus.READY and user.cosigner_id is not None:
                cosigner = self.ctx.registry.find(user.cosigner_id)
                if cosigner is not None:
                    out.append((cosigner, user.name, user.id))
        return out

    async def _drive(self, state: WorkspaceState, req: ConfigChangeRequest) -> None:
        with anyio.move_on_after(self.ctx.config.config_change_timeout):
            if not self._admins(state):
                await self._owner_decides(state, req)
            while not req.final:
                for cosigner, name, user_id in self._admins(state):
                    box = self.ctx.mailbox(cosigner.id)
                    # a node that has not polled since still has the previous copy queued: replace it
                    box.drop(lambda item: isinstance(item, wire.ConfigChange) and item.request_id == req.id)
                    box.put(wire.ConfigChange(req.id, user_id, req.kind, req.payload))
                    if (cosigner.id, name) not in req.sent_to:
                        req.sent_to.append((cosigner.id, name))
                    self.ctx.record("config_change_sent", request=req.id, cosigner=cosigner.id, api_user=name)
                with anyio.move_on_after(self.resend_interval):
                    await req.wait()
        if not req.final:
            self._move(req, RequestState.CANCELLED, "expired without an answer")

    async def _owner_decides(self, state: WorkspaceState, req: ConfigChangeRequest) -> None:
        owner = state.workspace.owner.name
        decision = await self.ctx.approver(state, owner).decide({"kind": req.kind, "payload": req.payload})
        self._decided(req, owner, decision.verdict is Verdict.APPROVE, decision.reason)

    def on_answer(self, cosigner: Cosigner, msg: wire.ConfigChangeAnswer) -> None:
        req = self.get(msg.request_id)
        pairing = next((p for p in cosigner.pairings if p.api_user_id == msg.api_user), None)
        if pairing is None or pairing.workspace_id != req.workspace_id:
            raise NotFound(
                f"API user {msg.api_user!r} of co-signer {cosigner.id!r} was not asked about {req.id}"
            )
        user = self.ctx.workspace(req.workspace_id).workspace.api_user(pairing.api_user)
        if user.role is not Role.ADMIN:
            raise BadSignature(
                f"API user {user.name!r} is {user.role.value}; only ADMIN API users approve changes"
            )
        signed = wire.encode(
            wire.ConfigChangeApproval(req.id, msg.api_user, req.kind, req.payload, msg.approved)
        )
        try:
            Ed25519PublicKey.from_public_bytes(pairing.config_key).verify(msg.signature, signed)
        except (InvalidSignature, ValueError):
            self.ctx.record(
                "config_change_refused", request=req.id, cosigner=cosigner.id, reason="bad signature"
            )
            raise BadSignature(
                f"the answer to {req.id} is not signed with API user {user.name!r}'s configuration-change key"
            ) from None
        if req.final:
            raise Conflict(f"configuration change {req.id} is already {req.status.value}")
        self.ctx.record(
            "config_change_answered",
            request=req.id,
            cosigner=cosigner.id,
            api_user=user.name,
            approved=msg.approved,
            reason=msg.reason,
        )
        self._decided(req, user.name, msg.approved, msg.reason)

    def _decided(self, req: ConfigChangeRequest, by: str, approved: bool, reason: str) -> None:
        req.decided_by = by
        if not approved:
            self._move(req, RequestState.REJECTED, f"rejected by {by}: {reason}")
            return
        self._move(req, RequestState.APPROVED, f"approved by {by}")
        try:
            req.apply()
        except (SaasError, ValueError) as exc:
            self._move(req, RequestState.CANCELLED, f"approved but could not be applied: {exc}")
            return
        self._move(req, RequestState.COMPLETED, "applied")

    def _move(self, req: ConfigChangeRequest, status: RequestState, detail: str) -> None:
        req.status = status
        req.detail = detail
        self.ctx.record(
            "config_change_status", request=req.id, type=req.kind, status=status.value, detail=detail
        )
        waiters, req._waiters = req._waiters, []
        for event in waiters:
            event.set()
