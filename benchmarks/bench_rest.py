"""The local Fireblocks API's speed: authenticated GET round trips per second, and transactions per second
from create to COMPLETED, on the 2-node cluster of tests/saas_sim/rest/local.toml at time scale 1 (the real
clock), served by hypercorn on 127.0.0.1.

    .venv/bin/python benchmarks/bench_rest.py [--gets N] [--transactions N] [--json]

The SDK's own figures are printed too: they are bound by the client, which parses its PEM secret key for
every request (about 35 ms of CPU, in the same process and so under the same GIL as the server here). References, measured in the same run: an unauthenticated request the API answers with its 404 body (the
HTTP server and client alone, no JWT signed or checked), for the GET ratio; the same number of transactions
submitted to the SaaS directly in its event loop (no HTTP, no JWT, no JSON), for the transaction ratio.
Everything talks to loopback only; the counts bound the run (about half a minute with the defaults).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from fireblocks.client import Fireblocks
from fireblocks.client_configuration import ClientConfiguration
from fireblocks.models import (
    DestinationTransferPeerPath,
    SourceTransferPeerPath,
    TransactionRequest,
    TransactionRequestAmount,
)

from cosigner_ha.testing.local_api import LocalApi, local_fireblocks
from cosigner_ha.testing.up_process import UpProcess, fireblocks_up

SCENARIO = Path(__file__).resolve().parents[1] / "tests" / "saas_sim" / "rest" / "local.toml"
URI = "/v1/vault/accounts/hot"


_KEYS: dict[str, Any] = {}


def signed(local: LocalApi | UpProcess, user: str, uri: str, body: bytes = b"") -> dict[str, str]:
    """The SDK's headers (bearer_token_provider.py), signed with a key parsed once: the SDK hands PyJWT the
    PEM text, which parses and validates the RSA key on every request (tens of milliseconds), a client
    cost that would hide the server's."""
    keys = local.users[user]
    if keys.api_key not in _KEYS:  # by API key: `up` on processes generates keys of its own
        assert keys.secret_key is not None
        _KEYS[keys.api_key] = serialization.load_pem_private_key(keys.secret_key.encode(), None)
    now = int(time.time())
    claims = {
        "uri": uri,
        "nonce": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 55,
        "sub": keys.api_key,
        "bodyHash": hashlib.sha256(body).hexdigest(),
    }
    return {
        "X-API-Key": keys.api_key,
        "Authorization": f"Bearer {jwt.encode(claims, _KEYS[keys.api_key], algorithm='RS256')}",
    }


def gets_per_second(local: LocalApi | UpProcess, count: int) -> tuple[float, float, float]:
    """(authenticated GETs/s with httpx, the same through the official SDK, unauthenticated 404s/s)."""
    root = local.base_url.removesuffix("/v1")
    with httpx.Client() as client:
        client.get(root + URI, headers=signed(local, "auditor", URI)).raise_for_status()
        started = time.perf_counter()
        for _ in range(count):
            client.get(root + URI, headers=signed(local, "auditor", URI)).raise_for_status()
        authenticated = count / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(count):
            assert client.get(root + "/v1/no-such-endpoint").status_code == 404
        bare = count / (time.perf_counter() - started)
    with Fireblocks(ClientConfiguration(**local.sdk_config("auditor"))) as sdk:
        sdk.vaults.get_vault_account("hot").result()
        started = time.perf_counter()
        for _ in range(count):
            sdk.vaults.get_vault_account("hot").result()
        through_sdk = count / (time.perf_counter() - started)
    return authenticated, through_sdk, bare


def _request() -> TransactionRequest:
    return TransactionRequest(
        asset_id="ETH",
        amount=TransactionRequestAmount("0.01"),
        source=SourceTransferPeerPath(type="VAULT_ACCOUNT", id="hot"),
        destination=DestinationTransferPeerPath(type="EXTERNAL_WALLET", id="partner-a"),
    )


#: The transfer every transaction of the benchmark makes, as the REST API takes it.
BODY = json.dumps(
    {
        "assetId": "ETH",
        "amount": "0.01",
        "source": {"type": "VAULT_ACCOUNT", "id": "hot"},
        "destination": {"type": "EXTERNAL_WALLET", "id": "partner-a"},
    }
).encode()


def _create(client: httpx.Client, target: LocalApi | UpProcess, count: int) -> list[str]:
    """`count` transactions created one after another through REST with a parsed key; their ids."""
    root = target.base_url.removesuffix("/v1")
    ids = []
    for _ in range(count):
        headers = signed(target, "ops", "/v1/transactions", BODY) | {"Content-Type": "application/json"}
        response = client.post(root + "/v1/transactions", content=BODY, headers=headers)
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


def transactions_per_second(local: LocalApi, count: int) -> tuple[float, float, float]:
    """(created with httpx and a parsed key, created through the SDK, submitted to the SaaS directly):
    `count` at once each, clocked from the first create to the last COMPLETED (the SaaS's own record)."""
    with httpx.Client() as client:
        started_wall = time.time()
        ids = _create(client, local, count)
    rest = count / _until_completed(local, ids, started_wall)

    with Fireblocks(ClientConfiguration(**local.sdk_config("ops"))) as sdk:
        started_wall = time.time()
        futures = [sdk.transactions.create_transaction(transaction_request=_request()) for _ in range(count)]
        ids = [f.result().data.id for f in futures]
    through_sdk = count / _until_completed(local, ids, started_wall)

    saas = local.ready.world.saas

    def submit_all() -> list[str]:
        return [
            saas.submit(
                "acme",
                initiator="ops",
                asset="ETH",
                amount="0.01",
                source="vault:hot",
                destination="wallet:partner-a",
            ).id
            for _ in range(count)
        ]

    started_wall = time.time()
    direct_ids = local.call(submit_all)
    direct = count / _until_completed(local, direct_ids, started_wall)
    return rest, through_sdk, direct


def runtime_transactions_per_second(up: UpProcess, count: int) -> float:
    """`count` created at once through REST against `up` on processes, clocked from the first create to the
    last COMPLETED as the SaaS process stamped it (`lastUpdated`, read back through the API)."""
    root = up.base_url.removesuffix("/v1")
    with httpx.Client(timeout=60) as client:
        started_wall = time.time()
        ids = _create(client, up, count)
        deadline = time.monotonic() + 300
        pending, last = set(ids), 0.0
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} of {count} transactions unfinished after 300 s")
            for tx_id in sorted(pending):
                uri = f"/v1/transactions/{tx_id}"
                tx = client.get(root + uri, headers=signed(up, "ops", uri)).json()
                if tx["status"] in ("COMPLETED", "FAILED", "BLOCKED", "REJECTED", "CANCELLED"):
                    if tx["status"] != "COMPLETED":
                        raise RuntimeError(f"expected COMPLETED, got {tx['status']} for {tx_id}")
                    pending.discard(tx_id)
                    last = max(last, tx["lastUpdated"] / 1000)
            time.sleep(0.05)
    return count / (last - started_wall)


def _until_completed(local: LocalApi, ids: list[str], started_wall: float) -> float:
    saas = local.ready.world.saas
    deadline = time.monotonic() + 300
    while True:
        done = local.call(lambda: [saas.transaction(i) for i in ids if saas.transaction(i).terminal])
        if len(done) == len(ids):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(done)} of {len(ids)} transactions finished within 300 s")
        time.sleep(0.05)
    statuses = {tx.status.value for tx in done}
    if statuses != {"COMPLETED"}:
        raise RuntimeError(f"expected every transaction COMPLETED, got {statuses}")
    last = max(local.call(lambda: [local.ready.api.wall(tx.history[-1].at) for tx in done]))
    return last - started_wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gets", type=int, default=500)
    parser.add_argument("--transactions", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--runtime",
        action="store_true",
        help="also measure `cosigner-ha up` on processes (SaaS, owner, proxies, nodes) in the same run",
    )
    args = parser.parse_args()
    with local_fireblocks(SCENARIO) as local:
        authenticated, through_sdk, bare = gets_per_second(local, args.gets)
        rest_tps, sdk_tps, direct_tps = transactions_per_second(local, args.transactions)
    runtime: dict[str, Any] = {}
    if args.runtime:
        with fireblocks_up(SCENARIO) as up:
            up_get, _, up_bare = gets_per_second(up, args.gets)
            up_tps = runtime_transactions_per_second(up, args.transactions)
        runtime = {
            "runtime_authenticated_get_per_s": round(up_get, 1),
            "runtime_unauthenticated_404_per_s": round(up_bare, 1),
            "runtime_rest_tx_per_s": round(up_tps, 2),
            "runtime_tx_ratio_to_in_process": round(up_tps / rest_tps, 3),
        }
    figures: dict[str, Any] = {
        "authenticated_get_per_s": round(authenticated, 1),
        "sdk_get_per_s": round(through_sdk, 1),
        "unauthenticated_404_per_s": round(bare, 1),
        "get_ratio_to_unauthenticated": round(authenticated / bare, 3),
        "rest_tx_per_s": round(rest_tps, 2),
        "sdk_tx_per_s": round(sdk_tps, 2),
        "direct_tx_per_s": round(direct_tps, 2),
        "tx_ratio_to_direct": round(rest_tps / direct_tps, 3),
        "gets": args.gets,
        "transactions": args.transactions,
        **runtime,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"authenticated GET {URI} (httpx + PyJWT): {authenticated:8.1f} round trips/s")
    print(f"the same through the official SDK:          {through_sdk:8.1f} round trips/s (client-bound)")
    print(f"reference, unauthenticated 404:             {bare:8.1f} round trips/s")
    print(f"ratio authenticated / reference:            {authenticated / bare:8.3f}")
    print(f"transactions create -> COMPLETED via REST:  {rest_tps:8.2f} tx/s ({args.transactions} at once)")
    print(f"the same created through the official SDK:  {sdk_tps:8.2f} tx/s (client-bound)")
    print(f"reference, submitted to the SaaS directly:  {direct_tps:8.2f} tx/s")
    print(f"ratio REST / direct:                        {rest_tps / direct_tps:8.3f}")
    if runtime:
        print("up on processes (SaaS, owner, proxies and nodes as processes, time scale 1):")
        print(
            f"authenticated GET {URI}:              {runtime['runtime_authenticated_get_per_s']:8.1f} round trips/s"
        )
        print(
            f"reference, unauthenticated 404:             {runtime['runtime_unauthenticated_404_per_s']:8.1f} round trips/s"
        )
        print(f"transactions create -> COMPLETED via REST:  {runtime['runtime_rest_tx_per_s']:8.2f} tx/s")
        print(f"ratio processes / in process:               {runtime['runtime_tx_ratio_to_in_process']:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
