"""The node's lifecycle: boot (attest, open the sealed database), serve, and the operator's and the
world's faults (crash, stop with drain, start, restart, shutdown)."""

from __future__ import annotations

import anyio
import anyio.abc

from cosigner_ha.node.agent import PollAgent
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
from cosigner_ha.node.process import ProcessState
from cosigner_ha.wire import (
    AttestationQuote,
    AttestationResult,
    Error,
)


class Lifecycle(PollAgent):
    """Boot, serve, crash and stop."""

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
                    fault, rest = split_io_fault(exc)
                    if fault is None:
                        raise
                    if rest is not None:
                        raise rest from exc  # a real bug raised next to the fault still propagates
                    self._set_state("crashed", f"I/O fault: {fault}")
                    retry = self.config.boot_retry
                    if retry is None:
                        self._want_running = False
            self._scope = None
            self._tasks = None
            self.process = ProcessState(self.env.randbytes)  # the process is gone: all it held goes
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
                while self.process.sessions:
                    await self.env.clock.sleep(0.1)
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
            self._tasks = tasks
            tasks.start_soon(self._poll_loop)
            secrets = self.process.db.secrets if self.process.db else None
            for pending in secrets.pending if secrets else ():
                tasks.start_soon(self._resume_pairing, pending)
            if self._initial_token and not (secrets and secrets.users):
                tasks.start_soon(self._deploy_pairing)
            await anyio.sleep_forever()
        return None  # pragma: no cover - sleep_forever only ends by cancellation

    async def _boot(self) -> None:
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
        self.process.db = db
        self.process.signers = {
            u.api_user: Signer.load(u.api_user, u.key_package, u.public_package) for u in self._users()
        }
        self.process.nonce_rand = self.env.crypto.child(f"nonces/epoch-{db.ledger.epoch}").randbytes
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
            f"{len(self.process.signers)} API user(s)",
        )

    async def _attest(self, report: bytes, signature: bytes) -> bytes:
        answer = await self.saas.request(AttestationQuote(self.cosigner_id, report, signature))
        if isinstance(answer, Error):
            raise AttestationError(f"the attestation service refused: {answer.code}: {answer.message}")
        if not isinstance(answer, AttestationResult):
            raise SaasError(f"the attestation service answered with {answer.TYPE!r}")
        return answer.wrapped_key


def split_io_fault(exc: BaseException) -> tuple[BaseException | None, BaseException | None]:
    """The disk or bucket fault inside `exc` (an exception group from a task group, say), if any, and what
    else `exc` carries (None when nothing): a fault is the process dying, anything beside it is a bug."""
    if isinstance(exc, DiskFault | BucketFault):
        return exc, None
    if isinstance(exc, BaseExceptionGroup):
        faults, rest = exc.split((DiskFault, BucketFault))
        if faults is None:
            return None, exc
        first: BaseException = faults
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        return first, rest
    return None, exc
