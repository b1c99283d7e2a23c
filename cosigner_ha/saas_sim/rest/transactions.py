"""`/v1/transactions`: create, get (by id and external id), list, cancel; the response a user polls.

A request's peers (`{"type": "VAULT_ACCOUNT", "id": "hot"}`) map to the SaaS's account notation
(`vault:hot`); vault and wallet ids are the scenario's names.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.responses import Response

from cosigner_ha.policy.vocabulary import INITIATING_ROLES
from cosigner_ha.saas_sim.errors import SaasError
from cosigner_ha.saas_sim.rest import errors
from cosigner_ha.saas_sim.rest.app import Call, RestApi, json_response
from cosigner_ha.saas_sim.transactions import Status, Transaction

#: Fireblocks peer types -> the SaaS's account kinds, and back.
PEER_KINDS = {
    "VAULT_ACCOUNT": "vault",
    "EXCHANGE_ACCOUNT": "exchange",
    "FIAT_ACCOUNT": "fiat",
    "EXTERNAL_WALLET": "wallet",
    "ONE_TIME_ADDRESS": "one-time",
}
PEER_TYPES = {kind: peer for peer, kind in PEER_KINDS.items()}
SOURCE_TYPES = ("VAULT_ACCOUNT", "EXCHANGE_ACCOUNT", "FIAT_ACCOUNT")
ADDRESS_TYPES = {"whitelisted": "WHITELISTED", "one-time": "ONE_TIME"}
#: The SaaS's key paths -> the request's fields, so a refusal names what the client sent.
REQUEST_FIELDS = {
    "transaction.asset": "assetId",
    "transaction.amount": "amount",
    "transaction.source": "source",
    "transaction.destination": "destination",
    "transaction.external_id": "externalTxId",
    "transaction.initiator": "X-API-Key",
    "transaction.operation": "operation",
}
ORDER_FIELDS = ("createdAt", "lastUpdated")
MAX_LIMIT = 500
DEFAULT_LIMIT = 200
SIGNING_ALGORITHM = "MPC_EDDSA_ED25519"


def _peer(data: Any, field: str, *, source: bool) -> str:
    if not isinstance(data, dict):
        raise errors.bad_request(field, f"expected an object with 'type' and 'id', got {data!r}")
    kind = data.get("type")
    allowed = SOURCE_TYPES if source else tuple(PEER_KINDS)
    if kind not in allowed:
        raise errors.bad_request(f"{field}.type", f"expected one of {', '.join(allowed)}, got {kind!r}")
    if kind == "ONE_TIME_ADDRESS":
        one_time = data.get("oneTimeAddress")
        address = one_time.get("address") if isinstance(one_time, dict) else None
        if not isinstance(address, str) or not address:
            raise errors.bad_request(f"{field}.oneTimeAddress.address", "expected the destination address")
        return f"one-time:{address}"
    ident = data.get("id")
    if not isinstance(ident, str) or not ident:
        raise errors.bad_request(
            f"{field}.id", f"expected the {kind} id as a non-empty string, got {ident!r}"
        )
    return f"{PEER_KINDS[kind]}:{ident}"


def _amount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise errors.bad_request("amount", f"expected a number or a numeric string, got {value!r}")
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise errors.bad_request("amount", f"expected a number, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise errors.bad_request("amount", f"expected a positive amount, got {value!r}")
    return amount


def _optional_string(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise errors.bad_request(key, f"expected a string, got {value!r}")
    return value


async def create(call: Call) -> Response:
    data = call.json()
    operation = data.get("operation", "TRANSFER")
    if operation != "TRANSFER":
        raise errors.bad_request("operation", f"the local API simulates TRANSFER only, got {operation!r}")
    asset = data.get("assetId")
    if not isinstance(asset, str) or not asset:
        raise errors.bad_request("assetId", f"expected the asset id, got {asset!r}")
    if "amount" not in data:
        raise errors.bad_request("amount", "missing; expected the amount to transfer")
    amount = _amount(data["amount"])
    if "source" not in data:
        raise errors.bad_request("source", "missing; expected the source peer")
    source = _peer(data["source"], "source", source=True)
    if "destination" not in data:
        raise errors.bad_request("destination", "missing; expected the destination peer")
    destination = _peer(data["destination"], "destination", source=False)
    note = _optional_string(data, "note") or ""
    external_id = _optional_string(data, "externalTxId")
    api = call.api
    try:
        tx = api.saas.submit(
            api.workspace_name,
            initiator=call.user.api_user,
            asset=asset,
            amount=amount,
            source=source,
            destination=destination,
            external_id=external_id,
            note=note,
        )
    except SaasError as exc:
        raise errors.from_saas(exc, fields=REQUEST_FIELDS) from None
    if api.balances is not None:
        api.balances.reserve(api.saas, tx)
    return json_response({"id": tx.id, "status": tx.status.value})


def _owned(call: Call, tx: Transaction) -> Transaction:
    if tx.workspace_id != call.api.workspace.id:
        raise errors.not_found(f"no transaction {tx.id!r}")
    return tx


async def get(call: Call) -> Response:
    api = call.api
    try:
        tx = _owned(call, api.saas.transaction(call.params["txId"]))
    except SaasError:
        raise errors.not_found(f"no transaction {call.params['txId']!r}") from None
    return json_response(view(api, tx))


async def by_external_id(call: Call) -> Response:
    api = call.api
    external = call.params["externalTxId"]
    try:
        tx = api.saas.lifecycle.by_external_id(api.workspace_name, external)
    except SaasError:
        raise errors.not_found(f"no transaction with externalTxId {external!r}") from None
    return json_response(view(api, tx))


def _ms(seconds: float) -> int:
    """Milliseconds, as `createdAt` shows them (and `before`/`after` compare)."""
    return int(seconds * 1000)


def _millis(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(field, f"expected Unix time in milliseconds, got {value!r}") from None


async def listing(call: Call) -> Response:
    api, query = call.api, call.query
    status = query.get("status")
    if status is not None and status not in {s.value for s in Status}:
        raise errors.bad_request(
            "status", f"expected one of {', '.join(s.value for s in Status)}, got {status!r}"
        )
    before, after = _millis(query.get("before"), "before"), _millis(query.get("after"), "after")
    order = query.get("orderBy", "createdAt")
    if order not in ORDER_FIELDS:
        raise errors.bad_request("orderBy", f"expected one of {', '.join(ORDER_FIELDS)}, got {order!r}")
    sort = query.get("sort", "DESC")
    if sort not in ("ASC", "DESC"):
        raise errors.bad_request("sort", f"expected ASC or DESC, got {sort!r}")
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw_limit)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.bad_request("limit", f"expected an integer from 1 to {MAX_LIMIT}, got {raw_limit!r}")
    ws_id = api.workspace.id
    rows = []
    for tx in api.saas.transactions:
        if tx.workspace_id != ws_id or (status is not None and tx.status.value != status):
            continue
        created = _ms(api.wall(tx.created_at))
        if (before is not None and created >= before) or (after is not None and created <= after):
            continue
        key = created if order == "createdAt" else _ms(api.wall(_last_updated(tx)))
        rows.append((key, tx))
    rows.sort(key=lambda row: row[0], reverse=sort == "DESC")
    return json_response([view(api, tx) for _, tx in rows[:limit]])


async def cancel(call: Call) -> Response:
    api = call.api
    tx_id = call.params["txId"]
    try:
        _owned(call, api.saas.transaction(tx_id))
    except SaasError:
        raise errors.not_found(f"no transaction {tx_id!r}") from None
    api.saas.cancel(tx_id, by=call.user.api_user)
    return json_response({"success": True})


# --- the response a user polls --------------------------------------------------------------------------------


def _last_updated(tx: Transaction) -> float:
    return tx.history[-1].at if tx.history else tx.created_at


def _peer_view(api: RestApi, account: str) -> dict[str, Any]:
    kind, _, ident = account.partition(":")
    peer: dict[str, Any] = {"type": PEER_TYPES.get(kind, "UNKNOWN"), "id": ident, "name": ident}
    if kind == "wallet":
        peer["subType"] = "External"
    if kind == "one-time":
        peer = {"type": "ONE_TIME_ADDRESS", "id": "", "name": "N/A"}
    return peer


def view(api: RestApi, tx: Transaction) -> dict[str, Any]:
    """The SDK's `TransactionResponse`: what a user polls, with the signature a user can verify."""
    ws = api.workspace
    price = ws.prices_usd.get(tx.asset)
    amount = float(tx.amount)
    amount_usd = None if price is None else round(amount * price, 2)
    signed_by = [api.user_id(tx.signed_api_user)] if tx.signed_api_user else []
    rejected_by = None
    if tx.status is Status.REJECTED:
        rejecting = [a for a in tx.attempts if a.outcome == "rejected"]
        if rejecting:
            rejected_by = api.user_id(rejecting[-1].api_user)
        else:
            rejected_by = next((name for name, verdict in tx.approvals if verdict != "APPROVE"), None)
    destination_address = tx.destination.partition(":")[2] if tx.destination.startswith("one-time:") else ""
    out: dict[str, Any] = {
        "id": tx.id,
        "externalTxId": tx.external_id,
        "status": tx.status.value,
        "subStatus": tx.sub_status or "",
        "txHash": "",
        "operation": tx.operation,
        "note": tx.note,
        "assetId": tx.asset,
        "source": _peer_view(api, tx.source),
        "sourceAddress": "",
        "destination": _peer_view(api, tx.destination),
        "destinationAddress": destination_address,
        "destinationAddressDescription": "",
        "destinationTag": "",
        "amountInfo": {
            "amount": str(tx.amount),
            "requestedAmount": str(tx.amount),
            "netAmount": str(tx.amount),
            "amountUSD": None if amount_usd is None else f"{amount_usd:.2f}",
        },
        "treatAsGrossAmount": False,
        "feeInfo": {"networkFee": "0", "serviceFee": "0"},
        "feeCurrency": tx.asset,
        "createdAt": _ms(api.wall(tx.created_at)),
        "lastUpdated": _ms(api.wall(_last_updated(tx))),
        "createdBy": api.user_id(tx.initiator) or "",
        "signedBy": signed_by,
        "rejectedBy": rejected_by or "",
        "addressType": ADDRESS_TYPES.get(tx.destination_address, ""),
        "requestedAmount": amount,
        "amount": amount,
        "netAmount": amount,
        "amountUSD": amount_usd,
        "fee": 0,
        "networkFee": 0,
        "numOfConfirmations": 0,
        "signedMessages": _signed_messages(api, tx),
    }
    return out


def _signed_messages(api: RestApi, tx: Transaction) -> list[dict[str, Any]]:
    if tx.signature is None or ws_key(api) is None:
        return []
    return [
        {
            "content": tx.message.hex(),
            "algorithm": SIGNING_ALGORITHM,
            "signature": {"fullSig": tx.signature.hex()},
            "publicKey": ws_key(api),
        }
    ]


def ws_key(api: RestApi) -> str | None:
    key = api.workspace.public_key
    return None if key is None else key.hex()


ROUTES = [
    ("POST", "/transactions", create, INITIATING_ROLES, "creating a transaction"),
    ("GET", "/transactions", listing, None, ""),
    ("GET", "/transactions/external_tx_id/{externalTxId}", by_external_id, None, ""),
    ("GET", "/transactions/{txId}", get, None, ""),
    ("POST", "/transactions/{txId}/cancel", cancel, INITIATING_ROLES, "cancelling a transaction"),
]
