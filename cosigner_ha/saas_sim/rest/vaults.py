"""`/v1/vault/...` and `/v1/external_wallets`: the workspace's vault accounts (ids are the scenario's
names), each with every asset the workspace prices, and its whitelisted external wallets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.responses import Response

from cosigner_ha.saas_sim.rest import errors
from cosigner_ha.saas_sim.rest.app import Call, RestApi, json_response

DEFAULT_PAGE = 200
MAX_PAGE = 500


def asset_view(api: RestApi, vault: str, asset: str) -> dict[str, Any]:
    """The SDK's `VaultAsset`; zero everywhere when the scenario gives no balances."""
    total = available = pending = Decimal(0)
    if api.balances is not None:
        total = api.balances.total(vault, asset)
        pending = api.balances.pending(vault, asset)
        available = total - pending
    return {
        "id": asset,
        "total": str(total),
        "balance": str(total),
        "available": str(available),
        "pending": str(pending),
        "frozen": "0",
        "lockedAmount": str(pending),
        "staked": "0",
    }


def account_view(api: RestApi, vault: str) -> dict[str, Any]:
    return {
        "id": vault,
        "name": vault,
        "hiddenOnUI": False,
        "autoFuel": False,
        "assets": [asset_view(api, vault, asset) for asset in api.workspace.prices_usd],
    }


def _vault(call: Call) -> str:
    vault = call.params["vaultAccountId"]
    if vault not in call.api.workspace.vaults:
        raise errors.not_found(f"Vault account {vault!r} was not found", errors.VAULT_NOT_FOUND)
    return vault


async def paged(call: Call) -> Response:
    api, query = call.api, call.query
    vaults = list(api.workspace.vaults)
    prefix, suffix = query.get("namePrefix"), query.get("nameSuffix")
    if prefix:
        vaults = [v for v in vaults if v.startswith(prefix)]
    if suffix:
        vaults = [v for v in vaults if v.endswith(suffix)]
    asset = query.get("assetId")
    if asset is not None and asset not in api.workspace.prices_usd:
        raise errors.not_found(f"Asset {asset!r} doesn't exist", errors.ASSET_NOT_FOUND)
    raw = query.get("limit", str(DEFAULT_PAGE))
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_PAGE:
        raise errors.bad_request("limit", f"expected an integer from 1 to {MAX_PAGE}, got {raw!r}")
    start = 0
    after, before = query.get("after"), query.get("before")
    for cursor, field in ((after, "after"), (before, "before")):
        if cursor is not None and not cursor.isdigit():
            raise errors.bad_request(field, f"expected a cursor from an earlier page, got {cursor!r}")
    if after is not None:
        start = int(after)
    elif before is not None:
        start = max(0, int(before) - limit)
    page = vaults[start : start + limit]
    paging: dict[str, str] = {}
    base = "/v1/vault/accounts_paged"
    out: dict[str, Any] = {"accounts": [account_view(api, v) for v in page], "paging": paging}
    if start + limit < len(vaults):
        paging["after"] = str(start + limit)
        out["nextUrl"] = f"{base}?limit={limit}&after={start + limit}"
    if start > 0:
        paging["before"] = str(start)
        out["previousUrl"] = f"{base}?limit={limit}&before={start}"
    return json_response(out)


async def account(call: Call) -> Response:
    return json_response(account_view(call.api, _vault(call)))


async def account_asset(call: Call) -> Response:
    vault = _vault(call)
    asset = call.params["assetId"]
    if asset not in call.api.workspace.prices_usd:
        raise errors.not_found(f"Asset {asset!r} doesn't exist", errors.ASSET_NOT_FOUND)
    return json_response(asset_view(call.api, vault, asset))


def wallet_view(api: RestApi, wallet: str) -> dict[str, Any]:
    """The SDK's `UnmanagedWallet`: a whitelisted wallet, with every asset the workspace prices."""
    return {
        "id": wallet,
        "name": wallet,
        "assets": [
            {"id": asset, "status": "APPROVED", "address": "", "tag": ""}
            for asset in api.workspace.prices_usd
        ],
    }


async def wallets(call: Call) -> Response:
    return json_response([wallet_view(call.api, w) for w in call.api.workspace.wallets])


async def wallet(call: Call) -> Response:
    name = call.params["walletId"]
    if name not in call.api.workspace.wallets:
        raise errors.not_found(f"no external wallet {name!r}")
    return json_response(wallet_view(call.api, name))


ROUTES = [
    ("GET", "/vault/accounts_paged", paged, None, ""),
    ("GET", "/vault/accounts/{vaultAccountId}", account, None, ""),
    ("GET", "/vault/accounts/{vaultAccountId}/{assetId}", account_asset, None, ""),
    ("GET", "/external_wallets", wallets, None, ""),
    ("GET", "/external_wallets/{walletId}", wallet, None, ""),
]
