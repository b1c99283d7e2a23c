"""The REST app in process, over a SaaS in simulation (virtual time, httpx's ASGI transport): it needs no
server and no real clock, and a bug in a handler reaches the client as a 500 body, never a traceback."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cosigner_ha.env import Environment, simulate
from cosigner_ha.saas_sim.rest import ApiCredential, RestApi
from cosigner_ha.saas_sim.rest import transactions as rest_transactions
from cosigner_ha.saas_sim.rest.server import build_app
from tests.saas_sim.harness import ready, running_world

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def headers(env: Environment, uri: str, body: bytes = b"") -> dict[str, str]:
    now = int(env.clock.wall())  # the SaaS's clock: simulated time
    claims = {
        "uri": uri,
        "nonce": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 55,
        "sub": "key-ops",
        "bodyHash": hashlib.sha256(body).hexdigest(),
    }
    return {"X-API-Key": "key-ops", "Authorization": f"Bearer {jwt.encode(claims, KEY, algorithm='RS256')}"}


def test_a_transaction_through_the_app_in_virtual_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    async def main(env: Environment) -> None:
        async with running_world(env) as w:
            await ready(w)
            api = RestApi(w.saas, "acme", [ApiCredential("key-ops", "ops", KEY.public_key())])
            transport = httpx.ASGITransport(app=build_app(api))
            async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
                body = json.dumps(
                    {
                        "assetId": "ETH",
                        "amount": "2",
                        "source": {"type": "VAULT_ACCOUNT", "id": "hot"},
                        "destination": {"type": "EXTERNAL_WALLET", "id": "partner-a"},
                    }
                ).encode()
                created = await client.post(
                    "/v1/transactions", content=body, headers=headers(env, "/v1/transactions", body)
                )
                assert created.status_code == 200, created.text
                tx = await w.settle(w.saas.transaction(created.json()["id"]))
                uri = f"/v1/transactions/{tx.id}"
                answer = await client.get(uri, headers=headers(env, uri))
                seen["tx"] = answer.json()
                listed = await client.get(
                    "/v1/transactions?limit=1", headers=headers(env, "/v1/transactions?limit=1")
                )
                seen["listed"] = listed.json()

                def broken(api: RestApi, tx: Any) -> dict[str, Any]:
                    raise KeyError("a bug")

                monkeypatch.setattr(rest_transactions, "view", broken)
                failed = await client.get(uri, headers=headers(env, uri))
                seen["bug"] = (failed.status_code, failed.json())
                seen["events"] = w.events("internal_error")

    simulate(main, seed=5)
    assert seen["tx"]["status"] == "COMPLETED" and seen["tx"]["createdBy"] == "key-ops"
    assert [t["id"] for t in seen["listed"]] == [seen["tx"]["id"]]
    status, body = seen["bug"]
    assert status == 500 and body == {"message": "internal error: KeyError", "code": 1500}
    assert [e.get("where") for e in seen["events"]] == [f"rest GET /v1/transactions/{seen['tx']['id']}"]
