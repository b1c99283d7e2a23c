"""The local administration commands (`setup`, `add-user`, `callback-update`, `list-users`, ...): what the
node's CLI runs, and what the cluster runner calls directly."""

from __future__ import annotations

import dataclasses

import anyio
import anyio.abc

from cosigner_ha.node.callback import (
    check_settings,
)
from cosigner_ha.node.core import UserInfo
from cosigner_ha.node.errors import (
    AdminError,
    SaasError,
)
from cosigner_ha.node.pairing import PairingFlow
from cosigner_ha.node.records import CallbackSettings, PendingUpdate
from cosigner_ha.node.rsa_keys import public_key_pem
from cosigner_ha.wire import (
    Error,
    ManagementRequest,
    RequestAccepted,
)


class LocalAdmin(PairingFlow):
    """Local administration; refused on kinds managed only through the SaaS."""

    def _local_admin(self, command: str) -> None:
        if not self.backend.local_admin:
            raise AdminError(
                f"{command}: a {self.backend.cosigner_type} co-signer is managed only through the SaaS "
                "(console or API); it has no local administration"
            )

    async def setup(self, pairing_token: str, callback: CallbackSettings | None = None) -> UserInfo:
        """Pair the first API user (the pairing token comes from the console)."""
        self._local_admin("setup")
        if self._users():
            raise AdminError(
                f"setup: co-signer {self.name} is set up already ({len(self._users())} API user(s)); use add-user"
            )
        return self._info(await self._pair(pairing_token, callback or CallbackSettings()))

    async def add_user(self, pairing_token: str, callback: CallbackSettings | None = None) -> UserInfo:
        """Pair another API user (from this or another workspace); needs a first user set up."""
        self._local_admin("add-user")
        if not self._users():
            raise AdminError("add-user: no API user is paired yet; run setup with the first pairing token")
        return self._info(await self._pair(pairing_token, callback or CallbackSettings()))

    async def callback_update(self, url: str, api_user: str | None = None, *, wait: bool = True) -> str:
        """Change the callback handler URL (only the URL: a new key or certificate needs unpair and add-user).

        Sends the change for the owner's approval and, with `wait`, applies it once approved. Returns the
        request's status (COMPLETED once applied).
        """
        self._local_admin("callback-update")
        user = self._one_user(api_user, "callback-update")
        settings = dataclasses.replace(user.callback, url=url)
        if not url:
            settings = CallbackSettings()
        elif user.callback.mode == "none":
            raise AdminError(
                f"callback-update: API user {user.api_user} has no callback handler key or certificate; "
                "callback-update changes only the URL (unpair and add-user to set a handler)"
            )
        try:
            check_settings(settings)
        except ValueError as exc:
            raise AdminError(f"callback-update: {exc}") from None
        answer = await self._call(
            lambda token: ManagementRequest(token, "CALLBACK_UPDATE", user.api_user, {"url": url})
        )
        if isinstance(answer, Error):
            raise AdminError(f"callback-update refused by the SaaS: {answer.code}: {answer.message}")
        if not isinstance(answer, RequestAccepted):
            raise SaasError(f"callback-update: the SaaS answered with {answer.TYPE!r}")
        update = PendingUpdate(answer.request_id, user.api_user, settings, self.env.clock.wall())
        self._commit(lambda s: dataclasses.replace(s, updates=(*s.updates, update)))
        self._log_admin.info(
            "callbackUpdate", f"request {answer.request_id}: {user.api_user} -> {url} ({answer.status})"
        )
        if not wait:
            return answer.status
        return await self.wait_request(answer.request_id)

    async def wait_request(self, request_id: str) -> str:
        """Wait for a management request of this node to be decided; its final status."""
        event, box = self._request_waiters.setdefault(request_id, (anyio.Event(), []))
        await event.wait()
        return box[-1]

    def list_users(self) -> list[UserInfo]:
        self._local_admin("list-users")
        self._require_db()
        return [self._info(u) for u in self._users()]

    def print_public_key(self) -> str:
        """The PEM public key callback handlers verify this node's request JWTs with."""
        self._local_admin("print-public-key")
        return public_key_pem(self._callback_key())

    @property
    def callback_public_key(self) -> str:
        """The same key, for the cluster runner (works for every enclave kind)."""
        return public_key_pem(self._callback_key())

    def logs(self, n: int = 100) -> list[str]:
        return self.log.tail(n)

    def backups(self) -> list[str]:
        return self._require_db().backups()

    async def restore_backup(self, name: str) -> None:
        """Put an SGX snapshot back as the database (the nonce ledger stays), then boot with it."""
        self._local_admin("restore")
        db = self._require_db()
        db.read_backup(name)  # refuse an unreadable one before touching anything
        await self.stop()
        if self.config.boot.restore > 0:
            await self.env.clock.sleep(self.config.boot.restore)  # rewriting the database takes time
        db.restore(name)
        self._log_admin.info("restore", f"database restored from backup {name}")
        self.env.trace.record("backup_restored", node=self.name, backup=name)
        self.start()
