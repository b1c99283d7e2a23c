"""The long-poll agent: poll the SaaS, and hand each work item (availability probe, signing round,
configuration change, request status, management command) to its handler."""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import anyio.abc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cosigner_ha.env import scopes
from cosigner_ha.node.callback import (
    CallbackFailure,
    check_settings,
)
from cosigner_ha.node.errors import (
    BucketFault,
    DiskFault,
    NodeError,
    SaasError,
    SaasUnreachable,
    StoreError,
)
from cosigner_ha.node.records import CallbackSettings, Secrets
from cosigner_ha.node.signing_work import SigningWork
from cosigner_ha.wire import (
    AddUserCommand,
    Availability,
    AvailabilityProbe,
    CallbackUpdateCommand,
    CommandResult,
    ConfigChange,
    ConfigChangeAnswer,
    ConfigChangeApproval,
    Error,
    Poll,
    PollResult,
    ProbeAnswer,
    RequestStatus,
    SignAbort,
    SignRequest,
    UnpairCommand,
    WorkItem,
    encode,
)

FINAL_REQUEST_STATES = ("COMPLETED", "REJECTED", "CANCELLED")


def settings_from_handler(handler: dict[str, Any]) -> CallbackSettings:
    """`{"url", "publicKey", "cert"}` (the SaaS's CallbackHandlerRequest) as node settings."""
    return CallbackSettings(
        url=str(handler.get("url") or ""),
        public_key=str(handler.get("publicKey") or ""),
        certificate=str(handler.get("cert") or ""),
    )


class WorkHandlers(SigningWork):
    """The poll loop and every work item's handler except the signing rounds."""

    async def _poll_loop(self) -> None:
        backoff = self.config.backoff_min
        #: Answers to the probes of the last poll, each with its probe's deadline: the next poll carries
        #: them (protocol v2), again after a failed poll while their probe is open.
        answers: list[tuple[Availability, float]] = []
        while True:
            users = [u.api_user for u in self._users()]
            if not users:
                self._users_changed = anyio.Event()
                await self._users_changed.wait()
                continue
            started = self.env.clock.now()
            try:
                token = await self._access_token()
                answer = await self.saas.request(
                    Poll(token, self.cosigner_id, users, [a for a, _ in answers]),
                    timeout=self.config.poll_interval + self.config.poll_grace,
                )
            except (SaasUnreachable, SaasError) as exc:
                self.env.trace.record("poll_failed", node=self.name, reason=str(exc))
                self._log_agent.warn("poll", f"{exc}; retrying in {backoff:g} s")
                await self.env.clock.sleep(backoff)
                backoff = min(backoff * 2, self.config.backoff_max)
                now = self.env.clock.wall()
                answers = [(a, deadline) for a, deadline in answers if deadline > now]
                continue
            answers = []
            backoff = self.config.backoff_min
            if isinstance(answer, Error):
                self.env.trace.record(
                    "poll_failed", node=self.name, reason=f"{answer.code}: {answer.message}"
                )
                if answer.code.startswith("TOKEN"):
                    self.proc.token = ""
                else:
                    await self.env.clock.sleep(self.config.backoff_max)
                continue
            if not isinstance(answer, PollResult):
                self._log_agent.error("poll", f"the SaaS answered a poll with {answer.TYPE!r}")
                continue
            for item in answer.items:
                if type(item) is AvailabilityProbe and self.signing.probe_delay() <= 0:
                    answers.append((self._probe_answer(item), item.deadline))
                    continue
                assert self.proc.tasks is not None
                scopes.start_soon(self.proc.tasks, self._handle, item)
            if not answer.items:
                await self.env.clock.sleep_until(started + self.config.poll_interval)

    async def _handle(self, item: WorkItem) -> None:
        try:
            if isinstance(item, AvailabilityProbe):
                await self._on_probe(item)
            elif isinstance(item, SignRequest):
                await self._on_sign_request(item)
            elif isinstance(item, SignAbort):
                self._on_abort(item)
            elif isinstance(item, ConfigChange):
                await self._on_config_change(item)
            elif isinstance(item, RequestStatus):
                self._on_request_status(item)
            elif isinstance(item, AddUserCommand | CallbackUpdateCommand | UnpairCommand):
                await self._on_command(item)
            else:
                self._log_agent.warn("handle", f"ignoring a work item of type {item.TYPE!r}")
        except (DiskFault, BucketFault, StoreError):
            raise  # the process dies (see run)
        except NodeError as exc:
            self.env.trace.record(
                "work_failed", node=self.name, item=item.TYPE, reason=f"{type(exc).__name__}: {exc}"
            )
            self._log_agent.error("handle", f"{item.TYPE}: {exc}")

    def _probe_answer(self, item: AvailabilityProbe) -> Availability:
        available, why = self.can_sign(item.api_user)
        self.env.trace.record(
            "probe_reply",
            node=self.name,
            tx=item.tx_id,
            api_user=item.api_user,
            available=available,
            reason=why,
        )
        return Availability(item.probe_id, item.api_user, available)

    async def _on_probe(self, item: AvailabilityProbe) -> None:
        """A busy enclave answers later (`capacity`), on its own: its next poll is held by then."""
        await self.env.clock.sleep(self.signing.probe_delay())
        answer = self._probe_answer(item)
        await self._call(
            lambda token: ProbeAnswer(token, answer.probe_id, answer.api_user, answer.available),
            until=item.deadline,
        )

    async def _on_config_change(self, item: ConfigChange) -> None:
        user = next((u for u in self._users() if u.api_user == item.api_user), None)
        if user is None:
            self._log_signer.warn(
                "configChange", f"request {item.request_id} for unknown API user {item.api_user}"
            )
            return
        body = {
            "requestId": item.request_id,
            "type": item.kind,
            "extraInfo": item.payload,
            "signerId": item.api_user,
        }
        try:
            decision = await self.callbacks.ask("config_change", item.api_user, user.callback, body)
        except CallbackFailure as failure:
            approved, reason = False, str(failure)
        else:
            if decision.action == "IGNORE":
                self.env.trace.record(
                    "config_change_ignored", node=self.name, request=item.request_id, api_user=item.api_user
                )
                return  # dismissed without an answer: neither approved nor denied
            approved, reason = decision.action == "APPROVE", decision.reason
        approval = encode(
            ConfigChangeApproval(item.request_id, item.api_user, item.kind, item.payload, approved)
        )
        signature = Ed25519PrivateKey.from_private_bytes(user.config_key).sign(approval)
        self.env.trace.record(
            "config_change_answered",
            node=self.name,
            request=item.request_id,
            api_user=item.api_user,
            approved=approved,
        )
        await self._call(
            lambda token: ConfigChangeAnswer(
                token, item.request_id, item.api_user, approved, signature, reason
            )
        )

    def _on_request_status(self, item: RequestStatus) -> None:
        self.env.trace.record("request_status", node=self.name, request=item.request_id, status=item.status)
        update = next(
            (
                u
                for u in (self.proc.db.secrets.updates if self.proc.db and self.proc.db.secrets else ())
                if u.request_id == item.request_id
            ),
            None,
        )
        if update is not None and item.status in FINAL_REQUEST_STATES:
            applied = item.status == "COMPLETED"

            def change(s: Secrets) -> Secrets:
                users = tuple(
                    dataclasses.replace(u, callback=update.callback)
                    if applied and u.api_user == update.api_user
                    else u
                    for u in s.users
                )
                return dataclasses.replace(
                    s, users=users, updates=tuple(x for x in s.updates if x is not update)
                )

            self._commit(change)
            self._log_admin.info("callbackUpdate", f"request {item.request_id} {item.status}: {item.detail}")
        if item.status in FINAL_REQUEST_STATES:
            event, box = self._request_waiters.setdefault(item.request_id, (anyio.Event(), []))
            box.append(item.status)
            event.set()

    async def _on_command(self, item: AddUserCommand | CallbackUpdateCommand | UnpairCommand) -> None:
        ok, detail = True, ""
        try:
            if isinstance(item, AddUserCommand):
                user = await self._pair(item.pairing_token, settings_from_handler(item.callback))
                detail = f"API user {user.api_user} paired"
            elif isinstance(item, CallbackUpdateCommand):
                settings = settings_from_handler(item.callback)
                check_settings(settings)
                self._one_user(item.api_user, "callback update")
                self._commit(
                    lambda s: dataclasses.replace(
                        s,
                        users=tuple(
                            dataclasses.replace(u, callback=settings) if u.api_user == item.api_user else u
                            for u in s.users
                        ),
                    )
                )
                detail = f"callback handler of {item.api_user} set to {settings.url or 'none'}"
            else:
                ok = self._unpair(item.api_user, f"unpaired by request {item.request_id}")
                detail = f"API user {item.api_user} {'unpaired' if ok else 'was not paired here'}"
        except (NodeError, ValueError) as exc:
            ok, detail = False, str(exc)
        self.env.trace.record(
            "command_done", node=self.name, request=item.request_id, command=item.TYPE, ok=ok, detail=detail
        )
        if self._users():
            await self._call(lambda token: CommandResult(token, item.request_id, ok, detail))
