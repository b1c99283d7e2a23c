"""The parts of a co-signer node every layer shares: its configuration, its state, its database helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import anyio
import anyio.abc
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.env import Environment
from cosigner_ha.net import Network
from cosigner_ha.node.boot_timing import INSTANT_BOOT, BootTiming
from cosigner_ha.node.callback import (
    CallbackClient,
    CallbackPolicy,
    HandlerDirectory,
)
from cosigner_ha.node.capacity import INSTANT, SigningCapacity, SigningSlots
from cosigner_ha.node.database import Database
from cosigner_ha.node.enclave import EnclaveBackend
from cosigner_ha.node.errors import (
    AdminError,
)
from cosigner_ha.node.logs import NodeLog
from cosigner_ha.node.process import Process
from cosigner_ha.node.records import CallbackSettings, Secrets, UserRecord
from cosigner_ha.node.rsa_keys import generate_rsa_key, load_private_key_der, private_key_der
from cosigner_ha.node.saas_client import SaasClient

State = Literal["stopped", "booting", "running", "draining", "failed", "crashed"]


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
    boot: BootTiming = INSTANT_BOOT  # start, attestation and restore durations (`boot_timing`)


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


class NodeCore:
    """The state every part of a node shares, and the database helpers they all use.

    The node is assembled from layers, each in its own module and each using only the ones below it:
    `Lifecycle` (boot, crash, stop), `SaasSession` (tokens, calls), `PairingFlow`, `LocalAdmin`, `SigningWork`
    and `WorkHandlers` (the long-poll agent); `Node` is the top. Construct it inside the event loop (it holds
    anyio events and locks).
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
        self.proc = Process(nonce_rand=env.randbytes)
        self.signing = SigningSlots(env, self.config.signing)
        self._want_running = True
        self._shutdown = False
        self._wake = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._users_changed = anyio.Event()
        self._running = anyio.Event()
        self._changed = anyio.Event()
        self._request_waiters: dict[str, tuple[anyio.Event, list[str]]] = {}
        self.incarnation = 0

    @property
    def db(self) -> Database | None:
        """The open database of the running process (None when it is down)."""
        return self.proc.db

    def _notify(self) -> None:
        """Something `_until` predicates read changed (state, users, sessions, the process): look again."""
        self._changed.set()
        self._changed = anyio.Event()

    async def _until(self, predicate: Callable[[], bool]) -> None:
        """Wait, without polling, until `predicate()` holds; it is re-read after every `_notify`."""
        while not predicate():
            await self._changed.wait()

    async def wait_can_sign(self, api_user: str) -> None:
        """Until this co-signer can sign for `api_user` (running, paired, share not tainted)."""
        await self._until(lambda: self.can_sign(api_user)[0])

    async def wait_state(self, *states: State) -> State:
        """Until the node is in one of `states`; that state."""
        await self._until(lambda: self.state in states)
        return self.state

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
        self._notify()

    def _users(self) -> tuple[UserRecord, ...]:
        return self.proc.db.secrets.users if self.proc.db and self.proc.db.secrets else ()

    def _require_db(self) -> Database:
        if self.state not in ("running", "draining") or self.proc.db is None:
            raise AdminError(f"co-signer {self.name} is not running ({self.state}); start it first")
        return self.proc.db

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
        if self.proc.rsa is None:
            secrets = self._secrets()
            if secrets.callback_key:
                self.proc.rsa = load_private_key_der(secrets.callback_key)
            else:
                key = generate_rsa_key(self.env.randbytes)
                self._commit(lambda s: dataclasses.replace(s, callback_key=private_key_der(key)))
                self.proc.rsa = key
        return self.proc.rsa

    def can_sign(self, api_user: str) -> tuple[bool, str]:
        """Whether a signing request for `api_user` could be served now, and if not, why."""
        if self.state != "running":
            return False, f"co-signer is {self.state}"
        if api_user not in self.proc.signers:
            return False, f"API user {api_user} is not paired with this co-signer"
        assert self.proc.db is not None
        if api_user in self.proc.db.ledger.tainted:
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

    def _unpair(self, api_user: str, why: str) -> bool:
        if not any(u.api_user == api_user for u in self._users()):
            return False
        self._commit(
            lambda s: dataclasses.replace(s, users=tuple(u for u in s.users if u.api_user != api_user))
        )
        signer = self.proc.signers.pop(api_user, None)
        for session, (user, _) in list(self.proc.sessions.items()):
            if user == api_user:
                self.proc.sessions.pop(session, None)
                if signer is not None:
                    signer.drop(session)
        self._users_changed.set()
        self._notify()
        self.env.trace.record("unpaired", node=self.name, api_user=api_user, reason=why)
        self._log_admin.info("unpair", f"API user {api_user} unpaired: {why}; its share is erased")
        return True
