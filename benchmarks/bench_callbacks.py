"""Callback round trips per wall second: a user's asyncio FastAPI handler in process vs a trio Starlette one.

One simulation (trio, virtual time) asks two handlers the same `tx_sign_request` `--n` times each through
the node's own callback client, in public-key mode (the node signs the request JWT, the handler verifies it
and answers a JWT the node verifies):

- **asyncio FastAPI**: a FastAPI app served on its own asyncio event loop in a thread (`AsyncioAsgiHost`,
  `asgi = ...` with `loop = "asyncio"`, the default); every request crosses threads through anyio's
  blocking portal while the simulation's loop waits;
- **trio Starlette**: the reference handler (Starlette) served on the simulation's own trio loop
  (`loop = "trio"`), through httpx's in-process ASGI transport.

The reference, measured in the same run: the four RS256 operations one round trip does (node signs,
handler verifies, handler signs, node verifies), straight-line. Each handler's figure is also given as a
ratio to it, so a slower machine moves all three together.

    .venv/bin/python benchmarks/bench_callbacks.py          # 2,000 round trips per handler
    .venv/bin/python benchmarks/bench_callbacks.py --n 300  # quicker

Figures: docs/performance.md, section "Callback handlers".
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from cosigner_ha.env import Environment, simulate
from cosigner_ha.handler.reference import ReferenceHandler
from cosigner_ha.node.asgi_host import AsyncioAsgiHost
from cosigner_ha.node.callback import CallbackClient, HandlerDirectory, InProcessHandler
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import public_key_pem

BODY: dict[str, Any] = {
    "txId": "tx-1",
    "requestId": "5e0c9d2a-3f4b-4a51-9d0e-2b7f3c1a8e64",
    "operation": "TRANSFER",
    "asset": "ETH",
    "amountStr": "0.5",
    "signerId": "signer-a",
    "destinations": [{"amountUSD": 1500.0}],
}


def fastapi_app(node_public: str, key: rsa.RSAPrivateKey) -> FastAPI:
    app = FastAPI()

    @app.post("/v2/tx_sign_request")
    async def tx_sign_request(request: Request) -> PlainTextResponse:
        body = jwt.decode((await request.body()).decode(), node_public, algorithms=["RS256"])
        answer = {"action": "APPROVE", "requestId": body["requestId"]}
        return PlainTextResponse(jwt.encode(answer, key, algorithm="RS256"))

    return app


def crypto_only(node: rsa.RSAPrivateKey, handler: rsa.RSAPrivateKey, n: int) -> float:
    node_public, handler_public = node.public_key(), handler.public_key()
    started = time.perf_counter()
    for _ in range(n):
        token = jwt.encode(BODY, node, algorithm="RS256")
        body = jwt.decode(token, node_public, algorithms=["RS256"])
        answer = jwt.encode({"action": "APPROVE", "requestId": body["requestId"]}, handler, algorithm="RS256")
        jwt.decode(answer, handler_public, algorithms=["RS256"])
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="round trips per handler")
    n = parser.parse_args().n
    node_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    handler_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    node_public = public_key_pem(node_key)
    handler_public = public_key_pem(handler_key)
    host = AsyncioAsgiHost(fastapi_app(node_public, handler_key), base_url="https://fastapi.sim")
    host.start()
    reference = ReferenceHandler(key=handler_key, cosigner_keys=[node_public])
    rates: dict[str, float] = {}

    async def run(env: Environment) -> None:
        directory = HandlerDirectory()
        directory.register("https://fastapi.sim", InProcessHandler(host=host))
        directory.register("https://starlette.sim", InProcessHandler(app=reference.app))
        client = CallbackClient(env, node="bench", signing_key=lambda: node_key, directory=directory)
        try:
            for name, url in (
                ("asyncio FastAPI", "https://fastapi.sim"),
                ("trio Starlette", "https://starlette.sim"),
            ):
                settings = CallbackSettings(url=url, public_key=handler_public)
                await client.attempt_once("tx", settings, BODY)  # warm up: clients, routes, key caches
                started = time.perf_counter()
                for _ in range(n):
                    action, _ = await client.attempt_once("tx", settings, BODY)
                    assert action == "APPROVE"
                rates[name] = n / (time.perf_counter() - started)
        finally:
            await client.aclose()

    try:
        simulate(run, seed=1)
    finally:
        problem = host.close()
        assert problem is None, problem
    crypto = crypto_only(node_key, handler_key, n)
    print(f"round trips per handler: {n}")
    print(f"reference (the 4 RS256 operations of one round trip, straight-line): {crypto:,.0f} /s")
    for name, rate in rates.items():
        print(f"{name:>16}: {rate:,.0f} round trips/s  ({rate / crypto:.2f} of the reference)")
    ratio = rates["asyncio FastAPI"] / rates["trio Starlette"]
    print(f"asyncio FastAPI / trio Starlette: {ratio:.2f}")


if __name__ == "__main__":
    main()
