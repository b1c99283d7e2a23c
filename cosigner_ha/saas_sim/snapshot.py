"""The SaaS's durable state as rows of plain JSON data, and back: what `saas serve --state DIR` keeps so
that a SaaS killed at any point and restarted on the same directory loses nothing.

One row per workspace, co-signer, management request, configuration change, transaction and queued
mailbox; plus `meta` (the clock, id counters, the token-signing key) and one row per cloud co-signer
(its shares). What is deliberately not kept, and why it is safe:

- open signing sessions and the cloud co-signers' unused nonce pairs: a restart abandons every open
  attempt (the node is told with `SignAbort`) and signs again with fresh pairs, so a pair is never used
  twice and no consumed-nonce ledger is needed;
- availability probes and a session's work items, for the same reason;
- when each co-signer last polled: a node counts as online again from its next poll;
- the token-verification cache (it is only a cache).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from cosigner_ha import mpc, policy, wire
from cosigner_ha.policy.decision import ApprovalGroup, ApprovalSpec, Decision
from cosigner_ha.policy.vocabulary import Role
from cosigner_ha.saas_sim.approvers import ApproverBehaviour, Verdict
from cosigner_ha.saas_sim.config_changes import ConfigChangeRequest
from cosigner_ha.saas_sim.context import PairingTokenRecord, SaasContext, WorkspaceState
from cosigner_ha.saas_sim.keyholders import OwnerDevice
from cosigner_ha.saas_sim.management import ManagementRequest, RequestKind, RequestState
from cosigner_ha.saas_sim.registry import Cosigner, CosignerType, Pairing
from cosigner_ha.saas_sim.transactions import Attempt, Status, StatusChange, StatusHistory, Transaction
from cosigner_ha.saas_sim.workspace import ApiUser, ConsoleUser, Network, UserGroup, UserStatus, Workspace

#: Bumped whenever a row's shape changes; a directory written by another version is refused.
FORMAT = 1
#: Work items a restart keeps queued: commands and statuses. Signing work is redone from the start.
KEPT_ITEMS = (
    wire.AddUserCommand,
    wire.CallbackUpdateCommand,
    wire.UnpairCommand,
    wire.RequestStatus,
    wire.ConfigChange,
)


def _b(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb(text: str) -> bytes:
    return base64.b64decode(text)


# --- workspaces ----------------------------------------------------------------------------------------------

_ACCOUNT_LISTS = (
    "vaults",
    "exchanges",
    "fiat_accounts",
    "wallets",
    "internal_wallets",
    "network_connections",
    "contract_wallets",
)


def workspace_row(ws: Workspace) -> dict[str, Any]:
    return {
        "id": ws.id,
        "name": ws.name,
        "env": ws.network.value,
        "prices_usd": ws.prices_usd,
        **{key: list(getattr(ws, key)) for key in _ACCOUNT_LISTS},
        "eur_usd": ws.eur_usd,
        "prices_eur": ws.prices_eur,
        "users": [[u.id, u.name, u.role.value] for u in ws.users.values()],
        "api_users": [
            {
                "id": u.id,
                "name": u.name,
                "role": u.role.value,
                "status": u.status.value,
                "callback": u.callback,
                "cosigner_id": u.cosigner_id,
            }
            for u in ws.api_users.values()
        ],
        "groups": [[g.name, list(g.members), g.kind, g.id] for g in ws.groups.values()],
        "public_key": None if ws.public_key is None else ws.public_key.hex(),
    }


def workspace_from_row(row: Mapping[str, Any]) -> Workspace:
    ws = Workspace(
        id=row["id"],
        name=row["name"],
        network=Network(row["env"]),
        prices_usd=row["prices_usd"],
        eur_usd=row["eur_usd"],
        prices_eur=row["prices_eur"],
        **{key: row[key] for key in _ACCOUNT_LISTS},
    )
    for uid, name, role in row["users"]:
        ws.users[name] = ConsoleUser(uid, name, Role(role))
    for u in row["api_users"]:
        ws.api_users[u["name"]] = ApiUser(
            u["id"], u["name"], Role(u["role"]), UserStatus(u["status"]), u["callback"], u["cosigner_id"]
        )
    for name, members, kind, gid in row["groups"]:
        ws.groups[name] = UserGroup(name, tuple(members), kind, gid)
    ws.public_key = None if row["public_key"] is None else bytes.fromhex(row["public_key"])
    return ws


def _history_row(history: policy.CountedHistory) -> dict[str, Any]:
    return {
        "horizon": history.horizon,
        "entries": [
            [
                t.initiator,
                t.operation,
                t.asset,
                str(t.amount),
                t.source,
                t.destination,
                t.destination_address,
                t.at,
            ]
            for t in history.entries
        ],
    }


def _history_from_row(row: Mapping[str, Any]) -> policy.CountedHistory:
    history = policy.CountedHistory()
    history.horizon = float(row["horizon"])
    for initiator, operation, asset, amount, source, destination, address, at in row["entries"]:
        history.entries.append(
            policy.Transaction(
                initiator=initiator,
                operation=operation,
                asset=asset,
                amount=Decimal(amount),
                source=source,
                destination=destination,
                destination_address=address,
                at=float(at),
            )
        )
    return history


def workspace_state_row(state: WorkspaceState) -> dict[str, Any]:
    return {
        "workspace": workspace_row(state.workspace),
        "owner_device": None if state.owner_device is None else state.owner_device.export_keys(),
        "public_package": state.public_package.to_bytes().hex(),
        "approvers": {
            name: [b.latency, b.verdict.value, b.jitter, b.reason] for name, b in state.approvers.items()
        },
        "policy_source": state.policy_source,
        "policy_origin": state.policy_origin,
        "history": None if state.engine is None else _history_row(state.engine.history),
        "external_ids": state.external_ids,
        "user_keys": {name: key.to_bytes().hex() for name, key in state.user_keys.items()},
        "pairing_tokens": [
            [r.jti, r.workspace_id, r.api_user, r.issued_at, r.expires_at, r.used_at, r.request_id]
            for r in state.pairing_tokens.values()
        ],
    }


def workspace_state_from_row(
    row: Mapping[str, Any], owner_rng: Any
) -> tuple[WorkspaceState, policy.CountedHistory | None]:
    """The state without its policy engine (the caller rebuilds it from the source and the history)."""
    owner: OwnerDevice | None = None
    if row["owner_device"] is not None:  # held here only when the owner device is simulated in-process
        owner = OwnerDevice(owner_rng)
        owner.import_keys(row["owner_device"])
    state = WorkspaceState(
        workspace_from_row(row["workspace"]),
        owner,
        mpc.PublicKeyPackage.from_bytes(bytes.fromhex(row["public_package"])),
    )
    for name, (latency, verdict, jitter, reason) in row["approvers"].items():
        state.approvers[name] = ApproverBehaviour(
            latency=latency, verdict=Verdict(verdict), jitter=jitter, reason=reason
        )
    state.policy_source = row["policy_source"]
    state.policy_origin = row["policy_origin"]
    state.external_ids = dict(row["external_ids"])
    state.user_keys = {
        name: mpc.PublicKeyPackage.from_bytes(bytes.fromhex(text)) for name, text in row["user_keys"].items()
    }
    for jti, ws_id, api_user, issued, expires, used, req in row["pairing_tokens"]:
        state.pairing_tokens[jti] = PairingTokenRecord(jti, ws_id, api_user, issued, expires, used, req)
    history = None if row["history"] is None else _history_from_row(row["history"])
    return state, history


# --- co-signers, requests ----------------------------------------------------------------------------------


def cosigner_row(c: Cosigner) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "type": c.type.value,
        "version": c.version,
        "transport_key": c.transport_key.hex(),
        "pairings": [
            [p.workspace_id, p.api_user, p.api_user_id, p.paired_at, p.refresh_jti, p.config_key.hex()]
            for p in c.pairings
        ],
        "standby": c.standby,
        "archived": c.archived,
        "generation": c.generation,
        "unpairing": c.unpairing,
    }


def cosigner_from_row(row: Mapping[str, Any]) -> Cosigner:
    return Cosigner(
        id=row["id"],
        name=row["name"],
        type=CosignerType(row["type"]),
        version=row["version"],
        transport_key=bytes.fromhex(row["transport_key"]),
        pairings=[
            Pairing(ws, api_user, api_user_id, paired_at, jti, bytes.fromhex(config_key))
            for ws, api_user, api_user_id, paired_at, jti, config_key in row["pairings"]
        ],
        standby=row["standby"],
        archived=row["archived"],
        generation=row["generation"],
        unpairing=dict(row["unpairing"]),
    )


def _payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Request payloads hold bytes (keys) beside plain values: bytes are tagged."""
    return {k: {"$bytes": v.hex()} if isinstance(v, bytes) else v for k, v in payload.items()}


def _unpayload(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: bytes.fromhex(v["$bytes"]) if isinstance(v, dict) and set(v) == {"$bytes"} else v
        for k, v in payload.items()
    }


def request_row(req: ManagementRequest) -> dict[str, Any]:
    return {
        "id": req.id,
        "kind": req.kind.value,
        "workspace_id": req.workspace_id,
        "cosigner_id": req.cosigner_id,
        "api_user": req.api_user,
        "requested_by": req.requested_by,
        "created_at": req.created_at,
        "status": req.status.value,
        "detail": req.detail,
        "payload": _payload(req.payload),
        "history": [[at, status.value, detail] for at, status, detail in req.history],
    }


def request_from_row(row: Mapping[str, Any]) -> ManagementRequest:
    return ManagementRequest(
        id=row["id"],
        kind=RequestKind(row["kind"]),
        workspace_id=row["workspace_id"],
        cosigner_id=row["cosigner_id"],
        api_user=row["api_user"],
        requested_by=row["requested_by"],
        created_at=row["created_at"],
        status=RequestState(row["status"]),
        detail=row["detail"],
        payload=_unpayload(row["payload"]),
        history=[(at, RequestState(status), detail) for at, status, detail in row["history"]],
    )


def config_change_row(req: ConfigChangeRequest) -> dict[str, Any]:
    return {
        "id": req.id,
        "workspace_id": req.workspace_id,
        "kind": req.kind,
        "payload": req.payload,
        "created_at": req.created_at,
        "status": req.status.value,
        "detail": req.detail,
        "decided_by": req.decided_by,
        "sent_to": [list(pair) for pair in req.sent_to],
    }


# --- transactions ------------------------------------------------------------------------------------------


def transaction_row(tx: Transaction, decision: policy.Decision | None) -> dict[str, Any]:
    return {
        "id": tx.id,
        "workspace_id": tx.workspace_id,
        "initiator": tx.initiator,
        "operation": tx.operation,
        "asset": tx.asset,
        "amount": str(tx.amount),
        "source": tx.source,
        "destination": tx.destination,
        "destination_address": tx.destination_address,
        "external_id": tx.external_id,
        "note": tx.note,
        "created_at": tx.created_at,
        "status": tx.status.value,
        "sub_status": tx.sub_status,
        "cause": tx.cause,
        "history": [[h.at, h.status.value, h.sub_status, h.reason] for h in tx.history],
        "rule": tx.rule,
        "action": tx.action,
        "designated_signers": list(tx.designated_signers),
        "extra_parameters": tx.extra_parameters,
        "approvals": [list(a) for a in tx.approvals],
        "attempts": [
            [a.session_id, a.cosigner_id, a.api_user, a.started_at, a.outcome, a.reason, a.cause]
            for a in tx.attempts
        ],
        "pending_signature_at": tx.pending_signature_at,
        "message": tx.message.hex(),
        "signature": None if tx.signature is None else tx.signature.hex(),
        "signed_by": tx.signed_by,
        "signed_api_user": tx.signed_api_user,
        "decision": None if decision is None or tx.terminal else decision_row(decision),
    }


def transaction_from_row(row: Mapping[str, Any]) -> tuple[Transaction, policy.Decision | None]:
    tx = Transaction(
        id=row["id"],
        workspace_id=row["workspace_id"],
        initiator=row["initiator"],
        operation=row["operation"],
        asset=row["asset"],
        amount=Decimal(row["amount"]),
        source=row["source"],
        destination=row["destination"],
        destination_address=row["destination_address"],
        external_id=row["external_id"],
        note=row["note"],
        created_at=row["created_at"],
        status=Status(row["status"]),
        sub_status=row["sub_status"],
        cause=row.get("cause"),
        history=StatusHistory(
            StatusChange(at, Status(s), sub, reason) for at, s, sub, reason in row["history"]
        ),
        rule=row["rule"],
        action=row["action"],
        designated_signers=tuple(row["designated_signers"]),
        extra_parameters=row["extra_parameters"],
        approvals=tuple((name, verdict) for name, verdict in row["approvals"]),
        attempts=tuple(Attempt(*a) for a in row["attempts"]),
        pending_signature_at=row["pending_signature_at"],
        message=bytes.fromhex(row["message"]),
        signature=None if row["signature"] is None else bytes.fromhex(row["signature"]),
        signed_by=row["signed_by"],
        signed_api_user=row["signed_api_user"],
    )
    decision = None if row["decision"] is None else decision_from_row(row["decision"])
    return tx, decision


def decision_row(decision: policy.Decision) -> dict[str, Any]:
    return decision.to_json()


def decision_from_row(row: Mapping[str, Any]) -> policy.Decision:
    approvers = row["approvers"]
    spec = None
    if approvers is not None:
        spec = ApprovalSpec(
            tuple(ApprovalGroup(tuple(g["members"]), g["threshold"]) for g in approvers["groups"]),
            approvers["logic"],
            approvers["allow_operator_as_authorizer"],
        )
    return Decision(
        row["rule"],
        row["action"],
        row["status"],
        row["sub_status"],
        tuple(row["designated_signers"]),
        spec,
    )


# --- mailboxes and the rest ---------------------------------------------------------------------------------


def mailbox_row(items: tuple[wire.WorkItem, ...]) -> list[str]:
    return [_b(wire.encode(item)) for item in items if isinstance(item, KEPT_ITEMS)]


def mailbox_from_row(row: list[str]) -> list[wire.WorkItem]:
    out: list[wire.WorkItem] = []
    for text in row:
        item = wire.decode(_unb(text))
        assert isinstance(item, wire.WorkItem)
        out.append(item)
    return out


def completed_row(done: wire.PairCompleted) -> str:
    return _b(wire.encode(done))


def completed_from_row(text: str) -> wire.PairCompleted:
    return wire.decode_as(_unb(text), wire.PairCompleted)


def meta_row(ctx: SaasContext) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "now": ctx.env.clock.now(),
        "wall": ctx.env.clock.wall(),
        "ids": ctx.env.ids.counters(),
        "token_key": ctx.token_key.hex(),
    }
