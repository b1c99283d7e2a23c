"""A co-signer process's life: boot (attest, open the sealed database), serve, crash, stop, come back."""

from __future__ import annotations

import anyio
import anyio.abc

from cosigner_ha.node.core import NodeCore
from cosigner_ha.node.database import Database
from cosigner_ha.node.errors import (
    AttestationError,
    BucketFault,
    DiskFault,
    InfraError,
    SaasError,
    SaasUnreachable,
    StoreError,
)
from cosigner_ha.node.party import Signer
from cosigner_ha.node.process import Process
from cosigner_ha.wire import (
    AttestationQuote,
    AttestationResult,
    Error,
)


class Lifecycle(NodeCore):
    """Start, stop, crash and restart; one incarnation per process lifetime."""

    async def run(self) -> None:
        """Run until `shutdown()`: boot, serve, and come back after `start()` when stopped or crashed."""
        while not self._shutdown:
            if not self._want_running:
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            self.incarnation += 1
            retry: float | None = None
            with anyio.CancelScope() as scope:
                self._scope = scope
                try:
                    retry = await self._incarnation()
                except BaseException as exc:  # an I/O fault is the process dying, not a bug to propagate
                    fault = io_fault(exc)
                    if fault is None:
                        raise
                    self._set_state("crashed", f"I/O fault: {fault}")
                    retry = self.config.boot_retry
                    if retry is None:
                        self._want_running = False
            self._scope = None
            self.proc = Process(nonce_rand=self.env.randbytes)  # the process is gone: so is its memory
            self._notify()
            await self.saas.aclose()
            await self.callbacks.aclose()
            if retry is not None and self._want_running and not self._shutdown:
                with anyio.CancelScope() as pause:
                    self._scope = pause
                    await self.env.clock.sleep(retry)
                self._scope = None
            elif retry is None and self.state == "failed":
                self._want_running = False  # a failed boot with no automatic retry stays down
        self._set_state("stopped", "shut down")

    async def ready(self) -> None:
        """Wait until the node is running (booted and serving)."""
        while self.state != "running":
            await self._running.wait()

    def crash(self, reason: str = "crashed") -> None:
        """The process dies now: in-memory state (sessions, nonces, tokens) is gone; disks keep what was durable."""
        self._want_running = False
        self._set_state("crashed", reason)
        if self._scope is not None:
            self._scope.cancel()

    def start(self) -> None:
        """Start a stopped or crashed node (it boots again: attestation, database, then polling)."""
        self._want_running = True
        self._wake.set()

    async def stop(self) -> None:
        """Graceful stop: stop taking work, let open signing sessions finish (up to `drain_timeout`)."""
        if self.state == "running":
            self._set_state("draining", "stopping")
            with anyio.move_on_after(self.config.drain_timeout):
                await self._until(lambda: not self.proc.sessions)
        self._want_running = False
        if self._scope is not None:
            self._scope.cancel()
        self._set_state("stopped", "stopped by the operator")

    async def restart(self) -> None:
        await self.stop()
        self.start()

    def shutdown(self) -> None:
        """End `run()` (the end of a simulation)."""
        self._shutdown = True
        self._want_running = False
        if self._scope is not None:
            self._scope.cancel()
        self._wake.set()

    async def _incarnation(self) -> float | None:
        """One process lifetime. Returns the delay before booting again (None: no automatic restart)."""
        self._set_state("booting", self.backend.describe())
        try:
            await self._boot()
        except (AttestationError, StoreError, InfraError, SaasError, SaasUnreachable) as exc:
            self._set_state("failed", f"{type(exc).__name__}: {exc}")
            return self.config.boot_retry
        self._set_state("running")
        async with anyio.create_task_group() as tasks:
            self.proc.tasks = tasks
            self._serve(tasks)
            await anyio.sleep_forever()
        return None  # pragma: no cover - sleep_forever only ends by cancellation

    async def _boot(self) -> None:
        if self.config.boot.boot > 0:  # the enclave or workload starts, then quotes and unlocks its key
            await self.env.clock.sleep(self.config.boot.boot)
        key = await self.backend.unlock(self.cosigner_id, self._attest)
        db = Database.open(
            self.backend.store,
            key,
            randbytes=self.env.randbytes,
            wall=self.env.clock.wall,
            layout=self.backend.layout,
            keep_backups=self.config.keep_backups,
        )
        secrets = db.secrets
        if secrets is not None and secrets.cosigner_id != self.cosigner_id:
            raise StoreError(
                f"{self.backend.store.describe(self.backend.layout.secrets)} belongs to co-signer "
                f"{secrets.cosigner_id!r}, this node is {self.cosigner_id!r}"
            )
        if db.recovered_ledger:
            self._log_agent.error(
                "boot",
                f"the nonce ledger was missing: API users {', '.join(db.ledger.tainted)} will not sign until re-paired",
            )
        self.proc.db = db
        self.proc.signers = {
            u.api_user: Signer.load(u.api_user, u.key_package, u.public_package) for u in self._users()
        }
        self.proc.nonce_rand = self.env.crypto.child(f"nonces/epoch-{db.ledger.epoch}").randbytes
        self.env.trace.record(
            "node_boot",
            node=self.name,
            enclave=self.backend.kind,
            generation=db.generation,
            epoch=db.ledger.epoch,
            users=[u.api_user for u in self._users()],
        )
        self._log_agent.info(
            "boot",
            f"enclave unlocked ({self.backend.describe()}), database generation {db.generation}, "
            f"{len(self.proc.signers)} API user(s)",
        )

    async def _attest(self, report: bytes, signature: bytes) -> bytes:
        answer = await self.saas.request(AttestationQuote(self.cosigner_id, report, signature))
        if isinstance(answer, Error):
            raise AttestationError(f"the attestation service refused: {answer.code}: {answer.message}")
        if not isinstance(answer, AttestationResult):
            raise SaasError(f"the attestation service answered with {answer.TYPE!r}")
        return answer.wrapped_key

    def _serve(self, tasks: anyio.abc.TaskGroup) -> None:
        """Start the running process's work in `tasks` (the agent's layers above provide it)."""
        raise NotImplementedError


def io_fault(exc: BaseException) -> BaseException | None:
    """The disk or bucket fault that `exc` is, when it is nothing else.

    A task group reports a fault as an exception group; it is the process dying only when every exception in
    the group is such a fault. A bug raised beside one (any other exception) is not dropped: None, and the
    caller re-raises the whole group.
    """
    if isinstance(exc, DiskFault | BucketFault):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        faults, others = exc.split((DiskFault, BucketFault))
        if faults is not None and others is None:
            first: BaseException = faults
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            return first
    return None
