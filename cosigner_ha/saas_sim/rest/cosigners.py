"""`/v1/cosigners` (the Co-signers API, beta) and `/v1/management/api_users`.

Pairing an API key, updating its callback handler and unpairing are asynchronous as in Fireblocks: 202
with a `Location` header naming the request, whose status (`GET .../api_keys/{apiKeyId}/{requestId}`)
follows the SaaS's management request through the owner's or an admin's approval and the node's answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from cosigner_ha.policy.vocabulary import DELEGATE_ADMIN_ROLES
from cosigner_ha.saas_sim.errors import SaasError
from cosigner_ha.saas_sim.management import ManagementRequest, RequestKind
from cosigner_ha.saas_sim.registry import Cosigner
from cosigner_ha.saas_sim.rest import errors
from cosigner_ha.saas_sim.rest.app import Call, RestApi, json_response
from cosigner_ha.saas_sim.workspace import ApiUser

#: The request types the status endpoint reports (the SDK's `Status.type`).
STATUS_TYPES = (RequestKind.PAIR_API_KEY, RequestKind.UPDATE_CALLBACK_HANDLER, RequestKind.UNPAIR_API_KEY)
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


def cosigner_view(cosigner: Cosigner) -> dict[str, Any]:
    version = cosigner.version or "unknown"
    return {
        "archived": cosigner.archived,
        "id": cosigner.id,
        "name": cosigner.name,
        "type": cosigner.type.value,
        "version": {"hash": version, "name": version},
    }


def _handler_view(user: ApiUser) -> dict[str, Any] | None:
    handler = user.callback or {}
    url = handler.get("url")
    if not isinstance(url, str) or not url:
        return None
    out: dict[str, Any] = {"url": url}
    if handler.get("publicKey"):
        out["publicKey"] = handler["publicKey"]
    return out


def api_key_view(api: RestApi, cosigner: Cosigner, user: ApiUser) -> dict[str, Any]:
    out: dict[str, Any] = {"id": api.user_id(user.name)}
    if cosigner.last_seen is not None:
        out["lastSeen"] = dt.datetime.fromtimestamp(api.wall(cosigner.last_seen), tz=dt.UTC).isoformat()
    handler = _handler_view(user)
    if handler is not None:
        out["callbackHandler"] = handler
    return out


def _page(call: Call, items: list[dict[str, Any]]) -> dict[str, Any]:
    query = call.query
    order = query.get("order", "DESC")
    if order not in ("ASC", "DESC"):
        raise errors.bad_request("order", f"expected ASC or DESC, got {order!r}")
    raw = query.get("pageSize", str(DEFAULT_PAGE_SIZE))
    size = int(raw) if raw.isdigit() else 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise errors.bad_request("pageSize", f"expected an integer from 1 to {MAX_PAGE_SIZE}, got {raw!r}")
    cursor = query.get("pageCursor", "0")
    if not cursor.isdigit():
        raise errors.bad_request("pageCursor", f"expected the 'next' of an earlier page, got {cursor!r}")
    if order == "DESC":
        items = items[::-1]
    start = int(cursor)
    out: dict[str, Any] = {"data": items[start : start + size]}
    if start + size < len(items):
        out["next"] = str(start + size)
    return out


def _cosigner(call: Call) -> Cosigner:
    try:
        return call.api.saas.cosigner(call.params["cosignerId"])
    except SaasError:
        raise errors.not_found(f"no co-signer {call.params['cosignerId']!r}") from None


def _paired_user(call: Call, cosigner: Cosigner) -> ApiUser:
    user = call.api.find_api_user(call.params["apiKeyId"])
    if cosigner.pairing(call.api.workspace.id, user.name) is None:
        raise errors.not_found(
            f"API key {call.params['apiKeyId']!r} is not paired with co-signer {cosigner.id!r}"
        )
    return user


async def listing(call: Call) -> Response:
    return json_response(_page(call, [cosigner_view(c) for c in call.api.saas.ctx.registry.all()]))


async def get(call: Call) -> Response:
    return json_response(cosigner_view(_cosigner(call)))


async def rename(call: Call) -> Response:
    cosigner = _cosigner(call)
    name = call.json().get("name")
    if not isinstance(name, str) or not name.strip():
        raise errors.bad_request("name", f"expected a non-empty name, got {name!r}")
    call.api.saas.rename_cosigner(cosigner.id, name, requested_by=call.user.api_user)
    return json_response(cosigner_view(cosigner))


async def api_keys(call: Call) -> Response:
    api, cosigner = call.api, _cosigner(call)
    ws = api.workspace
    users = [ws.api_user(p.api_user) for p in cosigner.pairings if p.workspace_id == ws.id]
    return json_response(_page(call, [api_key_view(api, cosigner, u) for u in users]))


async def api_key(call: Call) -> Response:
    cosigner = _cosigner(call)
    return json_response(api_key_view(call.api, cosigner, _paired_user(call, cosigner)))


def _handler(call: Call, *, required: bool) -> dict[str, Any] | None:
    data = call.json() if call.body else {}
    handler = data.get("callbackHandler")
    if handler is None:
        if required:
            raise errors.bad_request("callbackHandler", "missing; expected {url, publicKey or cert}")
        return None
    if not isinstance(handler, dict):
        raise errors.bad_request("callbackHandler", f"expected an object, got {handler!r}")
    url = handler.get("url")
    if not isinstance(url, str) or not url:
        raise errors.bad_request("callbackHandler.url", f"expected the handler's URL, got {url!r}")
    out = {"url": url}
    for key in ("publicKey", "cert"):
        value = handler.get(key)
        if value is not None and not isinstance(value, str):
            raise errors.bad_request(f"callbackHandler.{key}", f"expected a PEM string, got {value!r}")
        if value:
            out[key] = value
    return out


def _accepted(call: Call, cosigner: Cosigner, req: ManagementRequest, body: dict[str, Any]) -> Response:
    location = f"/v1/cosigners/{cosigner.id}/api_keys/{call.params['apiKeyId']}/{req.id}"
    return json_response(body, status=202, headers={"Location": location})


async def pair(call: Call) -> Response:
    api, cosigner = call.api, _cosigner(call)
    user = api.find_api_user(call.params["apiKeyId"])
    handler = _handler(call, required=False)
    req = api.saas.pair_api_key(
        api.workspace_name, cosigner.id, user.name, callback=handler, requested_by=call.user.api_user
    )
    body: dict[str, Any] = {"id": api.user_id(user.name)}
    if handler is not None:
        body["callbackHandler"] = handler
    return _accepted(call, cosigner, req, body)


async def update_handler(call: Call) -> Response:
    api, cosigner = call.api, _cosigner(call)
    user = _paired_user(call, cosigner)
    handler = _handler(call, required=True)
    assert handler is not None
    req = api.saas.update_callback(api.workspace_name, user.name, handler, requested_by=call.user.api_user)
    return _accepted(call, cosigner, req, {"id": api.user_id(user.name), "callbackHandler": handler})


async def unpair(call: Call) -> Response:
    api, cosigner = call.api, _cosigner(call)
    user = _paired_user(call, cosigner)
    view = api_key_view(api, cosigner, user)
    req = api.saas.unpair(api.workspace_name, user.name, requested_by=call.user.api_user)
    return _accepted(call, cosigner, req, view)


async def request_status(call: Call) -> Response:
    api, cosigner = call.api, _cosigner(call)
    user = api.find_api_user(call.params["apiKeyId"])
    request_id = call.params["requestId"]
    try:
        req = api.saas.ctx.requests.get(request_id)
    except SaasError:
        req = None
    if (
        req is None
        or req.kind not in STATUS_TYPES
        or req.cosigner_id != cosigner.id
        or req.api_user != user.name
    ):
        raise errors.not_found(
            f"no pairing, callback or unpairing request {request_id!r} for API key "
            f"{call.params['apiKeyId']!r} on co-signer {cosigner.id!r}"
        )
    return json_response({"status": req.status.value, "type": req.kind.value})


async def api_users(call: Call) -> Response:
    api = call.api
    users = [
        {
            "id": api.user_id(u.name),
            "name": u.name,
            "role": u.role.value,
            "enabled": True,
            "status": u.status.value,
            "userType": "API",
        }
        for u in api.workspace.api_users.values()
    ]
    return json_response({"users": users})


K = "/cosigners/{cosignerId}/api_keys/{apiKeyId}"
ROUTES = [
    ("GET", "/cosigners", listing, None, ""),
    ("GET", "/cosigners/{cosignerId}", get, None, ""),
    ("PATCH", "/cosigners/{cosignerId}", rename, DELEGATE_ADMIN_ROLES, "renaming a co-signer"),
    ("GET", "/cosigners/{cosignerId}/api_keys", api_keys, None, ""),
    ("GET", K, api_key, None, ""),
    ("PUT", K, pair, DELEGATE_ADMIN_ROLES, "pairing an API key"),
    ("PATCH", K, update_handler, DELEGATE_ADMIN_ROLES, "updating a callback handler"),
    ("DELETE", K, unpair, DELEGATE_ADMIN_ROLES, "unpairing an API key"),
    ("GET", K + "/{requestId}", request_status, None, ""),
    ("GET", "/management/api_users", api_users, DELEGATE_ADMIN_ROLES, "listing API users"),
]
