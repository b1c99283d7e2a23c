"""Pairing an API user: the token's claims, the Pair request, waiting for the owner's approval, installing
the share the SaaS sealed for this node, and resuming a pairing a crash interrupted."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
from typing import Any

import jwt
import nacl.public
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cosigner_ha.node.callback import (
    check_settings,
)
from cosigner_ha.node.errors import (
    AdminError,
    NodeError,
    PairingError,
    SaasError,
    SaasUnreachable,
)
from cosigner_ha.node.party import NODE_IDENTIFIER, Signer, combine
from cosigner_ha.node.records import CallbackSettings, PendingPairing, UserRecord
from cosigner_ha.node.saas_session import SaasSession
from cosigner_ha.wire import (
    Error,
    Pair,
    PairCompleted,
    PairPending,
    PairStatus,
)


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _peek_claims(token: str) -> dict[str, Any]:
    """A token's claims without verifying it (the node cannot: only the SaaS holds the key)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise PairingError(f"the pairing token is not a JWT: {exc}", code="TOKEN_MALFORMED") from None
    return claims if isinstance(claims, dict) else {}


class PairingFlow(SaasSession):
    """The node's side of pairing and of deployment-time pairing (GCP)."""

    async def _pair(self, token: str, callback: CallbackSettings) -> UserRecord:
        claims = _peek_claims(token)
        now = self.env.clock.wall()
        exp = claims.get("exp")
        if isinstance(exp, int | float) and now >= exp:
            raise PairingError(
                f"the pairing token expired at {_iso(exp)} ({now - exp:.0f} s ago by this co-signer's clock); "
                "copy a new one from the console",
                code="TOKEN_EXPIRED",
            )
        subject, workspace = claims.get("sub"), claims.get("ws")
        if isinstance(subject, str) and any(u.api_user == subject for u in self._users()):
            raise PairingError(
                f"API user {subject} is already paired with this co-signer", code="ALREADY_PAIRED"
            )
        self._check_workspace(workspace)
        try:
            check_settings(callback)
        except ValueError as exc:
            raise PairingError(f"callback settings: {exc}", code="BAD_CALLBACK") from None
        secrets = self._secrets()
        pending = PendingPairing("", token, self.env.randbytes(32), callback, now)
        self._commit(lambda s: dataclasses.replace(s, pending=(*s.pending, pending)))
        config_public = (
            Ed25519PrivateKey.from_private_bytes(pending.config_key)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        transport_public = bytes(nacl.public.PrivateKey(secrets.transport_key).public_key)
        try:
            answer = await self.saas.request(
                Pair(
                    token,
                    self.cosigner_id,
                    self.backend.cosigner_type,
                    self.config.version,
                    config_public,
                    transport_public,
                )
            )
        except NodeError:
            self._drop_pending(pending)
            raise
        if isinstance(answer, Error):
            self._drop_pending(pending)
            self._log_admin.error("pair", f"pairing refused: {answer.code}: {answer.message}")
            raise PairingError(
                f"the SaaS refused the pairing: {answer.code}: {answer.message}", code=answer.code
            )
        if not isinstance(answer, PairPending):
            self._drop_pending(pending)
            raise SaasError(f"pairing: the SaaS answered with {answer.TYPE!r}")
        started = dataclasses.replace(pending, request_id=answer.request_id)
        self._commit(
            lambda s: dataclasses.replace(
                s, pending=tuple(started if p is pending or p == pending else p for p in s.pending)
            )
        )
        self.env.trace.record(
            "pairing_requested", node=self.name, request=answer.request_id, status=answer.status
        )
        self._log_admin.info("pair", f"pairing request {answer.request_id}: {answer.status}")
        return await self._await_pairing(started)

    def _check_workspace(self, workspace: object) -> None:
        served = self.proc.db.secrets.workspaces if self.proc.db and self.proc.db.secrets else []
        if (
            self.backend.single_workspace
            and isinstance(workspace, str)
            and served
            and workspace not in served
        ):
            raise PairingError(
                f"a {self.backend.cosigner_type} co-signer serves one workspace ({served[0]}); "
                f"the pairing token is for workspace {workspace}",
                code="GCP_SINGLE_WORKSPACE",
            )

    def _drop_pending(self, pending: PendingPairing) -> None:
        if self.proc.db is not None and self.proc.db.secrets is not None:
            self._commit(
                lambda s: dataclasses.replace(
                    s, pending=tuple(p for p in s.pending if p.config_key != pending.config_key)
                )
            )

    async def _await_pairing(self, pending: PendingPairing) -> UserRecord:
        backoff = self.config.backoff_min
        incarnation = self.incarnation
        while True:
            if self.incarnation != incarnation or self.state not in ("running", "draining"):
                raise AdminError(
                    f"co-signer {self.name} went down while pairing request {pending.request_id} waited; "
                    "the pairing resumes when it is running again"
                )
            try:
                answer = await self.saas.request(
                    PairStatus(pending.request_id, self.cosigner_id, pending.pairing_token),
                    timeout=self.config.poll_interval + self.config.poll_grace,
                )
            except SaasUnreachable as exc:
                self._log_admin.warn("pair", f"waiting for pairing {pending.request_id}: {exc}")
                await self.env.clock.sleep(backoff)
                backoff = min(backoff * 2, self.config.backoff_max)
                continue
            backoff = self.config.backoff_min
            if isinstance(answer, PairPending):
                continue
            if isinstance(answer, Error):
                self._drop_pending(pending)
                self.env.trace.record(
                    "pairing_failed",
                    node=self.name,
                    request=pending.request_id,
                    code=answer.code,
                    reason=answer.message,
                )
                raise PairingError(
                    f"pairing {pending.request_id} failed: {answer.code}: {answer.message}", code=answer.code
                )
            if not isinstance(answer, PairCompleted):
                raise SaasError(f"pairing: the SaaS answered PairStatus with {answer.TYPE!r}")
            return self._install(pending, answer)

    def _install(self, pending: PendingPairing, done: PairCompleted) -> UserRecord:
        secrets = self._secrets()
        try:
            self._check_workspace(done.workspace_id)
            if done.identifier != NODE_IDENTIFIER:
                raise PairingError(
                    f"the SaaS made this co-signer participant {done.identifier}; the node's share is {NODE_IDENTIFIER}",
                    code="BAD_KEY_MATERIAL",
                )
            key, public = combine(done, secrets.transport_key)
        except PairingError as exc:
            self._drop_pending(pending)
            self.env.trace.record(
                "pairing_failed", node=self.name, request=pending.request_id, code=exc.code, reason=str(exc)
            )
            self._log_admin.error("pair", f"pairing {pending.request_id} refused by the co-signer: {exc}")
            raise
        user = UserRecord(
            api_user=done.api_user,
            workspace_id=done.workspace_id,
            identifier=done.identifier,
            key_package=key.to_bytes(),
            public_package=public.to_bytes(),
            group_public_key=public.group_public_key,
            config_key=pending.config_key,
            refresh_token=done.refresh_token,
            callback=pending.callback,
            paired_at=self.env.clock.wall(),
            ledger_epoch=self.proc.db.ledger.epoch if self.proc.db else 0,
        )
        self._commit(
            lambda s: dataclasses.replace(
                s,
                users=(*(u for u in s.users if u.api_user != user.api_user), user),
                pending=tuple(p for p in s.pending if p.config_key != pending.config_key),
            )
        )
        assert self.proc.db is not None
        self.proc.db.untaint(user.api_user)
        self.proc.signers[user.api_user] = Signer(user.api_user, key, public)
        self._users_changed.set()
        self._notify()
        self.env.trace.record(
            "paired",
            node=self.name,
            api_user=user.api_user,
            workspace=user.workspace_id,
            request=pending.request_id,
            public_key=public.group_public_key.hex(),
        )
        self._log_admin.info("pair", f"API user {user.api_user} paired (workspace {user.workspace_id})")
        return user

    async def _resume_pairing(self, pending: PendingPairing) -> None:
        if not pending.request_id:
            self._drop_pending(pending)
            self._log_admin.error(
                "pair",
                "a pairing was interrupted before the SaaS answered; its token is spent: issue a new one",
            )
            return
        with contextlib.suppress(PairingError):  # logged and traced where it happened
            await self._await_pairing(pending)

    async def _deploy_pairing(self) -> None:
        """A GCP node pairs its first user from deployment metadata (it has no local setup command)."""
        assert self._initial_token is not None
        with contextlib.suppress(PairingError):  # logged and traced where it happened
            await self._pair(self._initial_token, self._initial_callback)
