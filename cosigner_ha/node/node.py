"""The co-signer node: lifecycle, local administration, and the long-poll agent.

A `Node` is handed everything from outside (environment, enclave backend, network, SaaS address,
in-process callback handlers) and runs as one task: `await node.run()` in the cluster runner's nursery.
It boots (attests and opens its sealed database), then long-polls the SaaS and handles the work the polls
bring: availability probes, signing requests (callback handler, then FROST rounds), configuration changes,
management commands. Faults and operations are methods: `crash()`, `stop()` (drain, then stop), `start()`,
`restart()`, `shutdown()`; the local administration commands are `setup`, `add_user`, `callback_update`,
`list_users`, `print_public_key`, `logs`, and for SGX `backups` / `restore_backup`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
from collections.abc import Callable
from typing import Any, Literal

import anyio
import anyio.abc
import jwt
import nacl.public
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cosigner_ha.env import Environment
from cosigner_ha.net import Network
from cosigner_ha.node.callback import (
    CallbackClient,
    CallbackFailure,
    CallbackPolicy,
    HandlerDirectory,
    check_settings,
)
from cosigner_ha.node.capacity import INSTANT, SigningCapacity, SigningSlots
from cosigner_ha.node.database import Database
from cosigner_ha.node.enclave import EnclaveBackend
from cosigner_ha.node.errors import (
    AdminError,
    AttestationError,
    BucketFault,
    DiskFault,
    InfraError,
    NodeError,
    PairingError,
    SaasError,
    SaasUnreachable,
    StoreError,
)
from cosigner_ha.node.logs import NodeLog
from cosigner_ha.node.party import NODE_IDENTIFIER, Signer, combine
from cosigner_ha.node.records import CallbackSettings, PendingPairing, PendingUpdate, Secrets, UserRecord
from cosigner_ha.node.rsa_keys import generate_rsa_key, load_private_key_der, private_key_der, public_key_pem
from cosigner_ha.node.saas_client import SaasClient
from cosigner_ha.wire import (
    AddUserCommand,
    AttestationQuote,
    AttestationResult,
    AvailabilityProbe,
    CallbackResult,
    CallbackUpdateCommand,
    CommandResult,
    Commitments,
    ConfigChange,
    ConfigChangeAnswer,
    ConfigChangeApproval,
    Error,
    ManagementRequest,
    Pair,
    PairCompleted,
    PairPending,
    PairStatus,
    Poll,
    PollResult,
    ProbeAnswer,
    RefreshAccess,
    Request,
    RequestAccepted,
    RequestStatus,
    Response,
    SignAbort,
    SignatureShare,
    SignRequest,
    SignRound2,
    TokenGrant,
    UnpairCommand,
    WorkItem,
    encode,
)

State = Literal["stopped", "booting", "running", "draining", "failed", "crashed"]
FINAL_REQUEST_STATES = ("COMPLETED", "REJECTED", "CANCELLED")


@dataclasses.dataclass(frozen=True, slots=True)
class NodeConfig:
    """A node's tunables (DESIGN.md section 2 defaults). Durations are seconds."""

    cosigner_id: str | None = None  # the id the SaaS registers; default: the node's name
    version: str = "1.0.0"
    poll_interval: float = 30.0  # the long-poll cycle (the product hard-codes 30 s)
    poll_grace: float = 15.0  # how much longer than that a held poll may take before it counts as lost
    request_timeout: float = 30.0
    callback: CallbackPolicy = dataclasses.field(default_factory=CallbackPolicy)
    token_margin: float = 60.0  # refresh the access token this long before it expires
    backoff_min: float = 1.0
    backoff_max: float = 30.0
    boot_retry: float | None = (
        30.0  # a failed boot or a crash on an I/O fault restarts after this; None: stays down
    )
    drain_timeout: float = 60.0
    keep_backups: int | None = None  # SGX snapshots kept; None: all (the product keeps every one)
    log_level: str = "INFO"
    log_max_bytes: int = 4_100_000
    log_files: int = 10
    signing: SigningCapacity = INSTANT  # MPC rounds computed at once and their cost (`capacity`)


@dataclasses.dataclass(frozen=True, slots=True)
class UserInfo:
    """One line of `list-users`."""

    api_user: str
    workspace_id: str
    callback_url: str
    callback_mode: str
    public_key: str  # the API user's group public key, hex
    can_sign: bool
    reason: str


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _peek_claims(token: str) -> dict[str, Any]:
    """A token's claims without verifying it (the node cannot: only the SaaS holds the key)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise PairingError(f"the pairing token is not a JWT: {exc}", code="TOKEN_MALFORMED") from None
    return claims if isinstance(claims, dict) else {}


def settings_from_handler(handler: dict[str, Any]) -> CallbackSettings:
    """`{"url", "publicKey", "cert"}` (the SaaS's CallbackHandlerRequest) as node settings."""
    return CallbackSettings(
        url=str(handler.get("url") or ""),
        public_key=str(handler.get("publicKey") or ""),
        certificate=str(handler.get("cert") or ""),
    )


class Node:
    """One co-signer. See the module docstring; `docs/node.md` has the whole API.

    Construct it inside the event loop (it holds anyio events and locks).
    """

    def __init__(
        self,
        env: Environment,
        *,
        name: str,
        backend: EnclaveBackend,
        network: Network,
        saas: str,
        handlers: HandlerDirectory | None = None,
        config: NodeConfig | None = None,
        callback_network: bool = False,
        initial_pairing_token: str | None = None,
        initial_callback: CallbackSettings | None = None,
    ) -> None:
        self.env = env
        self.name = name
        self.backend = backend
        self.config = config or NodeConfig()
        self.cosigner_id = self.config.cosigner_id or name
        self.saas = SaasClient(network, saas, request_timeout=self.config.request_timeout)
        self.log = NodeLog(
            env,
            node=name,
            disk=backend.host.disk,
            level=self.config.log_level,
            max_bytes=self.config.log_max_bytes,
            files=self.config.log_files,
        )
        self._log_agent = self.log.for_class("CosignerAgent")
        self._log_admin = self.log.for_class("CosignerAdmin")
        self._log_signer = self.log.for_class("SigningService")
        self.callbacks = CallbackClient(
            env,
            node=name,
            signing_key=self._callback_key,
            directory=handlers,
            network=callback_network,
            policy=self.config.callback,
            log=self.log.for_class("CallbackClient"),
        )
        self._initial_token = initial_pairing_token
        self._initial_callback = initial_callback or CallbackSettings()
        self.state: State = "stopped"
        self.state_reason = ""
        self.db: Database | None = None
        self._signers: dict[str, Signer] = {}
        self._sessions: dict[str, tuple[str, float]] = {}  # session -> (api user, deadline)
        self.signing = SigningSlots(env, self.config.signing)
        self._token = ""
        self._token_expires = 0.0
        self._token_lock = anyio.Lock()
        self._rsa: rsa.RSAPrivateKey | None = None
        self._nonce_rand: Callable[[int], bytes] = env.randbytes
        self._want_running = True
        self._shutdown = False
        self._wake = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._users_changed = anyio.Event()
        self._running = anyio.Event()
        self._request_waiters: dict[str, tuple[anyio.Event, list[str]]] = {}
        self.incarnation = 0

    # ------------------------------------------------------------------------------------------------------
    # lifecycle

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
                    fault = _io_fault(exc)
                    if fault is None:
                        raise
                    self._set_state("crashed", f"I/O fault: {fault}")
                    retry = self.config.boot_retry
                    if retry is None:
                        self._want_running = False
            self._scope = None
            self._tasks = None
            self._forget_process_state()
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
                while self._sessions:
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

    def _set_state(self, state: State, reason: str = "") -> None:
        if state == self.state and reason == self.state_reason:
            return
        self.state, self.state_reason = state, reason
        self.env.trace.record("node_state", node=self.name, state=state, reason=reason)
        level = "ERROR" if state in ("failed", "crashed") else "INFO"
        self._log_agent(level, "setState", f"co-signer {state}{': ' + reason if reason else ''}")
        if state == "running":
            self._running.set()
        elif self._running.is_set():
            self._running = anyio.Event()

    def _forget_process_state(self) -> None:
        self.db = None
        self._signers = {}
        self._sessions = {}
        self._token, self._token_expires = "", 0.0
        self._rsa = None

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
            secrets = self.db.secrets if self.db else None
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
        self.db = db
        self._signers = {
            u.api_user: Signer.load(u.api_user, u.key_package, u.public_package) for u in self._users()
        }
        self._nonce_rand = self.env.crypto.child(f"nonces/epoch-{db.ledger.epoch}").randbytes
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
            f"{len(self._signers)} API user(s)",
        )

    async def _attest(self, report: bytes, signature: bytes) -> bytes:
        answer = await self.saas.request(AttestationQuote(self.cosigner_id, report, signature))
        if isinstance(answer, Error):
            raise AttestationError(f"the attestation service refused: {answer.code}: {answer.message}")
        if not isinstance(answer, AttestationResult):
            raise SaasError(f"the attestation service answered with {answer.TYPE!r}")
        return answer.wrapped_key

    # ------------------------------------------------------------------------------------------------------
    # database helpers

    def _users(self) -> tuple[UserRecord, ...]:
        return self.db.secrets.users if self.db and self.db.secrets else ()

    def _require_db(self) -> Database:
        if self.state not in ("running", "draining") or self.db is None:
            raise AdminError(f"co-signer {self.name} is not running ({self.state}); start it first")
        return self.db

    def _secrets(self) -> Secrets:
        db = self._require_db()
        if db.secrets is None:
            db.commit(
                Secrets(
                    cosigner_id=self.cosigner_id,
                    cosigner_type=self.backend.cosigner_type,
                    transport_key=self.env.randbytes(32),
                    callback_key=b"",
                )
            )
        assert db.secrets is not None
        return db.secrets

    def _commit(self, change: Callable[[Secrets], Secrets]) -> Secrets:
        """Read-modify-write of the database with no await in between (atomic under structured concurrency)."""
        db = self._require_db()
        secrets = change(self._secrets())
        db.commit(secrets)
        return secrets

    def _callback_key(self) -> rsa.RSAPrivateKey:
        """The node's RSA key for callback JWTs, made on first use and kept in the database."""
        if self._rsa is None:
            secrets = self._secrets()
            if secrets.callback_key:
                self._rsa = load_private_key_der(secrets.callback_key)
            else:
                key = generate_rsa_key(self.env.randbytes)
                self._commit(lambda s: dataclasses.replace(s, callback_key=private_key_der(key)))
                self._rsa = key
        return self._rsa

    # ------------------------------------------------------------------------------------------------------
    # administration (the local CLI commands; the cluster runner calls them directly)

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
        db.restore(name)
        self._log_admin.info("restore", f"database restored from backup {name}")
        self.env.trace.record("backup_restored", node=self.name, backup=name)
        self.start()

    def can_sign(self, api_user: str) -> tuple[bool, str]:
        """Whether a signing request for `api_user` could be served now, and if not, why."""
        if self.state != "running":
            return False, f"co-signer is {self.state}"
        if api_user not in self._signers:
            return False, f"API user {api_user} is not paired with this co-signer"
        assert self.db is not None
        if api_user in self.db.ledger.tainted:
            return False, f"API user {api_user}'s share predates a lost nonce ledger; re-pair it"
        return True, ""

    def _one_user(self, api_user: str | None, command: str) -> UserRecord:
        users = self._users()
        self._require_db()
        if api_user is None:
            if len(users) != 1:
                names = ", ".join(u.api_user for u in users) or "none"
                raise AdminError(f"{command}: name the API user (paired: {names})")
            return users[0]
        found = next((u for u in users if u.api_user == api_user), None)
        if found is None:
            names = ", ".join(u.api_user for u in users) or "none"
            raise AdminError(f"{command}: API user {api_user!r} is not paired here (paired: {names})")
        return found

    def _info(self, user: UserRecord) -> UserInfo:
        ok, why = self.can_sign(user.api_user)
        return UserInfo(
            user.api_user,
            user.workspace_id,
            user.callback.url,
            user.callback.mode,
            user.group_public_key.hex(),
            ok,
            why,
        )

    # ------------------------------------------------------------------------------------------------------
    # pairing

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
        served = self.db.secrets.workspaces if self.db and self.db.secrets else []
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
        if self.db is not None and self.db.secrets is not None:
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
            ledger_epoch=self.db.ledger.epoch if self.db else 0,
        )
        self._commit(
            lambda s: dataclasses.replace(
                s,
                users=(*(u for u in s.users if u.api_user != user.api_user), user),
                pending=tuple(p for p in s.pending if p.config_key != pending.config_key),
            )
        )
        assert self.db is not None
        self.db.untaint(user.api_user)
        self._signers[user.api_user] = Signer(user.api_user, key, public)
        self._users_changed.set()
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

    def _unpair(self, api_user: str, why: str) -> bool:
        if not any(u.api_user == api_user for u in self._users()):
            return False
        self._commit(
            lambda s: dataclasses.replace(s, users=tuple(u for u in s.users if u.api_user != api_user))
        )
        signer = self._signers.pop(api_user, None)
        for session, (user, _) in list(self._sessions.items()):
            if user == api_user:
                self._sessions.pop(session, None)
                if signer is not None:
                    signer.drop(session)
        self._users_changed.set()
        self.env.trace.record("unpaired", node=self.name, api_user=api_user, reason=why)
        self._log_admin.info("unpair", f"API user {api_user} unpaired: {why}; its share is erased")
        return True

    # ------------------------------------------------------------------------------------------------------
    # talking to the SaaS

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token and self._token_expires - self.config.token_margin > self.env.clock.wall():
                return self._token
            for user in self._users():
                answer = await self.saas.request(RefreshAccess(self.cosigner_id, user.refresh_token))
                if isinstance(answer, TokenGrant):
                    self._token, self._token_expires = answer.access_token, answer.expires_at
                    self.env.trace.record("token_refreshed", node=self.name, expires_at=answer.expires_at)
                    return self._token
                if isinstance(answer, Error) and answer.code == "TOKEN_REVOKED":
                    self._unpair(user.api_user, f"the SaaS revoked its refresh token ({answer.message})")
                    continue
                code = answer.code if isinstance(answer, Error) else answer.TYPE
                raise SaasError(f"refreshing the access token failed: {code}", code=code)
            raise SaasError("no paired API user has a refresh token", code="NOT_PAIRED")

    async def _call(self, make: Callable[[str], Request], *, until: float | None = None) -> Response:
        """Send a request that needs the access token; refresh once on a token refusal; retry when the
        SaaS is unreachable until `until` (wall clock), if given."""
        backoff = self.config.backoff_min
        refreshed = False
        while True:
            try:
                answer = await self.saas.request(make(await self._access_token()))
            except SaasUnreachable:
                if until is None or self.env.clock.wall() + backoff > until:
                    raise
                await self.env.clock.sleep(backoff)
                backoff = min(backoff * 2, self.config.backoff_max)
                continue
            if isinstance(answer, Error) and answer.code.startswith("TOKEN") and not refreshed:
                self._token = ""
                refreshed = True
                continue
            return answer

    # ------------------------------------------------------------------------------------------------------
    # the long-poll agent

    async def _poll_loop(self) -> None:
        backoff = self.config.backoff_min
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
                    Poll(token, self.cosigner_id, users),
                    timeout=self.config.poll_interval + self.config.poll_grace,
                )
            except (SaasUnreachable, SaasError) as exc:
                self.env.trace.record("poll_failed", node=self.name, reason=str(exc))
                self._log_agent.warn("poll", f"{exc}; retrying in {backoff:g} s")
                await self.env.clock.sleep(backoff)
                backoff = min(backoff * 2, self.config.backoff_max)
                continue
            backoff = self.config.backoff_min
            if isinstance(answer, Error):
                self.env.trace.record(
                    "poll_failed", node=self.name, reason=f"{answer.code}: {answer.message}"
                )
                if answer.code.startswith("TOKEN"):
                    self._token = ""
                else:
                    await self.env.clock.sleep(self.config.backoff_max)
                continue
            if not isinstance(answer, PollResult):
                self._log_agent.error("poll", f"the SaaS answered a poll with {answer.TYPE!r}")
                continue
            for item in answer.items:
                assert self._tasks is not None
                self._tasks.start_soon(self._handle, item)
            if not answer.items:
                await self.env.clock.sleep_until(started + self.config.poll_interval)

    async def _handle(self, item: WorkItem) -> None:
        try:
            if isinstance(item, AvailabilityProbe):
                await self._on_probe(item)
            elif isinstance(item, SignRequest):
                await self._on_sign_request(item)
            elif isinstance(item, SignRound2):
                await self._on_round2(item)
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

    async def _on_probe(self, item: AvailabilityProbe) -> None:
        delay = self.signing.probe_delay()
        if delay > 0:
            await self.env.clock.sleep(delay)  # a busy enclave answers later (`capacity`)
        available, why = self.can_sign(item.api_user)
        self.env.trace.record(
            "probe_reply",
            node=self.name,
            tx=item.tx_id,
            api_user=item.api_user,
            available=available,
            reason=why,
        )
        await self._call(
            lambda token: ProbeAnswer(token, item.probe_id, item.api_user, available), until=item.deadline
        )

    async def _on_sign_request(self, item: SignRequest) -> None:
        session = item.session_id
        self._sessions[session] = (item.api_user, item.deadline)
        try:
            await self._callback_then_commit(item)
        except BaseException:
            self._end_session(session)
            raise

    async def _callback_then_commit(self, item: SignRequest) -> None:
        session, api_user = item.session_id, item.api_user
        ok, why = self.can_sign(api_user)
        user = next((u for u in self._users() if u.api_user == api_user), None)
        if not ok or user is None:
            await self._report(item, "FAILED", f"this co-signer cannot sign for {api_user}: {why}")
            self._end_session(session)
            return
        body = dict(item.request)
        body.setdefault("txId", item.tx_id)
        body.setdefault("requestId", item.tx_id)
        body.setdefault("signerId", api_user)
        try:
            decision = await self.callbacks.ask("tx", api_user, user.callback, body, deadline=item.deadline)
        except CallbackFailure as failure:
            await self._report(item, "FAILED", str(failure))
            self._end_session(session)
            return
        answer = await self._report(item, decision.action, decision.reason)
        if decision.action != "APPROVE" or isinstance(answer, Error):
            self._end_session(session)
            return
        signer = self._signers.get(api_user)
        if signer is None or session not in self._sessions:
            self._end_session(session)
            return
        async with self.signing.round():
            if session not in self._sessions:
                return  # aborted while it queued for the enclave
            commitments = signer.commit(session, item.message, self._nonce_rand)
        self.env.trace.record(
            "commitments_sent",
            node=self.name,
            tx=item.tx_id,
            session=session,
            api_user=api_user,
            nonce_id=commitments.nonce_id.hex(),
        )
        answer = await self._call(
            lambda token: Commitments(token, session, commitments.to_bytes()), until=item.deadline
        )
        if isinstance(answer, Error):
            self._log_signer.warn(
                "commit", f"session {session}: commitments refused: {answer.code}: {answer.message}"
            )
            self._end_session(session)

    async def _report(self, item: SignRequest, action: str, reason: str) -> Response:
        self._log_signer.info("callback", f"tx {item.tx_id} for {item.api_user}: {action} {reason}".rstrip())
        return await self._call(
            lambda token: CallbackResult(token, item.session_id, action, reason), until=item.deadline
        )

    async def _on_round2(self, item: SignRound2) -> None:
        session = item.session_id
        known = self._sessions.get(session)
        signer = self._signers.get(known[0]) if known else None
        if known is None or signer is None:
            self.env.trace.record("round2_refused", node=self.name, session=session, reason="unknown session")
            self._log_signer.warn(
                "sign", f"session {session}: no nonce pair here (restarted or aborted); not signing"
            )
            return
        api_user, deadline = known
        async with self.signing.round():
            if session not in self._sessions:
                return  # aborted while it queued for the enclave
            share, nonce_id = signer.sign(session, item.signing_package, persist=self._persist_nonce)
        self.env.trace.record(
            "share_released", node=self.name, session=session, api_user=api_user, nonce_id=nonce_id.hex()
        )
        self._log_signer.info("sign", f"session {session}: signature share released for {api_user}")
        try:
            await self._call(lambda token: SignatureShare(token, session, share), until=deadline)
        finally:
            self._end_session(session)

    def _persist_nonce(self, nonce_id: bytes) -> None:
        assert self.db is not None
        self.db.consume(nonce_id)

    def _on_abort(self, item: SignAbort) -> None:
        known = self._sessions.get(item.session_id)
        self._end_session(item.session_id)
        self.env.trace.record("session_aborted", node=self.name, session=item.session_id, reason=item.reason)
        if known:
            self._log_signer.info("abort", f"session {item.session_id} aborted by the SaaS: {item.reason}")

    def _end_session(self, session: str) -> None:
        known = self._sessions.pop(session, None)
        if known is not None:
            signer = self._signers.get(known[0])
            if signer is not None:
                signer.drop(session)

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
                for u in (self.db.secrets.updates if self.db and self.db.secrets else ())
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


def _io_fault(exc: BaseException) -> BaseException | None:
    """The disk or bucket fault inside `exc` (an exception group from a task group, say), if any."""
    if isinstance(exc, DiskFault | BucketFault):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _io_fault(inner)
            if found is not None:
                return found
    return None
