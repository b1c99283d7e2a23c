"""`Saas`: the custody SaaS simulator, as the cluster runner and the tests drive it.

Construct it with an environment, a `Network` (a simulated host, or TCP) and a listen address; start
`await saas.run()` in a task group; then create workspaces, publish policies, issue pairing tokens, submit
transactions and inject administrative events through its methods. Nodes reach it only through the wire
protocol on `saas.address`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio
import anyio.abc

from cosigner_ha import mpc, policy, wire
from cosigner_ha.env import Environment
from cosigner_ha.net import Network
from cosigner_ha.saas_sim.approvers import ApproverBehaviour
from cosigner_ha.saas_sim.attestation import AttestationService
from cosigner_ha.saas_sim.config import SaasConfig
from cosigner_ha.saas_sim.config_changes import ConfigChangeRequest, ConfigChangeService
from cosigner_ha.saas_sim.context import SaasContext, WorkspaceState
from cosigner_ha.saas_sim.cosigner_management import CosignerManagement
from cosigner_ha.saas_sim.durable import Durable
from cosigner_ha.saas_sim.errors import AttestationFailed, Conflict, NotFound
from cosigner_ha.saas_sim.gateway import Connection, Gateway
from cosigner_ha.saas_sim.keyholders import OWNER_ID, OwnerDevice
from cosigner_ha.saas_sim.lifecycle import TransactionService
from cosigner_ha.saas_sim.management import ManagementRequest
from cosigner_ha.saas_sim.owner_client import RemoteOwner
from cosigner_ha.saas_sim.pairing import PairingService
from cosigner_ha.saas_sim.registry import Cosigner
from cosigner_ha.saas_sim.state_store import StateStore
from cosigner_ha.saas_sim.token_auth import TokenAuthentication
from cosigner_ha.saas_sim.transactions import Transaction
from cosigner_ha.saas_sim.workspace import Workspace


def directory_of(workspace: Workspace) -> policy.Directory:
    """The workspace as the policy engine sees it."""
    return policy.Directory(
        users=[policy.User(u.name, u.role.value, u.id) for u in workspace.users.values()],
        api_users=[policy.User(u.name, u.role.value, u.id) for u in workspace.api_users.values()],
        groups={g.name: g.members for g in workspace.groups.values()},
        group_ids={g.id: g.name for g in workspace.groups.values() if g.id is not None},
        vaults=workspace.vaults,
        exchanges=workspace.exchanges,
        fiat_accounts=workspace.fiat_accounts,
        wallets=workspace.wallets,
        internal_wallets=workspace.internal_wallets,
        network_connections=workspace.network_connections,
        contract_wallets=workspace.contract_wallets,
        prices_usd=workspace.prices_usd,
        eur_usd=workspace.eur_usd,
        prices_eur=workspace.prices_eur,
        origin=f"workspace {workspace.name}",
    )


class Saas:
    def __init__(
        self,
        env: Environment,
        *,
        network: Network,
        address: str = "saas:443",
        config: SaasConfig | None = None,
        vendor_key: bytes | None = None,
        expected_measurements: Iterable[bytes] = (),
        store: StateStore | None = None,
        owner: RemoteOwner | None = None,
    ) -> None:
        """`store`: keep the state there and restore what it holds (`durable.py`); None keeps it in memory.
        `owner`: the owner's device as its own process (`owner_client.py`); None simulates it in here."""
        self.env = env
        self.config = config or SaasConfig()
        self.ctx = SaasContext(env, self.config, durable=store is not None)
        self.ctx.owner = owner
        self.pairing = PairingService(self.ctx)
        self.tokens = TokenAuthentication(self.ctx)
        self.management = CosignerManagement(self.ctx, self.pairing)
        self.lifecycle = TransactionService(self.ctx)
        self.signing = self.lifecycle.signing
        #: Probe answers that ride on one poll arrive together: which of them counts first is a tie, broken
        #: at random (seeded), as separate answers racing would be.
        self._ties = env.rng("probe-answer-ties")
        self.management.on_unpaired = lambda cosigner_id, api_user: self.signing.abort_for(
            cosigner_id, api_user, f"API user {api_user!r} was unpaired"
        )
        self.config_changes = ConfigChangeService(self.ctx)
        self.attestation: AttestationService | None = None
        if vendor_key is not None:
            self.attestation = AttestationService(
                vendor_key=vendor_key,
                expected_measurements=expected_measurements,
                randbytes=env.child("attestation").randbytes,
                record=self.ctx.record,
            )
        self.gateway = Gateway(
            network=network,
            address=address,
            handle=self._handle,
            undelivered=self._undelivered,
            closed=self._connection_closed,
            record=self.ctx.record,
            new_id=lambda: env.ids.sequence("conn"),
        )
        self.signing.connected = self.gateway.connected
        self._started = False
        self.durable: Durable | None = None
        if store is not None:
            self.durable = Durable(self, store)
            self.ctx.before_record = self.durable.save

    @property
    def address(self) -> str:
        return self.gateway.address

    # --- running -------------------------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; `await tg.start(saas.run)` returns the bound address."""
        if self._started:
            raise RuntimeError("this Saas is already running")
        self._started = True
        try:
            async with anyio.create_task_group() as tasks:
                self.ctx.attach(tasks)
                if self.durable is not None:
                    self.durable.resume()
                address = await tasks.start(self.gateway.serve)
                self.ctx.record("saas_started", address=address, selection=self.config.selection)
                task_status.started(address)
        finally:
            self.ctx.attach(None)
            self._started = False

    # --- workspaces ----------------------------------------------------------------------------------------

    def create_workspace(self, spec: Mapping[str, Any]) -> Workspace:
        """Build a workspace (refused whole on any error) and create its key by DKG among the owner's
        device and the two cloud co-signers."""
        if self.ctx.owner is not None:
            raise RuntimeError("the owner's device is remote: create workspaces with `await setup_workspace`")
        workspace = self._new_workspace(spec)
        owner = OwnerDevice(self.env.child(f"owner-device/{workspace.name}").randbytes)
        holders = (owner, *self.ctx.clouds)
        round1 = {h.identifier: h.dkg_part1(workspace.id) for h in holders}
        round2 = {h.identifier: h.dkg_part2(workspace.id, round1) for h in holders}
        publics = [
            h.dkg_part3(
                workspace.id, round1, {i: out[h.identifier] for i, out in round2.items() if i != h.identifier}
            )
            for h in holders
        ]
        if any(p != publics[0] for p in publics):
            raise mpc.KeyMismatchError("the key holders derived different workspace keys")
        workspace.public_key = publics[0].group_public_key
        self.ctx.workspaces[workspace.id] = WorkspaceState(workspace, owner, publics[0])
        self.ctx.record("workspace_created", **workspace.summary(), public_key=workspace.public_key)
        return workspace

    def _new_workspace(self, spec: Mapping[str, Any]) -> Workspace:
        workspace = Workspace.from_spec(spec, new_id=self.env.ids.uuid)
        if any(s.workspace.name == workspace.name for s in self.ctx.workspaces.values()):
            raise Conflict(f"a workspace named {workspace.name!r} exists already")
        directory_of(workspace)  # the policy's own checks of the same data, before anything is kept
        return workspace

    async def setup_workspace(self, spec: Mapping[str, Any]) -> Workspace:
        """`create_workspace`, with the owner's device wherever it is: over the network when it is its own
        process (its share never comes here), else simulated in here."""
        device = self.ctx.owner
        if device is None:
            return self.create_workspace(spec)
        workspace = self._new_workspace(spec)
        ws_id = workspace.id
        clouds = self.ctx.clouds
        round1 = {OWNER_ID: await device.dkg_part1(ws_id)}
        round1.update({c.identifier: c.dkg_part1(ws_id) for c in clouds})
        round2 = {c.identifier: c.dkg_part2(ws_id, round1) for c in clouds}
        round2[OWNER_ID] = await device.dkg_part2(ws_id, round1)

        def received(me: int) -> dict[int, mpc.DkgRound2Package]:
            return {i: out[me] for i, out in round2.items() if i != me}

        publics = [await device.dkg_part3(ws_id, round1, received(OWNER_ID))]
        publics += [c.dkg_part3(ws_id, round1, received(c.identifier)) for c in clouds]
        if any(p != publics[0] for p in publics):
            raise mpc.KeyMismatchError("the key holders derived different workspace keys")
        if any(s.workspace.name == workspace.name for s in self.ctx.workspaces.values()):
            raise Conflict(f"a workspace named {workspace.name!r} exists already")
        workspace.public_key = publics[0].group_public_key
        self.ctx.workspaces[ws_id] = WorkspaceState(workspace, None, publics[0])
        self.ctx.record(
            "workspace_created", **workspace.summary(), public_key=workspace.public_key, owner_device="remote"
        )
        return workspace

    def workspace(self, name: str) -> Workspace:
        return self.ctx.workspace_named(name).workspace

    def set_approver(self, workspace: str, user: str, behaviour: ApproverBehaviour) -> None:
        """How a console user answers approvals (pairing, unpairing, 2-TIER); default: approve after 60 s."""
        state = self.ctx.workspace_named(workspace)
        state.workspace.role_of(user)
        state.approvers[user] = behaviour

    def publish_policy(
        self,
        workspace: str,
        source: Mapping[str, Any],
        *,
        origin: str = "policy",
        approval: bool | None = None,
    ) -> ConfigChangeRequest | None:
        """Validate now (a `PolicyError` names the rule and field); install at once when nothing is published
        yet (or `approval=False`), else as a configuration change an ADMIN API user's co-signer approves."""
        state = self.ctx.workspace_named(workspace)
        self.policy_engine(state.workspace, source, origin)  # refuse a bad policy before anything changes
        if approval is None:
            approval = state.engine is not None
        if not approval:
            self._install_policy(state, source, origin)
            return None

        def apply() -> None:
            self._install_policy(state, source, origin)

        return self.config_changes.request(
            state,
            "POLICY_CHANGE",
            {"policy": dict(source)},
            apply,  # no local file paths leave the SaaS
        )

    def config_change_apply(
        self, state: WorkspaceState, kind: str, payload: Mapping[str, Any]
    ) -> Callable[[], None]:
        """What approving a restored configuration change does (its closure did not survive the restart)."""
        if kind == "POLICY_CHANGE":
            return lambda: self._install_policy(state, payload["policy"], "policy change (restored)")
        if kind == "UNMANAGED_WALLET":
            return lambda: self._whitelist(state, str(payload["walletName"]))

        def unknown() -> None:
            raise ValueError(f"a {kind} change cannot be applied after a restart")

        return unknown

    def policy_engine(
        self,
        workspace: Workspace,
        source: Mapping[str, Any],
        origin: str,
        history: policy.CountedHistory | None = None,
    ) -> policy.PolicyEngine:
        directory = directory_of(workspace)
        loaded = policy.load_policy(source, directory, origin=origin)
        return policy.PolicyEngine(loaded, directory, history=history)

    def _install_policy(self, state: WorkspaceState, source: Mapping[str, Any], origin: str) -> None:
        # The rolling totals carry over: a publish does not reset amount-over-time (tap-policy.md 2.3).
        history = None if state.engine is None else state.engine.history
        state.engine = self.policy_engine(state.workspace, source, origin, history)
        state.policy_source = source
        state.policy_origin = origin
        rules = len(state.engine.policy.rules)
        self.ctx.record("policy_published", workspace=state.workspace.name, origin=origin, rules=rules)

    def add_whitelisted_wallet(self, workspace: str, name: str, address: str = "") -> ConfigChangeRequest:
        state = self.ctx.workspace_named(workspace)

        payload = {"subType": "EXTERNAL", "walletName": name, "walletId": name, "address": address, "tag": ""}
        return self.config_changes.request(
            state, "UNMANAGED_WALLET", payload, lambda: self._whitelist(state, name)
        )

    def _whitelist(self, state: WorkspaceState, name: str) -> None:
        state.workspace.add_wallet(name)
        if state.policy_source is not None:  # the policy's directory now knows the wallet
            history = None if state.engine is None else state.engine.history
            state.engine = self.policy_engine(
                state.workspace, state.policy_source, state.policy_origin, history
            )
        self.ctx.record("wallet_whitelisted", workspace=state.workspace.name, wallet=name)

    # --- pairing and co-signer management -----------------------------------------------------------------

    def issue_pairing_token(self, workspace: str, api_user: str, *, ttl: float | None = None) -> str:
        return self.pairing.issue_pairing_token(self.ctx.workspace_named(workspace), api_user, ttl=ttl)

    def pair_api_key(
        self,
        workspace: str,
        cosigner_id: str,
        api_user: str,
        *,
        callback: dict[str, Any] | None = None,
        requested_by: str,
    ) -> ManagementRequest:
        """Pair another API user with an existing co-signer from the console (the node is commanded)."""
        return self.pairing.pair_api_key(
            self.ctx.workspace_named(workspace),
            cosigner_id,
            api_user,
            callback=callback,
            requested_by=requested_by,
        )

    def unpair(self, workspace: str, api_user: str, *, requested_by: str) -> ManagementRequest:
        """Needs an admin's approval; on approval the shares are destroyed and the tokens revoked."""
        return self.management.request_unpair(
            self.ctx.workspace_named(workspace), api_user, requested_by=requested_by
        )

    def update_callback(
        self, workspace: str, api_user: str, handler: dict[str, Any], *, requested_by: str
    ) -> ManagementRequest:
        return self.management.request_callback_update(
            self.ctx.workspace_named(workspace), api_user, handler, requested_by=requested_by
        )

    def add_cosigner(
        self, workspace: str, cosigner_id: str, *, name: str, type: str, api_user: str, requested_by: str
    ) -> ManagementRequest:
        return self.management.add_cosigner(
            self.ctx.workspace_named(workspace),
            cosigner_id,
            name=name,
            type_=type,
            api_user=api_user,
            requested_by=requested_by,
        )

    def rename_cosigner(self, cosigner_id: str, name: str, *, requested_by: str) -> ManagementRequest:
        return self.management.rename(cosigner_id, name, requested_by=requested_by)

    def request_status(self, request_id: str) -> dict[str, Any]:
        return self.ctx.requests.get(request_id).as_status()

    async def wait_request(self, request_id: str) -> str:
        """Until the management request is decided (completed, rejected or cancelled); its final status."""
        requests = self.ctx.requests
        state = await requests.wait_final(requests.get(request_id))
        return state.value

    def cancel_request(self, request_id: str, *, by: str) -> ManagementRequest:
        return self.management.cancel_request(request_id, by=by)

    def set_standby(self, cosigner_id: str, standby: bool = True) -> None:
        """A passive node: probed, but chosen only when no active node answered available."""
        self.ctx.standby[cosigner_id] = standby
        self.ctx.record("standby_set", cosigner=cosigner_id, standby=standby)

    def cosigner(self, cosigner_id: str) -> Cosigner:
        return self.ctx.registry.get(cosigner_id)

    def cosigners(self) -> list[dict[str, Any]]:
        """The co-signers tab: id, name, type, version, paired API users, last seen, online."""
        return [
            {
                "id": c.id,
                "name": c.name,
                "type": c.type.value,
                "version": c.version,
                "api_users": [p.api_user for p in c.pairings],
                "last_seen": None
                if c.last_seen is None
                else self.env.clock.wall() - (self.env.clock.now() - c.last_seen),
                "online": self.ctx.registry.is_online(c),
                "standby": self.ctx.is_standby(c.id),
            }
            for c in self.ctx.registry.all()
        ]

    async def disconnect(self, cosigner_id: str) -> int:
        """Close every connection of a co-signer (the SaaS side of a network fault)."""
        return await self.gateway.disconnect(cosigner_id)

    # --- transactions --------------------------------------------------------------------------------------

    def submit(self, workspace: str, **fields: Any) -> Transaction:
        """Submit a transaction (initiator, asset, amount, source, destination, operation, destination_address,
        external_id, note); refused with a `SaasError` naming the field, or decided at once."""
        return self.lifecycle.submit(workspace, **fields)

    def cancel(self, tx_id: str, *, by: str) -> Transaction:
        return self.lifecycle.cancel(tx_id, by=by)

    def transaction(self, tx_id: str) -> Transaction:
        return self.lifecycle.transaction(tx_id)

    @property
    def transactions(self) -> list[Transaction]:
        return list(self.ctx.transactions.values())

    # --- the gateway's requests ----------------------------------------------------------------------------

    async def _handle(self, request: wire.Request, conn: Connection) -> wire.Response:
        # Most requests are polls, so they are tested for first (the request classes are disjoint).
        if isinstance(request, wire.Poll):
            cosigner = self.tokens.authenticate(request.access_token, request.cosigner_id)
            self._bind(conn, cosigner.id)
            return await self._poll(cosigner, request, conn)
        pairing = self.pairing
        if isinstance(request, wire.Pair):
            return pairing.pair(request)
        if isinstance(request, wire.PairStatus):
            return await pairing.pair_status(request)
        if isinstance(request, wire.RefreshAccess):
            grant = self.tokens.refresh(request)
            self._bind(conn, request.cosigner_id)
            return grant
        if isinstance(request, wire.AttestationQuote):
            if self.attestation is None:
                raise AttestationFailed("this SaaS runs no attestation service (no vendor key configured)")
            return wire.AttestationResult(
                self.attestation.attest(request.cosigner_id, request.report, request.signature)
            )
        token = getattr(request, "access_token", None)
        if not isinstance(token, str):
            raise NotFound(f"the SaaS does not serve {request.TYPE!r} requests")
        cosigner = self.tokens.authenticate(token)
        self._bind(conn, cosigner.id)
        signing = self.signing
        if isinstance(request, wire.ProbeAnswer):
            signing.on_probe_answer(cosigner, request.probe_id, request.available)
        elif isinstance(request, wire.CallbackResult):
            return await signing.on_callback_result(cosigner, request)
        elif isinstance(request, wire.SignatureShare):
            await signing.on_signature_share(cosigner, request)
        elif isinstance(request, wire.ConfigChangeAnswer):
            self.config_changes.on_answer(cosigner, request)
        elif isinstance(request, wire.CommandResult):
            self.management.command_result(cosigner, request)
        elif isinstance(request, wire.ManagementRequest):
            return self.management.management(cosigner, request)
        else:
            raise NotFound(f"the SaaS does not serve {request.TYPE!r} requests")
        return wire.Ack()

    async def _poll(self, cosigner: Cosigner, request: wire.Poll, conn: Connection) -> wire.Response:
        paired = [p.api_user_id for p in cosigner.pairings] + list(cosigner.unpairing)
        unknown = [u for u in request.api_users if u not in paired]
        if unknown:
            raise NotFound(
                f"API user(s) {', '.join(unknown)} are not paired with co-signer {cosigner.id!r} "
                f"(paired: {', '.join(paired) or 'none'})"
            )
        self.ctx.registry.seen(cosigner)
        answers = request.answers
        if len(answers) > 1:
            answers = self._ties.sample(answers, len(answers))
        for answer in answers:
            self.signing.on_probe_answer(cosigner, answer.probe_id, answer.available)
        items = await self.ctx.mailbox(cosigner.id).wait(
            self.config.long_poll_interval, watch=functools.partial(self.gateway.watch, conn)
        )
        self.ctx.registry.seen(cosigner)
        return wire.PollResult(items)

    def _bind(self, conn: Connection, cosigner_id: str) -> None:
        """The connection authenticated as this co-signer: it counts as the co-signer being there."""
        if conn.cosigner_id != cosigner_id:
            previous, conn.cosigner_id = conn.cosigner_id, cosigner_id
            for changed in (previous, cosigner_id):
                if changed is not None:
                    self.signing.connection_changed(changed)

    def _connection_closed(self, conn: Connection) -> None:
        if conn.cosigner_id is not None:
            self.signing.connection_changed(conn.cosigner_id)

    def _undelivered(self, response: wire.Response, conn: Connection) -> None:
        if isinstance(response, wire.PollResult) and response.items and conn.cosigner_id is not None:
            self.ctx.mailbox(conn.cosigner_id).put_back(response.items)
            self.ctx.record(
                "poll_undelivered", conn=conn.id, cosigner=conn.cosigner_id, items=len(response.items)
            )
