"""What the node signs and what it shows its callback handler: the transaction's signing message and the
`tx_sign_request` body (cosigner-protocol.md section 1.2), built the same way on every resend so that a
RETRY asks the identical question."""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from cosigner_ha.env import canonical
from cosigner_ha.policy import policy_rules
from cosigner_ha.saas_sim.context import WorkspaceState
from cosigner_ha.saas_sim.transactions import Transaction
from cosigner_ha.saas_sim.workspace import AccountKind, AccountRef, ApiUser

_PEER_TYPES = {
    AccountKind.VAULT: "VAULT",
    AccountKind.EXCHANGE: "EXCHANGE",
    AccountKind.FIAT: "FIAT_ACCOUNT",
    AccountKind.WALLET: "UNMANAGED",
    AccountKind.INTERNAL: "UNMANAGED",
    AccountKind.CONTRACT: "UNMANAGED",
    AccountKind.NETWORK: "NETWORK_CONNECTION",
    AccountKind.ONE_TIME: "ONE_TIME_ADDRESS",
}


def signing_message(tx: Transaction) -> bytes:
    """The 32-byte payload the signature covers: SHA-256 of the transaction's canonical content."""
    body = {
        "txId": tx.id,
        "workspace": tx.workspace_id,
        "operation": tx.operation,
        "asset": tx.asset,
        "amount": str(tx.amount),
        "source": tx.source,
        "destination": tx.destination,
        "destinationAddressType": tx.destination_address,
        "externalTxId": tx.external_id,
        "note": tx.note,
    }
    return hashlib.sha256(canonical(body).encode()).digest()


def request_id(tx: Transaction) -> str:
    """The request's own id, distinct from the transaction's as in the product, and the same on every
    resend (a RETRY sends the identical request): a UUID derived from the workspace and transaction ids."""
    digest = hashlib.sha256(f"request/{tx.workspace_id}/{tx.id}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def captured_rule(state: WorkspaceState, index: int | None) -> str:
    """`actionInfo.capturedRule`: the matched rule itself as published (a JSON string, as Fireblocks sends
    it); a policy given in Fireblocks' form yields Fireblocks' JSON, a native one its native table."""
    if index is None or state.policy_source is None:
        return ""
    rules = policy_rules(state.policy_source)
    if not 0 <= index < len(rules):
        return ""
    return json.dumps(rules[index], separators=(",", ":"), sort_keys=True, default=str)


def callback_request(tx: Transaction, state: WorkspaceState, user: ApiUser) -> dict[str, Any]:
    """The `tx_sign_request` body (cosigner-protocol.md section 1.2) the node shows its handler."""
    src = AccountRef.parse(tx.source, "source")
    dst = AccountRef.parse(tx.destination, "destination")
    price = state.workspace.prices_usd.get(tx.asset)
    amount = float(tx.amount)
    amount_usd = float(tx.amount * Decimal(str(price))) if price is not None else None
    address_type = "ONE_TIME" if tx.destination_address == "one-time" else "WHITELISTED"
    rule = captured_rule(state, tx.rule)
    return {
        "txId": tx.id,
        "requestId": request_id(tx),
        "externalTxId": tx.external_id,
        "operation": tx.operation,
        "sourceType": _PEER_TYPES[src.kind],
        "sourceId": src.id,
        "destType": _PEER_TYPES[dst.kind],
        "destId": "" if dst.kind is AccountKind.ONE_TIME else dst.id,
        "asset": tx.asset,
        "amount": amount,
        "amountStr": str(tx.amount),
        "requestedAmount": amount,
        "requestedAmountStr": str(tx.amount),
        "destAddressType": address_type,
        "destAddress": dst.id,
        "signerId": user.id,
        "note": tx.note,
        "extraParameters": dict(tx.extra_parameters or {}),
        "players": [user.id],
        "destinations": [
            {
                "amountNative": amount,
                "amountNativeStr": str(tx.amount),
                "amountUSD": amount_usd,
                "dstAddressType": address_type,
                "dstId": "" if dst.kind is AccountKind.ONE_TIME else dst.id,
                "dstName": dst.id,
                "dstType": _PEER_TYPES[dst.kind],
                "dstSubType": "EXTERNAL" if dst.kind is AccountKind.WALLET else "",
                "displayDstAddress": dst.id,
                "action": tx.action or "ALLOW",
                "actionInfo": {
                    "capturedRuleNum": tx.rule,
                    "rulesSnapshotId": 1,
                    "byGlobalPolicy": False,
                    "byRule": tx.rule is not None,
                    "capturedRule": rule,
                },
            }
        ],
        "rawTx": [{"keyDerivationPath": "[44,0,0,0,0]", "rawTx": "", "payload": tx.message.hex()}],
    }
