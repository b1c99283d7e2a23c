"""State every part of the SaaS shares: the environment, the registries, the cloud co-signers, and the
nursery background work runs in. The services (`pairing`, `lifecycle`, `signing`, `config_changes`) take
one of these instead of each other, so each stays small and testable on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import anyio
import anyio.abc

from cosigner_ha import mpc, policy, wire
from cosigner_ha.env import Environment, scopes
from cosigner_ha.env.compute import SigningSlots
from cosigner_ha.saas_sim.approvers import Approver, ApproverBehaviour, SimulatedApprover
from cosigner_ha.saas_sim.config import SaasConfig
from cosigner_ha.saas_sim.errors import NotFound
from cosigner_ha.saas_sim.keyholders import CloudCosigner, OwnerDevice
from cosigner_ha.saas_sim.mailbox import Mailbox
from cosigner_ha.saas_sim.management import ManagementRequests
from cosigner_ha.saas_sim.owner_client import RemoteApprover, RemoteOwner
from cosigner_ha.saas_sim.registry import CosignerRegistry
from cosigner_ha.saas_sim.tokens import TokenAuthority
from cosigner_ha.saas_sim.transactions import Transaction
from cosigner_ha.saas_sim.workspace import Workspace


@dataclasses.dataclass(slots=True)
class PairingTokenRecord:
    jti: str
    workspace_id: str
    api_user: str
    issued_at: float
    expires_at: float
    used_at: float | None = None
    request_id: str | None = None


@dataclasses.dataclass(slots=True, eq=False)
class WorkspaceState:
    """A workspace and what the SaaS keeps about it besides the model itself."""

    workspace: Workspace
    #: None when the owner's device is its own process (`SaasContext.owner`): the SaaS holds no share of it.
    owner_device: OwnerDevice | None
    public_package: mpc.PublicKeyPackage
    approvers: dict[str, ApproverBehaviour] = dataclasses.field(default_factory=dict)
    policy_source: Mapping[str, Any] | None = None
    policy_origin: str = ""
    engine: policy.PolicyEngine | None = None
    external_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Public key package of each paired API user's share set, by API user name.
    user_keys: dict[str, mpc.PublicKeyPackage] = dataclasses.field(default_factory=dict)
    pairing_tokens: dict[str, PairingTokenRecord] = dataclasses.field(default_factory=dict)


DEFAULT_APPROVER = ApproverBehaviour()


class SaasContext:
    def __init__(self, env: Environment, config: SaasConfig, *, durable: bool = False) -> None:
        self.env = env
        self.config = config
        #: Durable: every change is saved (`before_record`) before the event that reports it is written,
        #: so the trace never shows what a restarted SaaS would not know.
        self.before_record: Callable[[], None] = lambda: None
        self.record: Callable[..., Any] = self._record_durably if durable else env.trace.record
        self.token_key = env.child("token-authority").randbytes(32)
        self.tokens = TokenAuthority(key_bytes=self.token_key, wall=env.clock.wall, new_id=env.ids.uuid)
        self.registry = CosignerRegistry(offline_after=config.offline_after, now=env.clock.now)
        self.requests = ManagementRequests(
            now=env.clock.now, new_id=lambda: env.ids.sequence("req"), record=self.record
        )
        self.clouds = (
            CloudCosigner(1, env.child("cloud-1").randbytes),
            CloudCosigner(2, env.child("cloud-2").randbytes),
        )
        #: the cloud co-signers' compute: each signing round they take part in holds a slot for its time
        self.cloud_slots = SigningSlots(env, config.cloud_signing)
        self.workspaces: dict[str, WorkspaceState] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.transactions: dict[str, Transaction] = {}
        self.standby: dict[str, bool] = {}
        #: The owner's device as its own process; None: simulated here (`WorkspaceState.owner_device`).
        self.owner: RemoteOwner | None = None
        self._nursery: anyio.abc.TaskGroup | None = None
        self._approver_rngs: dict[str, Callable[[], float]] = {}

    def _record_durably(self, kind: str, /, **fields: Any) -> Any:
        self.before_record()
        return self.env.trace.record(kind, **fields)

    # --- background work -----------------------------------------------------------------------------------

    def attach(self, nursery: anyio.abc.TaskGroup | None) -> None:
        self._nursery = nursery

    @property
    def running(self) -> bool:
        return self._nursery is not None

    def spawn(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        if self._nursery is None:
            raise RuntimeError("the SaaS is not running: start `await saas.run()` in a task group first")
        scopes.start_soon(self._nursery, fn, *args)

    # --- look-ups ------------------------------------------------------------------------------------------

    def workspace(self, workspace_id: str) -> WorkspaceState:
        try:
            return self.workspaces[workspace_id]
        except KeyError:
            raise NotFound(f"no workspace {workspace_id!r}") from None

    def workspace_named(self, name: str) -> WorkspaceState:
        for state in self.workspaces.values():
            if state.workspace.name == name or state.workspace.id == name:
                return state
        raise NotFound(f"no workspace named {name!r}")

    def mailbox(self, cosigner_id: str) -> Mailbox:
        box = self.mailboxes.get(cosigner_id)
        if box is None:
            box = self.mailboxes[cosigner_id] = Mailbox(still_wanted=self._still_wanted)
        return box

    def _still_wanted(self, item: wire.WorkItem) -> bool:
        # A probe past its deadline is useless to deliver: nobody is waiting for the answer any more.
        return not (isinstance(item, wire.AvailabilityProbe) and item.deadline <= self.env.clock.wall())

    def is_standby(self, cosigner_id: str) -> bool:
        return self.standby.get(cosigner_id, False)

    def approver(self, state: WorkspaceState, name: str) -> Approver:
        if self.owner is not None and name == state.workspace.owner.name:
            return RemoteApprover(name, self.owner)
        behaviour = state.approvers.get(name, DEFAULT_APPROVER)
        key = f"{state.workspace.id}/{name}"
        uniform = self._approver_rngs.get(key)
        if uniform is None:
            uniform = self._approver_rngs[key] = self.env.rng(
                f"approver/{state.workspace.name}/{name}"
            ).random
        return SimulatedApprover(name, behaviour, clock=self.env.clock, uniform=uniform)
